# lit configuration for msl's golden tests (see CMakeLists.txt next to this file).
#
# Parameters (lit --param NAME=VALUE), given by the ctest test `lit`:
#   msl        path of the msl binary, substituted for %msl in RUN lines (and its build
#              tree's codegen/msl_fused_bench for %fusedbench)
#   filecheck  path of FileCheck; its directory (LLVM's bin) also provides `not`
#   exec_root  where lit may write its scratch files (the build tree)
import os

import lit.formats

config.name = "msl"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".msl"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = lit_config.params.get("exec_root", config.test_source_root)

msl = lit_config.params.get("msl")
if not msl:
    lit_config.fatal("give the msl binary: lit --param msl=PATH/TO/msl")
filecheck = lit_config.params.get("filecheck", "FileCheck")

config.substitutions.append(("%msl", msl))
# The fused-kernel bench binary (codegen/CMakeLists.txt) of the same build tree.
config.substitutions.append(("%fusedbench", os.path.join(os.path.dirname(os.path.dirname(msl)),
                                                         "codegen", "msl_fused_bench")))
config.substitutions.append((r"\bFileCheck\b", filecheck))

tools = os.path.dirname(filecheck)
path = config.environment.get("PATH", os.environ.get("PATH", ""))
config.environment["PATH"] = os.pathsep.join([tools, path]) if tools else path

# Inputs/ folders hold files that tests read; they are not tests themselves.
config.excludes = ["Inputs"]
