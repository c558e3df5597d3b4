/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The timing tests' reading of the kernel's trace (sched_trace_util.h),
 * on a recorded trace in tracefs's format: which CPU kgo needed when.
 * Process 100 has threads 100 and 101, and 102, a witness left out;
 * kgo_sysmon is 59; sh (60) is someone else.  Running, preempted and
 * woken threads need their CPU, a waiting thread moved to another CPU's
 * queue needs that one; a timer a kgo thread set needs the CPU it
 * fires on from its expiry to its firing; a timer set from an interrupt
 * while a kgo thread ran does not; a witness never does.  A lost event or
 * an empty trace leaves nothing known.  It needs no /dev/kgo: a host
 * test too (host.list, under ASan and UBSan).
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "sched_trace_util.h"

#define MS	1000000LL
#define T0	(10 * 1000 * MS)	/* 10.000000 s */

static const char tgids[] = "14 14\n59 59\n60 60\n100 100\n101 100\n102 100\n";

static const char trace[] =
	"# tracer: nop\n"
	"#           TASK-PID       TGID    CPU#  |||||  TIMESTAMP  FUNCTION\n"
	"          <idle>-0       (-------) [000] d..2.    10.000000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=t next_pid=100 next_prio=120\n"
	"               t-100     (    100) [000] d..2.    10.001000: sched_switch: prev_comm=t prev_pid=100 prev_prio=120 prev_state=R+ ==> next_comm=kgo-test-probe next_pid=102 next_prio=97\n"
	"  kgo-test-probe-102     (    100) [000] d..1.    10.001050: hrtimer_start: hrtimer=00000000aaaa0001 function=hrtimer_wakeup expires=10001500000 softexpires=10001500000 mode=REL\n"
	"  kgo-test-probe-102     (    100) [000] d..2.    10.001100: sched_switch: prev_comm=kgo-test-probe prev_pid=102 prev_prio=97 prev_state=S ==> next_comm=t next_pid=100 next_prio=120\n"
	"               t-100     (    100) [000] d.h1.    10.001900: hrtimer_expire_entry: hrtimer=00000000aaaa0001 function=hrtimer_wakeup now=10001900000\n"
	"               t-100     (    100) [000] d..2.    10.002000: sched_switch: prev_comm=t prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120\n"
	"              sh-60      (     60) [000] d..4.    10.003000: sched_wakeup: comm=t pid=101 prio=120 target_cpu=000\n"
	"              sh-60      (     60) [000] d..4.    10.003500: sched_migrate_task: comm=t pid=101 prio=120 orig_cpu=0 dest_cpu=1\n"
	"          <idle>-0       (-------) [001] d..2.    10.004000: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=t next_pid=101 next_prio=120\n"
	"               t-101     (    100) [001] d..1.    10.005000: hrtimer_start: hrtimer=00000000dbc01edd function=hrtimer_wakeup expires=10006000000 softexpires=10005900000 mode=REL\n"
	"               t-101     (    100) [001] d..2.    10.005500: sched_switch: prev_comm=t prev_pid=101 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120\n"
	"CPU:1 [LOST 0 EVENTS]\n"
	"          <idle>-0       (-------) [000] d.h1.    10.007500: hrtimer_expire_entry: hrtimer=00000000dbc01edd function=hrtimer_wakeup now=10007500000\n"
	"          <idle>-0       (-------) [000] dNh4.    10.007600: sched_wakeup: comm=kgo_sysmon pid=59 prio=98 target_cpu=000\n"
	"          <idle>-0       (-------) [000] d..2.    10.008000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=kgo_sysmon next_pid=59 next_prio=98\n"
	"      kgo_sysmon-59      (     59) [000] d..2.    10.008100: sched_switch: prev_comm=kgo_sysmon prev_pid=59 prev_prio=98 prev_state=I ==> next_comm=t next_pid=100 next_prio=120\n"
	"               t-100     (    100) [000] d.h2.    10.008200: hrtimer_start: hrtimer=00000000a34be770 function=tick_nohz_handler expires=10009000000 softexpires=10009000000 mode=ABS\n"
	"               t-100     (    100) [000] d..2.    10.008300: sched_switch: prev_comm=t prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120\n"
	"          <idle>-0       (-------) [000] d.h1.    10.009500: hrtimer_expire_entry: hrtimer=00000000a34be770 function=tick_nohz_handler now=10009500000\n"
	"          <idle>-0       (-------) [001] d..2.    10.009600: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=sh next_pid=60 next_prio=120\n"
	"              sh-60      (     60) [001] d..2.    10.010000: sched_switch: prev_comm=sh prev_pid=60 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120\n";

