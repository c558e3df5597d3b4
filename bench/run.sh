#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: every benchmark workload, kgo against Go 1.23 and pthreads
# (and, for echo, a hand-written epoll loop), in BENCH_RUNS separate boots
# of one QEMU guest configuration (same kernel, same CPUs for all the
# implementations, which are interleaved inside each boot: bench/guest.sh),
# then the table with the spread over the boots, bench/results/<stem>.csv,
# and gnuplot PNGs beside it.
#
#   bench/run.sh [WORKLOAD...]        default: all of them
#
# Environment:
#   BENCH_RUNS     separate guest boots (default 3): the table gives the
#                  kgo/Go ratio of each boot, and calls a target met only
#                  when the worst boot meets it
#   BENCH_REPS     interleaved rounds per boot, one measured repetition of
#                  each implementation per round (default 3)
#   BENCH_KERNEL   guest kernel (default 6.12: Debian's stock kernel, no
#                  KASAN or lockdep, what users run)
#   BENCH_SMP      guest CPUs (default 4: skynet and fib go up to nprocs 4;
#                  with 8, they and echo go to 8)
#   BENCH_MEM      guest memory (default 6G: mem-1m's million parked kgo
#                  goroutines are 3.8 GiB resident, a page each; Go's 2.5)
#   BENCH_OUT      results directory (default bench/results)
#   BENCH_TAG      file name stem (default the date, YYYY-MM-DD)
# plus scripts/kgo-vm's (KGO_ACCEL, KGO_VM_TIMEOUT...).  KGO_VM_LOCK is
# taken once, for all the boots.  The
# raw guest output of boot N is kept as <stem>-bootN.log, the table as
# <stem>.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh" bench
make -s lib bench-build

runs=${BENCH_RUNS:-3}
reps=${BENCH_REPS:-3}
out=${BENCH_OUT:-bench/results}
stem=${BENCH_TAG:-$(date +%Y-%m-%d)}
case $runs in '' | *[!0-9]* | 0) echo "bench: BENCH_RUNS must be a positive number" >&2; exit 2 ;; esac
case $reps in '' | *[!0-9]* | 0) echo "bench: BENCH_REPS must be a positive number" >&2; exit 2 ;; esac
mkdir -p "$out"
logs=()
loads=()
start=$(date +%s)

# With KGO_VM_LOCK (a host shared by several people), the lock is taken
# once for all the boots, not by each: no other guest runs between them,
# and the boots do not queue for the lock one by one.
if [ -n "${KGO_VM_LOCK:-}" ]; then
	exec 7>>"$KGO_VM_LOCK"
	echo "bench: waiting for $KGO_VM_LOCK ($(date +%T))"
	flock 7
	echo "bench: got $KGO_VM_LOCK ($(date +%T))"
fi
echo "bench: guest ${BENCH_KERNEL:-6.12} kernel, ${BENCH_SMP:-4} CPUs; $runs boots of" \
	"$reps interleaved rounds each; raw output in $out/$stem-boot*.log"
for boot in $(seq 1 "$runs"); do
	log="$out/$stem-boot$boot.log"
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	loads+=("$load")
	echo "bench: boot $boot of $runs (host load average $load, $(date +%T))"
	KGO_VM_LOCK='' KGO_VM_TIMEOUT=${KGO_VM_TIMEOUT:-3000} scripts/kgo-vm \
		--kernel "${BENCH_KERNEL:-6.12}" --smp "${BENCH_SMP:-4}" --mem "${BENCH_MEM:-6G}" \
		--add build/bench/kgo-bench --add build/bench/go-bench \
		--add build/bench/pthread-bench --add build/bench/epoll-bench --add bench/guest.sh \
		-- guest.sh "$reps" "$@" > "$log.tmp" 7>&- || {
		tail -30 "$log.tmp" >&2
		echo "bench: the guest run failed (boot $boot); its output is in $log.tmp" >&2
		exit 1
	}
	{
		echo "INFO boot $boot"
		echo "INFO host_load $load"
		echo "INFO accel ${KGO_ACCEL:-$(cat "${KGO_CACHE:-$HOME/.cache/kgo}/kvm-probe-$(uname -r)" 2>/dev/null || echo tcg)}"
		echo "INFO host_cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
		cat "$log.tmp"
	} > "$log"
	rm -f "$log.tmp"
	logs+=("$log")
done
echo "bench: $runs boots in $(($(date +%s) - start)) s"
python3 bench/report.py "${logs[@]}" --csv "$out/$stem.csv" --md "$out/$stem.md" \
	--plots "$out" --host-load "$(IFS=';'; echo "${loads[*]}")"
