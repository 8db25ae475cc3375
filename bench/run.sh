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
#   bench/run.sh train         training throughput (samples/s) of the Fashion-MNIST MLP
#                              (784-256-128-10, Adam, batch 64) vs PyTorch, one thread each
# Needs the release build (cmake --preset release && cmake --build --preset release) and,
# for the peer, Debian's python3-torch (apt-get install python3-torch).
set -euo pipefail
cd "$(dirname "$0")"
MSL=${MSL:-../build/release/tools/msl}
PY=${PY:-/usr/bin/python3}
REPS=${REPS:-5}
figure=${1:-dispatch}

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
  train)
    STEPS=${STEPS:-200}
    m=() t=()
    for i in $(seq "$REPS"); do
      m+=("$(MSL_NUM_THREADS=1 taskset -c 0 "$MSL" run train_mlp.msl "$STEPS" 3 | awk '/samples_per_s/ {print $2}')")
      t+=("$(taskset -c 0 "$PY" train_mlp_torch.py "$STEPS" 3 | awk '/samples_per_s/ {print $2}')")
    done
    read -r mm mlo mhi <<<"$(printf '%s\n' "${m[@]}" | stats)"
    read -r tm tlo thi <<<"$(printf '%s\n' "${t[@]}" | stats)"
    printf '%-34s %18s %18s %8s\n' figure "msl (median, range)" "torch (median, range)" "msl/torch"
    printf '%-34s %6s [%s-%s] %6s [%s-%s] %8.2f\n' "MLP training, samples/s" "$mm" "$mlo" "$mhi" "$tm" "$tlo" "$thi" \
      "$(awk -v a="$mm" -v b="$tm" 'BEGIN {print a / b}')"
    ;;
  *) echo "unknown figure '$figure' (dispatch, bandwidth, autodiff, train)"; exit 1 ;;
esac