/* @trace parsed, with @lost_line kept or taken out; NULL or why not. */
static const char *parse(const char *text, bool keep_lost)
{
	static char buf[sizeof(trace)];
	static const int witness[] = { 102 };
	const char *lost = "CPU:1 [LOST 0 EVENTS]\n", *at, *err;
	FILE *t, *g;

	snprintf(buf, sizeof(buf), "%s", text);
	at = strstr(buf, lost);
	if (at && !keep_lost)
		memmove((char *)at, at + strlen(lost), strlen(at + strlen(lost)) + 1);
	g = fmemopen((void *)tgids, strlen(tgids), "r");
	t = fmemopen(buf, strlen(buf) ? strlen(buf) : 1, "r");
	if (!g || !t)
		return "fmemopen failed";
	err = sched_need_parse(g, t, 100, witness, 1);
	fclose(g);
	fclose(t);
	return err;
}

/* The spans in which kgo needed @cpu within [@a, @b), as "from-to" in us after T0. */
static void spans_text(int cpu, int64_t a, int64_t b, char *out, size_t size)
{
	struct spans l = { 0 };
	size_t len = 0;

	out[0] = 0;
	sched_need_clip(cpu, a, b, &l);
	for (int i = 0; i < l.n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%lld-%lld", i ? " " : "",
					(long long)(l.v[i][0] - T0) / 1000,
					(long long)(l.v[i][1] - T0) / 1000);
	spans_free(&l);
}

static void check_spans(int cpu, int64_t a, int64_t b, const char *want, const char *why)
{
	char got[256];

	spans_text(cpu, a, b, got, sizeof(got));
	if (!tap_ok_fmt(!strcmp(got, want), "CPU %d: %s (%s)", cpu, why, want))
		printf("# got \"%s\"\n", got);
}

int main(void)
{
	const char *err;

	tap_plan(9);
	err = parse(trace, false);
	tap_ok_fmt(err == NULL, "a whole trace is read (%s)", err ? err : "ok");
	/* 100 ran 0-1 ms, was preempted by the witness 1-1.1 ms (still needs CPU 0), ran to 2 ms. */
	check_spans(0, T0, T0 + 3 * MS, "0-2000",
		    "a kgo thread running, then preempted, needs its CPU; a witness and its timer do not");
	/* 101 woken for CPU 0 at 3 ms, moved to CPU 1's queue at 3.5 ms, ran there 4-5.5 ms. */
	check_spans(0, T0 + 2500 * 1000, T0 + 5 * MS, "3000-3500",
		    "woken for a CPU, needs it until moved away");
	check_spans(1, T0, T0 + 20 * MS, "3500-5500",
		    "moved to a CPU's queue, then running there; someone else's thread needs nothing");
	/* 101's timer, due at 6 ms (its hard expiry), fired on CPU 0 at 7.5 ms. */
	check_spans(0, T0 + 5 * MS, T0 + 20 * MS, "6000-7500 7600-8300",
		    "a late timer of a kgo thread, kgo_sysmon woken then running; an interrupt's timer not");
	check_spans(0, T0 + 6500 * 1000, T0 + 7000 * 1000, "6500-7000",
		    "a window cuts what it overlaps");
	err = parse(trace, true);
	tap_ok_fmt(err && strstr(err, "lost"), "a trace that lost events is refused (%s)",
		   err ? err : "read");
	err = parse("# tracer: nop\n", false);
	tap_ok_fmt(err && strstr(err, "empty"), "an empty trace is refused (%s)", err ? err : "read");
	err = parse("garbage: sched_switch: prev_pid=100\n 12.5: sched_wakeup: pid=100\n", false);
	tap_ok_fmt(err && strstr(err, "empty"), "lines without a head are ignored (%s)",
		   err ? err : "read");
	return tap_done();
}
