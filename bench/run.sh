#!/usr/bin/env bash
# Benchmarks (see ../shared/BENCHMARKING.md): msl and a peer alternate in the same run,
# pinned to one core, one thread; median and min-max of the repetitions, and the ratio.
#   bench/run.sh dispatch      eager per-primitive overhead vs PyTorch eager
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
  *) echo "unknown figure '$figure' (dispatch)"; exit 1 ;;
esac
