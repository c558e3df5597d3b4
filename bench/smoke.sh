#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make check's smoke run of the benchmark programs: a test that
# tests/user/run-tests runs in the debug guest (scripts/check adds it, and
# kgo-bench, go-bench and pthread-bench, to the guest's /bin).
#
# Every workload, at nprocs 1 and at 2 where the benchmark runs it with
# more than one, in each implementation, in smoke mode (bench/common.h):
# tiny sizes, one run, its result checked, nothing timed.  echo (50
# connections, 200 round trips, every echoed byte checked by the client)
# also in epoll-bench (a guest without it gives those lines SKIP; make
# check's has it).  Then the REPS 0 path that bench/guest.sh
# counts system calls with (OPS), for yield, yield-global, spawn and
# pingpong at scale 2: the count must be twice the smoke size.
#
# Prints TAP ("ok N - kgo skynet 2"); a workload a program cannot run is
# "ok N - ... # SKIP"; a wrong result, a crash or a hang (killed after
# BENCH_SMOKE_TIMEOUT seconds, default 60) is "not ok" with the program's
# output.  Exit status 1 if anything failed.
limit=${BENCH_SMOKE_TIMEOUT:-60}
out=/tmp/bench-smoke.out
n=0 pass=0 fail=0 skip=0
start=$(date +%s)

# bench/common.h's SMOKE_* sizes: the operations of one run at scale 1.
ops_of() { # impl workload
	case $2 in
	yield | yield-global) echo 2000 ;;	# SMOKE_YIELD_SWITCHES
	spawn) [ "$1" = pthread ] && echo 200 || echo 1000 ;;	# batches x batch
	pingpong) echo 1000 ;;			# SMOKE_PINGPONG_ROUNDS
	esac
}

procs_of() {
	case $1 in
	yield | yield-global | mem | mem-1m | preempt | blocked) echo 1 ;;
	*) echo "1 2" ;;
	esac
}

impls_of() {
	case $1 in
	echo) echo "kgo go pthread epoll" ;;
	*) echo "kgo go pthread" ;;
	esac
}

# One run of a program in smoke mode, and its TAP line.  The output is
# read with shell built-ins: a fork costs tens of ms in the debug guest.
smoke() { # impl workload nprocs [scale]
	n=$((n + 1))
	name="$1 $2 $3${4:+ ops x$4}"
	if [ "$1" = epoll ] && ! command -v epoll-bench > /dev/null; then
		echo "ok $n - $name # SKIP epoll-bench is not in this guest"
		skip=$((skip + 1))
		return
	fi
	ops=- want="RESULT $2 $3 $1 ..."
	if [ -n "$4" ]; then
		ops=$(($(ops_of "$1" "$2") * $4))
		want="OPS $2 $ops"
	fi
	timeout -s KILL "$limit" "$1-bench" "$2" "$3" smoke ${4:+"$4"} > $out 2>&1
	rc=$?
	res='' ok='' skipped=''
	while read -r line; do
		echo "# $line"
		case $line in
		"RESULT $2 $3 $1 "*) [ -z "$4" ] && res=1 ;;
		"OPS $2 $ops") res=1 ;;
		"SMOKE $2 $3 $1 ok") ok=1 ;;
		"SKIP $2 $1 "*) skipped=${line#"SKIP $2 $1 "} ;;
		esac
	done < $out
	if [ $rc = 0 ] && [ -n "$skipped" ]; then
		echo "ok $n - $name # SKIP $skipped"
		skip=$((skip + 1))
	elif [ $rc = 0 ] && [ -n "$res" ] && [ -n "$ok" ]; then
		echo "ok $n - $name"
		pass=$((pass + 1))
	else
		case $rc in
		0) why="wanted $want and SMOKE $2 $3 $1 ok" ;;
		137) why="killed after ${limit}s" ;;
		*) why="exit status $rc" ;;
		esac
		echo "not ok $n - $name # $why"
		fail=$((fail + 1))
	fi
}

echo "TAP version 13"
# echo's connections are on loopback, which the guest's init leaves down.
ip link set lo up 2> /dev/null || echo "# ip link set lo up failed: echo needs loopback up"
for w in yield yield-global spawn pingpong skynet skynet-chan fib mem mem-1m preempt blocked \
	echo; do
	for p in $(procs_of $w); do
		for impl in $(impls_of $w); do
			smoke $impl $w "$p"
		done
	done
done
for w in yield yield-global spawn pingpong; do
	for impl in kgo go pthread; do
		smoke $impl $w 1 2
	done
done
echo "1..$n"
echo "# bench smoke: $pass passed, $fail failed, $skip skipped in $(($(date +%s) - start)) s"
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
[ $fail = 0 ]
