#!/usr/bin/env bash
# Benchmarks (see ../shared/BENCHMARKING.md): msl and a peer alternate in the same run,
# pinned to one core, one thread; median and min-max of the repetitions, and the ratio.
#   bench/run.sh dispatch      eager per-primitive overhead vs PyTorch eager
#   bench/run.sh bandwidth     GB/s of eager kernels over 64 MiB f32 tensors vs NumPy and
#                              PyTorch, and vs the machine's STREAM bandwidth, on 1 and 2
#                              threads (MSL_NUM_THREADS, torch.set_num_threads)
#   bench/run.sh autodiff      time of loss and of value_and_grad(loss) and their ratio
#                              (MLP, conv net, data-dependent while loop) vs PyTorch
#                              autograd, one thread each
#   bench/run.sh autodiff-cpu  the same as CPU time per call (robust to a loaded machine)
#   bench/run.sh train         training throughput (images/s) of the Fashion-MNIST MLP
#                              (batch 128) and LeNet-5 (batch 64), Adam, msl eager and graph
#                              mode vs PyTorch, one thread each, and jax.jit of the whole step
#                              where JAX is installed, torch.compile where $PYC is a Python
#                              with PyTorch 2 (e.g. a venv: pip install torch numpy)
#   bench/run.sh tta           time to accuracy of examples/fashion_mnist_mlp.msl (88%) and
#                              examples/lenet.msl (90%) vs PyTorch (bench/tta_torch.py)
#   bench/run.sh rss           peak resident memory of an MLP training run vs PyTorch's
#   bench/run.sh gemm          fp32 GEMM GFLOP/s, square 256-1024, vs NumPy and PyTorch (their
#                              BLAS), one thread; ratio to the best peer (issue 6's figure)
#   bench/run.sh fused         gelu_tanh(x * w + b) * sigmoid(g) + x over 16M f32: the fused
#                              kernel (codegen/Fusion, bench/fused_bench.cpp) vs eager msl and
#                              PyTorch eager, against STREAM triad bandwidth, one thread
#   bench/run.sh fused_reduce  reductions of chains over 16M f32 (bench/fused_reduce.msl:
#                              mean((a - b)^2) as d * d and as ** 2, sum(x * x, axis=-1)):
#                              the fused kernel with its reduction epilogue, the chain fused
#                              but the reduction eager, eager msl and PyTorch eager, GB/s
#                              and % of STREAM triad, one thread
#   bench/run.sh aot           msl build of an MLP inference program (bench/aot_infer.msl): the
#                              executable's size and its cold start to the first prediction,
#                              msl's own start-up apart from library start-up (docs/aot.md)
#   bench/run.sh graph         the MLP 784-256-128-10 training step (value_and_grad + Adam,
#                              bench/graph_step.msl) at batch 32 and 512: eager vs graph mode
#                              (speedup), PyTorch eager, graph mode's compile latency
#                              (first step with an empty compile cache and from the cache), and
#                              the step's kernel floor (bench/graph_floor.msl)
# Needs the release build (cmake --preset release && cmake --build --preset release) and,
# for the peer, Debian's python3-torch with an optimised BLAS (apt-get install python3-torch
# libopenblas0-pthread): Debian's torch calls the system BLAS for matrix products, and with
# only the reference BLAS installed its GEMM is several times slower than PyTorch's wheels,
# which would flatter every ratio. The peers run with one OpenBLAS thread.
set -euo pipefail
cd "$(dirname "$0")"
MSL=${MSL:-../build/release/tools/msl}
PY=${PY:-/usr/bin/python3}
REPS=${REPS:-5}
export OPENBLAS_NUM_THREADS=1
if ! "$PY" - <<'PYEOF' 2>/dev/null; then echo "warning: the peers' BLAS is the reference BLAS (install libopenblas0-pthread)" >&2; fi
import ctypes.util, os, sys
sys.exit(0 if 'openblas' in os.path.realpath('/usr/lib/x86_64-linux-gnu/libblas.so.3') else 1)
PYEOF
figure=${1:-dispatch}

# The fused-kernel figures' common setup: msl_fused_bench, STREAM built for this CPU, the
# element count N and a results file `out`.
fused_setup() {
  BENCH=${FUSED_BENCH:-../build/release/codegen/msl_fused_bench}
  CXX=${CXX:-g++}
  STREAM=${STREAM:-/tmp/msl_bench_stream_$(id -u)}
  "$CXX" -O3 -march=native -pthread -o "$STREAM" stream.cpp
  N=${N:-16777216}
  out=$(mktemp)
}

