# cmake -DLANG_DIR=tests/lang -DOUT_DIR=DIR -P seeds.cmake: copies every LANG_DIR/**/*.msl
# to DIR as one flat folder (a/b/c.msl becomes a_b_c.msl), the fuzzer's seed corpus.
file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})
file(GLOB_RECURSE files RELATIVE ${LANG_DIR} ${LANG_DIR}/*.msl)
foreach(rel ${files})
  string(REPLACE "/" "_" flat ${rel})
  configure_file(${LANG_DIR}/${rel} ${OUT_DIR}/${flat} COPYONLY)
endforeach()
list(LENGTH files n)
message(STATUS "fuzz seeds: ${n} files in ${OUT_DIR}")
