#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the benchmark guest (busybox sh), started by bench/run.sh
# through scripts/kgo-vm with kgo-bench, go-bench, pthread-bench and
# epoll-bench on the PATH, once per guest boot.  Prints, for bench/report.py:
#
#   INFO <key> <value...>          the guest: kernel, CPU model, CPUs
#   RESULT <workload> <nprocs> <impl> <unit> <value>      one measurement
#   SYSCALLS <workload> <nprocs> <impl> <count1> <ops1> <count2> <ops2>
#   SKIP <workload> <impl> <why>   / FAIL <impl> <workload> <nprocs> <rc>
#
#   guest.sh ROUNDS [WORKLOAD...]  (default: every workload, then syscalls)
#
# The implementations are interleaved: for every workload and processor
# count, ROUNDS rounds, each of which runs every implementation once, in a
# fresh process that does a warm-up and then ONE measured repetition.  The
# order turns by one each round (kgo go pthread, go pthread kgo, pthread
# kgo go, ...), so that no implementation always runs first, or always
# right after the same other one, and a slow patch of the host hits all of
# them alike.  mem and mem-1m have no warm-up (a fresh process is their
# measurement).
# echo has a fourth implementation, epoll-bench's hand-written event loop,
# and every server program starts the same client (bench/echo.h).
#
# syscalls: system calls per operation of yield, yield-global, spawn and
# pingpong, counted by the kernel for every implementation alike: a
# histogram trigger on the raw_syscalls:sys_enter tracepoint, filtered on
# the program's name, counts each system call entered by any of its
# threads.  Each count is the difference between a run at scale 1 and one
# at scale 2 (twice the operations), so start-up and exit cancel out;
# ROUNDS such pairs per implementation, interleaved the same way.
rounds=${1:-3}
[ $# -gt 0 ] && shift
all="yield yield-global spawn pingpong skynet skynet-chan fib mem mem-1m preempt blocked echo"
list=${*:-"$all syscalls"}

echo "INFO kernel $(uname -r)"
echo "INFO cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "INFO cpus $(grep -c '^processor' /proc/cpuinfo)"
echo "INFO mem_kb $(awk '/MemTotal/ { print $2 }' /proc/meminfo)"
echo "INFO clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "INFO kgo_module $(cat /sys/module/kgo/srcversion 2>/dev/null || echo loaded)"

# A goroutine stack is two mappings (guard and stack) when libkgo falls
# back to its own stacks (an older module, KGO_STACKS=mmap): 100,000 parked
# Gs, or skynet's tree, then need more than the default 65,530 map areas,
# and mem-1m 2,000,000.
echo 4000000 > /proc/sys/vm/max_map_count
# echo's connections are on loopback, which the guest's init leaves down.
ip link set lo up

impls_of() {
	case $1 in
	echo) echo "kgo go pthread epoll" ;;
	*) echo "kgo go pthread" ;;
	esac
}

# The implementations in round R's order: the list turned left R times.
turn() { # round impl...
	k=$(($1 % ($# - 1)))
	shift
	while [ $k -gt 0 ]; do
		first=$1
		shift
		set -- "$@" "$first"
		k=$((k - 1))
	done
	echo "$@"
}

# A program that has not finished after 10 minutes is killed; what it
# printed before stays, and the FAIL line says so.
limit=600
run() { # impl workload nprocs reps
	timeout -s KILL $limit "$1-bench" "$2" "$3" "$4"
	rc=$?
	[ $rc = 0 ] || echo "FAIL $1 $2 $3 exit status $rc"
}

procs_of() {
	case $1 in
	yield | yield-global | mem | mem-1m | preempt | blocked) echo 1 ;;
	spawn | pingpong) echo "1 2" ;;
	echo) if [ "$ncpu" -ge 8 ]; then echo "1 2 4 8"; else echo "1 2"; fi ;;
	skynet | skynet-chan | fib)
		if [ "$ncpu" -ge 8 ]; then echo "1 2 4 8"; else echo "1 2 4"; fi ;;
	esac
}
# The scaling run (BENCH_SMP=8) adds nprocs 4 and 8 where issue 20 asks.
ncpu=$(nproc)

T=/sys/kernel/tracing
E=$T/events/raw_syscalls/sys_enter
# Enabling or disabling a tracepoint patches the kernel's code (int3 and
# IPIs); under TCG doing that hundreds of times once ended in an int3 Oops.
# So each implementation's trigger is set once for the whole phase, and
# cleared (":clear") between runs instead of being removed.  Always ">>":
# opening the trigger file with O_TRUNC removes every trigger.
trig() { # impl
	echo "hist:keys=id.syscall:vals=hitcount:sort=hitcount.descending if comm == \"$1-bench\""
}
count_syscalls() { # impl workload nprocs scale -> "<count> <ops>"
	t=$(trig "$1")
	echo "${t%% if*}:clear if ${t#* if }" >> $E/trigger || return 1
	ops=$(timeout -s KILL $limit "$1-bench" "$2" "$3" 0 "$4" | awk '$1 == "OPS" { print $3 }')
	# Totals for this implementation's histogram only: the part of the
	# hist file after its "trigger info" line.
	c="comm == \"$1-bench\""
	n=$(awk -v c="$c" '/trigger info/ { on = index($0, c) > 0 } on && /^ *Hits:/ { print $2; exit }' $E/hist)
	# The busiest system calls, to say where they come from.
	awk -v c="$c" '/trigger info/ { on = index($0, c) > 0 } on && /id: / { print; if (++k == 4) exit }' $E/hist |
		sed "s/^/# $1 $2 $3 x$4: /; s/  */ /g"
	echo "${n:-0} ${ops:-0}"
}

for w in $list; do
	echo "# ---- $w ($(date +%T))"
	case $w in
	syscalls)
		if [ ! -d $T/events/raw_syscalls ]; then
			echo "SKIP syscalls all no raw_syscalls tracepoint in this kernel"
			continue
		fi
		for impl in kgo go; do
			trig $impl >> $E/trigger
		done
		for sw in yield yield-global spawn pingpong; do
			for n in $(procs_of $sw); do
				r=0
				while [ $r -lt "$rounds" ]; do
					for impl in $(turn $r kgo go); do
						a=$(count_syscalls $impl $sw $n 1)
						b=$(count_syscalls $impl $sw $n 2)
						# where they come from, once
						[ $r = 0 ] && echo "$b" | grep '^#'
						echo "SYSCALLS $sw $n $impl $(echo "$a" | tail -1) $(echo "$b" | tail -1)"
					done
					r=$((r + 1))
				done
			done
		done
		for impl in kgo go; do
			echo "!$(trig $impl)" >> $E/trigger
		done
		;;
	*)
		for n in $(procs_of $w); do
			r=0
			while [ $r -lt "$rounds" ]; do
				# mem, mem-1m: the program makes its one measurement
				# without a warm-up (its own rule for "fresh" workloads).
				for impl in $(turn $r $(impls_of $w)); do
					run $impl $w $n 1
				done
				r=$((r + 1))
			done
		done
		;;
	esac
done
echo "# ---- done ($(date +%T))"