stats() {  # values on stdin -> "median min max"
  sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.1f %.1f %.1f", m, v[1], v[NR]}'
}

case "$figure" in
  dispatch)
    a=0.5 b=0.25 n=1000000
    calls=$(taskset -c 0 "$MSL" run --stats dispatch.msl $a $b $n 2>&1 >/dev/null | awk '/kernel calls/ {print $2}')
    echo "kernel calls made by msl: $calls (expected about $((2 * n)))"
    m=() t=()
    taskset -c 0 "$MSL" run dispatch.msl $a $b 10000 >/dev/null   # warm-up
    for i in $(seq "$REPS"); do
      m+=("$(MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run dispatch.msl $a $b $n | awk '/ns_per_primitive/ {print $2}')")
      t+=("$(taskset -c 0 "$PY" dispatch_torch.py $a $b $n | awk '/ns_per_primitive/ {print $2}')")
    done
    read -r mm mlo mhi <<<"$(printf '%s\n' "${m[@]}" | stats)"
    read -r tm tlo thi <<<"$(printf '%s\n' "${t[@]}" | stats)"
    printf '%-34s %18s %18s %8s\n' figure "msl (median, range)" "torch (median, range)" "torch/msl"
    printf '%-34s %6s [%s-%s] %6s [%s-%s] %8.2f\n' "ns per primitive, 1-element f32" "$mm" "$mlo" "$mhi" "$tm" "$tlo" "$thi" \
      "$(awk -v a="$tm" -v b="$mm" 'BEGIN {print a / b}')"
    ;;
  bandwidth)
    # The machine's bandwidth: bench/stream.cpp, built here (-O3 -march=native).
    CXX=${CXX:-g++}
    STREAM=${STREAM:-/tmp/msl_bench_stream_$(id -u)}
    "$CXX" -O3 -march=native -pthread -o "$STREAM" stream.cpp
    N=${N:-16777216}
    INNER=${INNER:-7}   # repetitions inside each process (median reported)
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    for threads in 1 2; do
      cpus=0; [ "$threads" = 2 ] && cpus=0,1
      MSL_NUM_THREADS=1 taskset -c "$cpus" "$MSL" run bandwidth.msl "$N" 2 >/dev/null  # warm-up
      for i in $(seq "$REPS"); do
        # Alternate: STREAM, msl, NumPy, PyTorch.
        taskset -c "$cpus" "$STREAM" "$threads" 5 | awk -v t="$threads" '/copy_GBps/ {c=$2} /triad_GBps/ {print "STREAM", t, c, $2}' >>"$out"
        MSL_NUM_THREADS=$threads taskset -c "$cpus" "$MSL" run bandwidth.msl "$N" "$INNER" |
          awk -v t="$threads" 'NF == 3 {print "RESULT", t, "msl", $1, $2, $3}' >>"$out"
        for lib in numpy torch; do
          OMP_NUM_THREADS=$threads taskset -c "$cpus" "$PY" bandwidth_peers.py "$lib" "$threads" "$N" "$INNER" |
            awk -v t="$threads" -v l="$lib" 'NF == 3 {print "RESULT", t, l, $1, $2, $3}' >>"$out"
        done
      done
    done
    echo "bandwidth over $N-element f32 tensors; GB/s = least bytes moved / median time;"
    echo "[min-max] over $REPS alternating runs of $INNER repetitions each"
    "$PY" bandwidth_peers.py --report "$out"
    ;;
  fused)
    # One core, one thread. The fused kernel and eager msl run in one process
    # (msl_fused_bench, built with the project: codegen/CMakeLists.txt); STREAM and PyTorch
    # alternate with it. GB/s count 4 inputs read and 1 output written (STREAM's convention:
    # no write-allocate traffic), so % of STREAM triad compares like with like. Compile
    # times are CPU times of a cold compile (the bench turns the compile cache off).
    fused_setup
    trap 'rm -f "$out"' EXIT
    for i in $(seq "$REPS"); do
      taskset -c 0 "$STREAM" 1 5 | awk '/triad_GBps/ {print "stream", $2}' >>"$out"
      MSL_NUM_THREADS=1 taskset -c 0 "$BENCH" fused.msl "$N" 5 |
        awk '/^fused_ms/ {print "fused", $2, $5} /^eager_ms/ {print "eager", $2, $5} /^compile_ms|^kernels/ {print "compile", $6}
             /^recompile_ms/ {print "recompile", $2} /^compile_parts/ {print "parts", $5, $7} /^max_rel/ {print "ulp", $2}' >>"$out"
      taskset -c 0 "$PY" fused_torch.py "$N" 5 | awk '/^torch_ms/ {print "torch", $2, $5}' >>"$out"
    done
    awk -v n="$N" '
      function median(s,   a, k, i, j, t) { k = split(s, a, " ");
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
      $1 == "stream" { st = st " " $2 } $1 == "ulp" { ulp = $2 } $1 == "compile" { comp = comp " " $2 }
      $1 == "recompile" { rec = rec " " $2 } $1 == "parts" { opt = opt " " $2; cg = cg " " $3 }
      $1 == "fused" || $1 == "eager" || $1 == "torch" { w[$1] = w[$1] " " $2; c[$1] = c[$1] " " $3 }
      END {
        bw = median(st); bytes = 20.0 * n
        printf "gelu_tanh(x * w + b) * sigmoid(g) + x, %d f32 elements, 1 thread; medians of the runs\n", n
        printf "STREAM triad: %.2f GB/s\n", bw
        printf "%-12s %10s %10s %8s %9s %12s\n", "", "wall ms", "cpu ms", "GB/s", "% STREAM", "torch/this"
        split("fused eager torch", names, " ")
        for (i = 1; i <= 3; i++) { k = names[i]; wm = median(w[k]); cm = median(c[k]); tm = median(w["torch"])
          printf "%-12s %10.2f %10.2f %8.2f %8.1f%% %12.2f\n", k, wm, cm, bytes / wm / 1e6, 100 * bytes / wm / 1e6 / bw, tm / wm }
        printf "fused kernel: compile %.1f ms CPU (specialise + fuse + LLVM, cold; LLVM IR passes %.1f, instruction selection to object code %.1f), %.1f ms for the LLVM part again (median)\n", median(comp), median(opt), median(cg), median(rec)
        printf "max relative difference from eager %s\n", ulp
      }' "$out"
    ;;
  fused_reduce)
    # As `fused`: one core, one thread; msl_fused_bench runs eager and fused in one
    # process (FUSED_BENCH_NO_REDUCE=1: the chain fused, the reduction an eager kernel).
    # GB/s count the inputs read and the result written (STREAM's convention).
    fused_setup
    trap 'rm -f "$out"' EXIT
    for i in $(seq "$REPS"); do
      taskset -c 0 "$STREAM" 1 5 | awk '/triad_GBps/ {print "stream", $2}' >>"$out"
      for fn in mse mse_pow rowsum; do
        FUSED_BENCH_FN=$fn MSL_NUM_THREADS=1 taskset -c 0 "$BENCH" fused_reduce.msl "$N" 5 |
          awk -v fn="$fn" '/^fused_ms/ {print fn, "fused", $2, $5} /^eager_ms/ {print fn, "eager", $2, $5}
                           /^bits_equal_eager/ {print fn, "bits", $2}' >>"$out"
        FUSED_BENCH_NO_REDUCE=1 FUSED_BENCH_FN=$fn MSL_NUM_THREADS=1 taskset -c 0 "$BENCH" fused_reduce.msl "$N" 5 --fused-only |
          awk -v fn="$fn" '/^fused_ms/ {print fn, "chain", $2, $5}' >>"$out"
        taskset -c 0 "$PY" fused_reduce_torch.py "$fn" "$N" 5 | awk -v fn="$fn" '/^torch_ms/ {print fn, "torch", $2, $5}' >>"$out"
      done
    done
    awk -v n="$N" '
      function median(s,   a, k, i, j, t) { k = split(s, a, " ");
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
      $1 == "stream" { st = st " " $2; next }
      $2 == "bits" { bits[$1] = bits[$1] " " $3; next }
      { w[$1, $2] = w[$1, $2] " " $3; c[$1, $2] = c[$1, $2] " " $4 }
      END {
        bw = median(st)
        printf "%d f32 elements, 1 thread; medians of the runs; STREAM triad: %.2f GB/s\n", n, bw
        split("mse mse_pow rowsum", fns, " "); split("fused chain eager torch", names, " ")
        label["fused"] = "fused+reduce"; label["chain"] = "chain fused"; label["eager"] = "eager msl"; label["torch"] = "torch eager"
        for (f = 1; f <= 3; f++) { fn = fns[f]; bytes = (fn == "rowsum" ? 4.0 : 8.0) * n
          printf "%s (fused result bit-equal to eager in each run:%s)\n", fn, bits[fn]
          printf "  %-14s %10s %10s %8s %9s %12s\n", "", "wall ms", "cpu ms", "GB/s", "% STREAM", "torch/this"
          for (i = 1; i <= 4; i++) { k = names[i]; wm = median(w[fn, k]); cm = median(c[fn, k]); tm = median(w[fn, "torch"])
            printf "  %-14s %10.2f %10.2f %8.2f %8.1f%% %12.2f\n", label[k], wm, cm, bytes / wm / 1e6, 100 * bytes / wm / 1e6 / bw, tm / wm } }
      }' "$out"
    ;;
  autodiff)
    INNER=${INNER:-20}
    for i in $(seq "$REPS"); do
      MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run autodiff.msl "$INNER" | sed 's/^/msl /'
      taskset -c 0 "$PY" autodiff_torch.py "$INNER" | sed 's/^/torch /'
    done | awk '
      { key = $2; loss[$1 " " key] = loss[$1 " " key] " " $4; vg[$1 " " key] = vg[$1 " " key] " " $6; names[key] = 1 }
      function median(s,   a, n, i, j, t) { n = split(s, a, " ");
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
      END {
        printf "%-12s %10s %10s %7s %10s %10s %7s %12s\n", "program", "msl loss", "msl v&g", "ratio", "torch loss", "torch v&g", "ratio", "v&g torch/msl"
        for (k in names) {
          ml = median(loss["msl " k]); mv = median(vg["msl " k]); tl = median(loss["torch " k]); tv = median(vg["torch " k])
          printf "%-12s %9.3fms %9.3fms %7.2f %9.3fms %9.3fms %7.2f %12.2f\n", k, ml, mv, mv / ml, tl, tv, tv / tl, tv / mv
        }
      }'
    ;;
  autodiff-cpu)
    # The same figures as CPU time per call, which a loaded machine does not inflate: msl's
    # by perf stat (task-clock of REPS calls minus that of none), PyTorch's by
    # time.process_time in the process. Median of REPS_OUTER runs, alternating.
    N=${N:-200}
    cpu_msl() {  # program mode reps -> task-clock ms
      MSL_NUM_THREADS=1 taskset -c 0 perf stat -x, -e task-clock "$MSL" run autodiff.msl "$3" "$1" "$2" 2>&1 >/dev/null |
        awk -F, '/task-clock/ {print $1}'
    }
    printf '%-12s %10s %10s %7s %10s %10s %7s %12s\n' program "msl loss" "msl v&g" ratio "torch loss" "torch v&g" ratio "v&g torch/msl"
    for prog in mlp convnet while_loop; do
      n=$N; [ "$prog" = while_loop ] && n=$((N * 5))
      declare -A v=()
      for mode in loss vg; do
        ms=() ts=()
        for i in $(seq "${REPS_OUTER:-3}"); do
          a=$(cpu_msl "$prog" "$mode" "$n"); b=$(cpu_msl "$prog" "$mode" 0)
          ms+=("$(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN {printf "%.4f", (a - b) / n}')")
          ts+=("$(taskset -c 0 "$PY" autodiff_torch.py "$n" "$prog" "$mode" | awk '/cpu_ms/ {print $2}')")
        done
        v[msl_$mode]=$(printf '%s\n' "${ms[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        v[torch_$mode]=$(printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      done
      awk -v p="$prog" -v ml="${v[msl_loss]}" -v mv="${v[msl_vg]}" -v tl="${v[torch_loss]}" -v tv="${v[torch_vg]}" \
        'BEGIN {printf "%-12s %8.3fms %8.3fms %7.2f %8.3fms %8.3fms %7.2f %12.2f\n", p, ml, mv, mv / ml, tl, tv, tv / tl, tv / mv}'
      unset v
    done
    ;;
  gemm)
    SIZES=${SIZES:-256 512 768 1024}
    INNER=${INNER:-9}
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    for i in $(seq "$REPS"); do  # alternating: msl, NumPy, PyTorch
      MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run gemm.msl "$INNER" $SIZES | awk '/^gemm/ {print "msl", $2, $3}' >>"$out"
      for lib in numpy torch; do
        taskset -c 0 "$PY" gemm_peers.py "$lib" "$INNER" $SIZES | awk -v l="$lib" '/^gemm/ {print l, $2, $3}' >>"$out"
      done
    done
    # Per size and library: the median over runs of each run's median GFLOP/s.
    awk '
      function median(s,   a, n, i, j, t) { n = split(s, a, " ");
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
      { v[$1 " " $2] = v[$1 " " $2] " " $3; sizes[$2] = 1 }
      END {
        printf "%-6s %12s %12s %12s %14s\n", "n", "msl GFLOP/s", "numpy", "torch", "msl/best peer"
        for (n in sizes) {
          m = median(v["msl " n]); a = median(v["numpy " n]); t = median(v["torch " n]); best = a > t ? a : t
          printf "%-6s %12.1f %12.1f %12.1f %14.2f\n", n, m, a, t, m / best
        }
      }' "$out" | sort -n
    ;;
  train)
    # Images/s of a training step (data, value_and_grad, Adam) on synthetic images: the MLP at
    # batch 128 and LeNet-5 at batch 64 (issue 5's figures; msl eager), msl in graph mode
    # (issue 6's figure; compile cache in a fresh folder, filled by a first run outside the
    # timing), against PyTorch eager and, where $PYJ has JAX, jax.jit of the whole step
    # (bench/train_jax.py), and torch.compile of the model, loss and optimizer step where
    # $PYC has PyTorch 2 (bench/train_torch.py ... compile): Debian's PyTorch 1.13 has none.
    STEPS=${STEPS:-200}
    PYJ=${PYJ:-python3}
    PYC=${PYC:-}
    jax=0; "$PYJ" -c 'import jax' 2>/dev/null && jax=1
    tc=0; [ -n "$PYC" ] && "$PYC" -c 'import torch; torch.compile' 2>/dev/null && tc=1
    cache=$(mktemp -d)
    trap 'rm -rf "$cache"' EXIT
    rate() { awk '/samples_per_s/ {print $2}'; }
    printf '%-34s %18s %18s %18s %8s %8s' figure "msl eager (median)" "msl graph (median)" "torch (median)" "eager/t" "graph/t"
    [ "$jax" = 1 ] && printf ' %18s %8s' "jax.jit (median)" "graph/jax"
    [ "$tc" = 1 ] && printf ' %18s %8s' "torch.compile (median)" "graph/tc"
    echo
    for cfg in "mlp 128" "lenet 64"; do
      set -- $cfg
      MSL_CACHE_DIR="$cache" MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run --mode=graph train.msl "$1" "$2" 2 1 >/dev/null
      m=() g=() t=() j=() c=()
      for i in $(seq "$REPS"); do
        m+=("$(MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run train.msl "$1" "$2" "$STEPS" 3 | rate)")
        g+=("$(MSL_CACHE_DIR="$cache" MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run --mode=graph train.msl "$1" "$2" "$STEPS" 3 | rate)")
        t+=("$(taskset -c 0 "$PY" train_torch.py "$1" "$2" "$STEPS" 3 | rate)")
        [ "$jax" = 1 ] && j+=("$(taskset -c 0 "$PYJ" train_jax.py "$1" "$2" "$STEPS" 3 | rate)")
        [ "$tc" = 1 ] && c+=("$(taskset -c 0 "$PYC" train_torch.py "$1" "$2" "$STEPS" 3 compile 2>/dev/null | rate)")
      done
      read -r mm mlo mhi <<<"$(printf '%s\n' "${m[@]}" | stats)"
      read -r gm glo ghi <<<"$(printf '%s\n' "${g[@]}" | stats)"
      read -r tm tlo thi <<<"$(printf '%s\n' "${t[@]}" | stats)"
      printf '%-34s %6s [%s-%s] %6s [%s-%s] %6s [%s-%s] %8.2f %8.2f' "$1 training, batch $2, images/s" \
        "$mm" "$mlo" "$mhi" "$gm" "$glo" "$ghi" "$tm" "$tlo" "$thi" \
        "$(awk -v a="$mm" -v b="$tm" 'BEGIN {print a / b}')" "$(awk -v a="$gm" -v b="$tm" 'BEGIN {print a / b}')"
      if [ "$jax" = 1 ]; then
        read -r jm jlo jhi <<<"$(printf '%s\n' "${j[@]}" | stats)"
        printf ' %8s [%s-%s] %8.2f' "$jm" "$jlo" "$jhi" "$(awk -v a="$gm" -v b="$jm" 'BEGIN {print a / b}')"
      fi
      if [ "$tc" = 1 ]; then
        read -r cm clo chi <<<"$(printf '%s\n' "${c[@]}" | stats)"
        printf ' %8s [%s-%s] %8.2f' "$cm" "$clo" "$chi" "$(awk -v a="$gm" -v b="$cm" 'BEGIN {print a / b}')"
      fi
      echo
    done
    ;;
  tta)
    # Time to accuracy on Fashion-MNIST (Debian's dataset-fashion-mnist), MLPerf style: the
    # example programs and their PyTorch peer (bench/tta_torch.py: same model, init, Adam,
    # cosine schedule, batch) train with the same flags for several seeds; the figure is the
    # training time, test evaluation after each epoch included, until the first evaluation
    # at or above the target. Data loading before the first epoch is not counted.
    #   MODELS="mlp lenet" SEEDS="0 1 2" TORCH_SEEDS="0" bench/run.sh tta
    SEEDS=${SEEDS:-0 1 2}
    TORCH_SEEDS=${TORCH_SEEDS:-$SEEDS}
    for model in ${MODELS:-mlp lenet}; do
      if [ "$model" = mlp ]; then
        prog=../examples/fashion_mnist_mlp.msl target=${MLP_TARGET:-0.88}
        epochs=${MLP_EPOCHS:-3} batch=${MLP_BATCH:-64} lr=${MLP_LR:-1e-3}
      else
        prog=../examples/lenet.msl target=${LENET_TARGET:-0.90}
        epochs=${LENET_EPOCHS:-6} batch=${LENET_BATCH:-64} lr=${LENET_LR:-2e-3}
      fi
      echo "$model: target $target, --epochs $epochs --batch-size $batch --lr $lr"
      for seed in $SEEDS; do
        MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run "$prog" --epochs "$epochs" --batch-size "$batch" --lr "$lr" --seed "$seed" 2>/dev/null |
          awk -v t="$target" -v s="$seed" '
            /^epoch [0-9]+:/ { e = $2 + 0; a = $(NF - 2); sub("%,", "", a); a /= 100; sec += $(NF - 1);
                               if (a > best) best = a; if (!hit && a >= t) { hit = 1; printf "  msl   seed %s: %.1f s (epoch %d, %.2f%%)\n", s, sec, e, a * 100 } }
            END { if (!hit) printf "  msl   seed %s: not reached (best %.2f%% after %.1f s)\n", s, best * 100, sec }'
      done
      for seed in $TORCH_SEEDS; do
        taskset -c 0 "$PY" tta_torch.py "$model" "$epochs" "$batch" "$lr" "$seed" |
          awk -v t="$target" -v s="$seed" '
            { e = $2 + 0; a = $4 + 0; sec = $6 + 0; if (a > best) best = a
              if (!hit && a >= t) { hit = 1; printf "  torch seed %s: %.1f s (epoch %d, %.2f%%)\n", s, sec, e, a * 100 } }
            END { if (!hit) printf "  torch seed %s: not reached (best %.2f%% after %.1f s)\n", s, best * 100, sec }'
      done
    done
    ;;
  rss)
    # Peak resident memory (ru_maxrss of the process) of one epoch of the MLP example and of
    # its PyTorch peer (bench/tta_torch.py), the data set loaded by each.
    rss() { "$PY" -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' "$@"; }
    m=$(MSL_NUM_THREADS=1 rss taskset -c 0 "$MSL" run ../examples/fashion_mnist_mlp.msl --epochs 1)
    t=$(rss taskset -c 0 "$PY" tta_torch.py mlp 1 64 1e-3 0)
    printf '%-40s %8s %8s %8s\n' figure msl torch msl/torch
    printf '%-40s %6s MB %5s MB %8.2f\n' "MLP training, 1 epoch, peak RSS" "$m" "$t" "$(awk -v a="$m" -v b="$t" 'BEGIN {print a / b}')"
    ;;
  graph)
    # Alternating in each repetition: eager msl, graph mode with an empty compile cache
    # (cold), graph mode again on that cache (cached), PyTorch eager; one core, one thread.
    # step_ms: each process's median over its inner repetitions of the mean step time.
    # first_call_ms: the first step of the process (specialisation; in graph mode also the
    # fusion pass and compiling, or linking from the cache).
    STEPS=${STEPS:-100}
    INNER=${INNER:-5}
    cache=$(mktemp -d)
    out=$(mktemp)
    trap 'rm -rf "$cache" "$out"' EXIT
    torch_step() {  # batch steps inner -> step_ms and first_call_ms, as graph_step.msl
      taskset -c 0 "$PY" - "$@" <<'PYEOF'
import sys, time, torch
torch.set_num_threads(1)
batch, steps, reps = (int(a) for a in sys.argv[1:4])
g = torch.Generator().manual_seed(0)
x = torch.randn(batch, 784, generator=g)
y = (torch.rand(batch, generator=g) * 10.0).to(torch.int64)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                            torch.nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
def step():
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss
t0 = time.perf_counter(); step(); first = time.perf_counter() - t0
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    times.append((time.perf_counter() - t0) / steps)
print(f"first_call_ms {first * 1000:.3f}")
print(f"step_ms {sorted(times)[len(times) // 2] * 1000:.4f}")
PYEOF
    }
    for b in 32 512; do
      steps=$STEPS; [ "$b" = 512 ] && steps=$(( (STEPS + 4) / 5 ))
      for i in $(seq "$REPS"); do
        MSL_CACHE_DIR=off MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run --mode=eager graph_step.msl "$b" "$steps" "$INNER" |
          awk -v b="$b" '/^step_ms|^first_call_ms/ {print b, "eager", $1, $2}' >>"$out"
        rm -rf "${cache:?}"/*
        for run in cold cached; do
          MSL_CACHE_DIR="$cache" MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run --mode=graph --stats graph_step.msl "$b" "$steps" "$INNER" 2>"$out.err" |
            awk -v b="$b" -v r="$run" '/^step_ms|^first_call_ms/ {print b, "graph_" r, $1, $2}' >>"$out"
          grep 'graphs compiled' "$out.err" | sed "s/^msl: /$b $run /" >"$out.stats.$b.$run" || true
        done
        torch_step "$b" "$steps" "$INNER" | awk -v b="$b" '/^step_ms|^first_call_ms/ {print b, "torch", $1, $2}' >>"$out"
        MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run graph_floor.msl "$b" "$steps" "$INNER" |
          awk -v b="$b" '/^gemm_ms|^adam_ms/ {print b, "floor", $1, $2}' >>"$out"
      done
    done
    awk '
      function median(s,   a, k, i, j, t) { k = split(s, a, " ");
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
      function lo(s,   a, k, i, m) { k = split(s, a, " "); m = a[1]; for (i = 2; i <= k; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
      function hi(s,   a, k, i, m) { k = split(s, a, " "); m = a[1]; for (i = 2; i <= k; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
      { v[$1 " " $2 " " $3] = v[$1 " " $2 " " $3] " " $4 }
      $2 == "graph_cold" || $2 == "graph_cached" { v[$1 " graph " $3] = v[$1 " graph " $3] " " $4 }
      END {
        printf "MLP 784-256-128-10 training step (value_and_grad + Adam), 1 thread; median [min-max] over runs\n"
        printf "%-6s %22s %22s %22s %10s %10s\n", "batch", "eager ms/step", "graph ms/step", "torch ms/step", "eager/graph", "torch/graph"
        for (b = 32; b <= 512; b *= 16) {
          e = v[b " eager step_ms"]; g = v[b " graph step_ms"]; t = v[b " torch step_ms"]
          printf "%-6d %8.3f [%.3f-%.3f] %8.3f [%.3f-%.3f] %8.3f [%.3f-%.3f] %10.2f %10.2f\n", b, median(e), lo(e), hi(e),
            median(g), lo(g), hi(g), median(t), lo(t), hi(t), median(e) / median(g), median(t) / median(g)
        }
        printf "\nkernel floor (bench/graph_floor.msl: the 8 GEMMs and 6 __adam_step calls of a step alone, the same\n"
        printf "kernels in both modes): the most graph mode could gain by removing all other work is eager / floor\n"
        printf "%-6s %10s %10s %10s %14s\n", "batch", "GEMM ms", "Adam ms", "floor ms", "eager/floor"
        for (b = 32; b <= 512; b *= 16) {
          fg = median(v[b " floor gemm_ms"]); fa = median(v[b " floor adam_ms"])
          printf "%-6d %10.3f %10.3f %10.3f %14.2f\n", b, fg, fa, fg + fa, median(v[b " eager step_ms"]) / (fg + fa)
        }
        printf "\nfirst step (ms; specialisation, and in graph mode fusion + compile or cache):\n"
        printf "%-6s %12s %12s %12s %12s\n", "batch", "eager", "graph cold", "graph cached", "torch"
        for (b = 32; b <= 512; b *= 16)
          printf "%-6d %12.1f %12.1f %12.1f %12.1f\n", b, median(v[b " eager first_call_ms"]), median(v[b " graph_cold first_call_ms"]),
            median(v[b " graph_cached first_call_ms"]), median(v[b " torch first_call_ms"])
      }' "$out"
    echo
    echo "graph mode compile statistics (last run; msl run --stats):"
    cat "$out".stats.* 2>/dev/null
    rm -f "$out".stats.* "$out.err"
    ;;
  aot)
    # msl build (docs/aot.md) of bench/aot_infer.msl, MLP 784-256-128-10 inference from a
    # checkpoint: the executable's size (as linked, and stripped), and its cold start to
    # the first prediction (wall time of the whole process, which ends after printing it),
    # split into: the start-up of an executable of an empty program (dynamic loading,
    # static initialisers, exit), msl's own start-up (deserialising the image, the
    # interpreter and code table: MSL_AOT_TIMING), the thread pools' set-up, and the rest
    # (loading the checkpoint, the first oneDNN calls, the prediction). One core, one
    # thread; median (min-max) of REPS x 5 runs. `msl run` of the same program for
    # comparison.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    MSL_BIN=$MSL
    "$MSL_BIN" run aot_infer.msl --save "$tmp/w.safetensors"
    "$MSL_BIN" build -q aot_infer.msl -o "$tmp/infer"
    echo 'pass' >"$tmp/empty.msl"
    "$MSL_BIN" build -q "$tmp/empty.msl" -o "$tmp/empty"
    strip -o "$tmp/infer.stripped" "$tmp/infer"
    echo "executable: $(stat -c %s "$tmp/infer") bytes ($(stat -c %s "$tmp/infer.stripped") stripped); LLVM linked: $(ldd "$tmp/infer" | grep -c LLVM || true)"
    "$tmp/infer" "$tmp/w.safetensors"
    MSL_NUM_THREADS=1 taskset -c 0 "$PY" - "$tmp" "$MSL_BIN" "$REPS" <<'PYEOF'
import os, re, statistics, subprocess, sys, time
tmp, msl, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]) * 5
def wall(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return (time.perf_counter() - t0) * 1000, p.stderr.decode()
env = dict(os.environ, MSL_AOT_TIMING="1")
rows = {"empty program executable (process start-up and exit)": [], "msl start-up (MSL_AOT_TIMING)": [],
        "thread pools (OpenMP, oneDNN; MSL_AOT_TIMING)": [],
        "inference executable, cold start to first prediction": [], "msl run aot_infer.msl": []}
for _ in range(reps):
    rows["empty program executable (process start-up and exit)"].append(wall([f"{tmp}/empty"])[0])
    t, err = wall([f"{tmp}/infer", f"{tmp}/w.safetensors"], env)
    rows["inference executable, cold start to first prediction"].append(t)
    rows["msl start-up (MSL_AOT_TIMING)"].append(float(re.search(r"start-up ([\d.]+) ms", err).group(1)))
    rows["thread pools (OpenMP, oneDNN; MSL_AOT_TIMING)"].append(float(re.search(r"thread pools ([\d.]+) ms", err).group(1)))
    rows["msl run aot_infer.msl"].append(wall([msl, "run", "aot_infer.msl", f"{tmp}/w.safetensors"])[0])
for k, v in rows.items():
    print(f"{k:<56} {statistics.median(v):8.2f} ms  ({min(v):.2f}-{max(v):.2f})")
PYEOF
    ;;
  *) echo "unknown figure '$figure' (dispatch, bandwidth, autodiff, autodiff-cpu, train, tta, rss, gemm, fused, graph, aot)"; exit 1 ;;
esac
