#!/usr/bin/env bash
# make bench: every benchmark workload, kgo against Go 1.23 and pthreads,
# in ONE boot of one QEMU guest (same kernel, same CPUs for all three),
# then the table, bench/results/<date>.csv, and gnuplot PNGs beside it.
#
#   bench/run.sh [WORKLOAD...]        default: all of them
#
# Environment:
#   BENCH_REPS     measured repetitions per figure (default 5)
#   BENCH_KERNEL   guest kernel (default 6.12: Debian's stock kernel, no
#                  KASAN or lockdep, what users run)
#   BENCH_SMP      guest CPUs (default 4: skynet and fib go up to nprocs 4)
#   BENCH_MEM      guest memory (default 3G: skynet's goroutine trees)
#   BENCH_OUT      results directory (default bench/results)
#   BENCH_TAG      file name stem (default the date, YYYY-MM-DD)
# plus scripts/kgo-vm's (KGO_ACCEL, KGO_VM_TIMEOUT...).  The raw guest
# output is kept as <stem>.log, the table as <stem>.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh"
make -s lib bench-build

reps=${BENCH_REPS:-5}
out=${BENCH_OUT:-bench/results}
stem=${BENCH_TAG:-$(date +%Y-%m-%d)}
mkdir -p "$out"
log="$out/$stem.log"
load=$(cut -d' ' -f1-3 /proc/loadavg)

echo "bench: host load average $load; guest: ${BENCH_KERNEL:-6.12} kernel," \
	"${BENCH_SMP:-4} CPUs; $reps repetitions; raw output in $log"
KGO_VM_TIMEOUT=${KGO_VM_TIMEOUT:-3000} scripts/kgo-vm \
	--kernel "${BENCH_KERNEL:-6.12}" --smp "${BENCH_SMP:-4}" --mem "${BENCH_MEM:-3G}" \
	--add build/bench/kgo-bench --add build/bench/go-bench \
	--add build/bench/pthread-bench --add bench/guest.sh \
	-- guest.sh "$reps" "$@" > "$log.tmp" || {
	tail -30 "$log.tmp" >&2
	echo "bench: the guest run failed; its output is in $log.tmp" >&2
	exit 1
}
{
	echo "INFO host_load $load"
	echo "INFO accel ${KGO_ACCEL:-$(cat "${KGO_CACHE:-$HOME/.cache/kgo}/kvm-probe-$(uname -r)" 2>/dev/null || echo tcg)}"
	echo "INFO host_cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
	cat "$log.tmp"
} > "$log"
rm -f "$log.tmp"
python3 bench/report.py "$log" --csv "$out/$stem.csv" --md "$out/$stem.md" \
	--plots "$out" --host-load "$load"
