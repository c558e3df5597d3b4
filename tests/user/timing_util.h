/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Timing bounds judged against what the machine allowed in the same window
 * (sysmon_block, sysmon_spin).
 *
 * Under TCG on a shared host a virtual CPU can stop for tens of
 * milliseconds, and no scheduler can keep a 2 ms bound through that.  So
 * while a test measures, two kinds of witness run beside it:
 *  - one probe per CPU: a plain thread pinned there, SCHED_FIFO strictly
 *    above kgo_sysmon's priority (read from the running kthread), that
 *    sleeps PROBE_NS at a time.  Nothing of kgo's can delay it, so when it
 *    wakes late its CPU really was gone (the hypervisor, an interrupt);
 *  - the control: one plain SCHED_OTHER thread, not pinned, as kgo's Ms
 *    are, sleeping CONTROL_NS at a time.  Its lateness is what the machine
 *    did to an ordinary thread that wanted to run, at the same moment.
 * Each late wakeup is kept as the interval from when it was due to when
 * it ran, and the CPU it was on.
 *
 * A measurement over its bound, with window [start, end], is judged by
 * the time inside that window only (the part of each late wakeup that
 * lies in it), per CPU:
 *  - "a CPU kgo needed stopped": the time during which the probe of a CPU
 *    was overdue while kgo needed that CPU (sched_trace_util.h: one of its
 *    threads ran there, was woken or preempted there and waited to run,
 *    or had a timer due to fire there), the intervals merged, never
 *    summed: two CPUs stalled at the same moment count once, while stalls
 *    one after the other on different CPUs, sysmon on one and the next M
 *    on the other, add up as they do for kgo's chain of wakeups.  That is
 *    what the machine took from kgo.  If the measurement less this is
 *    within the bound, the case passes and says by how much the machine
 *    stretched it; if not, kgo was slower than the machine allowed, and
 *    the case fails.
 * Where the scheduler's events cannot be read (no tracefs, the events not
 * enabled at boot, a buffer that overran), only the witnesses are left:
 *  - "a CPU stopped": the time during which some witness was overdue,
 *    merged as above.  The most the machine can have delayed kgo: over
 *    the bound even without it, the case fails.
 *  - "every CPU stopped": the time during which every CPU's probe was
 *    overdue at once.  Nothing of kgo's can have run then, so the least
 *    the machine delayed it: within the bound without it, the case passes.
 *  - between the two (the machine stopped one CPU, and kgo may or may not
 *    have needed it), the case is inconclusive: a TAP SKIP with the
 *    numbers.
 * The control's lateness is printed beside each verdict, and for each
 * window that fails, for comparison: it is no excuse when the trace is
 * read, since kgo's own threads (a spinner) can delay a plain thread.
 *
 * The bound is the issue's, on the stock kernels.  On the debug kernel
 * (KASAN, lockdep, kmemleak: every system call and sysmon pass several
 * times slower; the guest says so in KGO_GUEST_KERNEL) it is widened by
 * DEBUG_WIDEN, and the test prints by how much.
 */
#ifndef KGO_TESTS_TIMING_UTIL_H
#define KGO_TESTS_TIMING_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "clock_util.h"
#include "sched_trace_util.h"
#include "spans_util.h"
#include "tap.h"


#define PROBE_NS	500000		/* a probe's sleep */
#define CONTROL_NS	1000000		/* the control's sleep */
#define LATE_MIN_NS	50000		/* later than this is kept */
#define LATE_MAX	65536
#define PROBE_CPUS	16
#define CONTROL_CPU	PROBE_CPUS	/* the control's slot in per-CPU sums */
#define DEBUG_WIDEN	2		/* the debug kernel's factor on every bound */

/* One late wakeup: due at @from, ran at @to, on probe @cpu or the control. */
struct late {
	int64_t from, to;
	int cpu;
};

static struct late lates[LATE_MAX];
static atomic_int nlates;
static atomic_bool probing;
static pthread_t witness_threads[PROBE_CPUS + 1];
static int witness_tids[PROBE_CPUS + 1];
static atomic_int nwitness_tids;
static int nwitnesses, nprobe_cpus;
static const char *sched_need_why;	/* NULL: sched_trace_util.h knows kgo's CPUs */
static atomic_llong probe_worst, control_worst;
static int probe_prio, sysmon_prio = -1;
static atomic_int probes_not_rt;

/*
 * kgo_sysmon's real-time priority, from the running kthread (kmod/sysmon.c
 * makes it SCHED_FIFO with sched_set_fifo_low, priority 1); 1 if it cannot
 * be found.
 */
static inline int find_sysmon_prio(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int prio = -1;

	while (d && (e = readdir(d)) && prio < 0) {
		char path[300], comm[32] = "";
		struct sched_param sp;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strcmp(comm, "kgo_sysmon\n"))
			continue;
		if (sched_getparam(atoi(e->d_name), &sp) == 0)
			prio = sp.sched_priority;
	}
	if (d)
		closedir(d);
	return prio;
}

static inline void late_add(int64_t from, int64_t to, int cpu)
{
	int i = atomic_fetch_add(&nlates, 1);

	if (i < LATE_MAX)
		lates[i] = (struct late){ from, to, cpu };
}

static inline void raise_worst(atomic_llong *worst, int64_t late)
{
	long long w = atomic_load(worst);

	while (late > w && !atomic_compare_exchange_weak(worst, &w, late))
		;
}

/* A witness: probe @cpu (pinned, real-time), or the control (CONTROL_CPU). */
static void *witness_main(void *arg)
{
	int cpu = (int)(intptr_t)arg;
	bool control = cpu == CONTROL_CPU;
	int64_t period = control ? CONTROL_NS : PROBE_NS;

	witness_tids[atomic_fetch_add(&nwitness_tids, 1)] = gettid();
	prctl(PR_SET_NAME, control ? "kgo-test-control" : "kgo-test-probe", 0, 0, 0);
	if (control) {
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	} else {
		struct sched_param sp = { .sched_priority = probe_prio };
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) ||
		    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp))
			atomic_store(&probes_not_rt, 1);
	}
	while (atomic_load(&probing)) {
		struct timespec ts = { 0, period };
		int64_t t0 = now_ns(), t1, late;

		nanosleep(&ts, NULL);
		t1 = now_ns();
		late = t1 - t0 - period;
		raise_worst(control ? &control_worst : &probe_worst, late);
		if (late > LATE_MIN_NS)
			late_add(t0 + period, t1, cpu);
	}
	return NULL;
}

/* The witnesses, from before a measurement to after it (probes_stop). */
static inline void probes_start(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int max = sched_get_priority_max(SCHED_FIFO);

	if (sysmon_prio < 0) {
		int found = find_sysmon_prio();

		sysmon_prio = found > 0 ? found : 1;
		probe_prio = sysmon_prio + 1 <= max ? sysmon_prio + 1 : max;
		printf("# witnesses: a probe per CPU at SCHED_FIFO %d (kgo_sysmon: %d%s), "
		       "a SCHED_OTHER control thread\n", probe_prio, sysmon_prio,
		       found > 0 ? "" : ", assumed: kthread not found");
	}
	atomic_store(&nlates, 0);
	atomic_store(&probe_worst, 0);
	atomic_store(&control_worst, 0);
	atomic_store(&probes_not_rt, 0);
	atomic_store(&probing, true);
	atomic_store(&nwitness_tids, 0);
	nwitnesses = 0;
	if (pthread_create(&witness_threads[nwitnesses], NULL, witness_main,
			   (void *)(intptr_t)CONTROL_CPU) == 0)
		nwitnesses++;
	nprobe_cpus = 0;
	for (int cpu = 0; cpu < n && cpu < PROBE_CPUS; cpu++)
		if (pthread_create(&witness_threads[nwitnesses], NULL, witness_main,
				   (void *)(intptr_t)cpu) == 0)
			nwitnesses++, nprobe_cpus++;
	if (nprobe_cpus < n)
		atomic_store(&probes_not_rt, 1);	/* not every CPU watched */
	sched_need_why = sched_trace_start();
}

static inline void probes_stop(void)
{
	atomic_store(&probing, false);
	for (int i = 0; i < nwitnesses; i++)
		pthread_join(witness_threads[i], NULL);
	nwitnesses = 0;
	if (atomic_load(&probes_not_rt))
		printf("# the probes could not be made real-time: only the control counts\n");
	if (!sched_need_why)
		sched_need_why = sched_trace_finish(getpid(), witness_tids,
						    atomic_load(&nwitness_tids));
	if (sched_need_why)
		printf("# when kgo needed which CPU is not known (%s): a stop of one CPU leaves a"
		       " verdict open\n", sched_need_why);
	else
		printf("# when kgo needed which CPU: from %ld scheduler and timer events\n",
		       need_events_read);
}

static int late_cmp(const void *x, const void *y)
{
	const struct late *a = x, *b = y;

	return (a->from > b->from) - (a->from < b->from);
}

static int64_t late_longest;

/* Before machine_during: the late wakeups in order of when they were due. */
static inline int lates_sort(void)
{
	int n = atomic_load(&nlates);

	if (n > LATE_MAX) {
		printf("# %d late wakeups, only the first %d kept\n", n, LATE_MAX);
		n = LATE_MAX;
	}
	qsort(lates, (size_t)n, sizeof(lates[0]), late_cmp);
	late_longest = 0;
	for (int i = 0; i < n; i++)
		if (lates[i].to - lates[i].from > late_longest)
			late_longest = lates[i].to - lates[i].from;
	return n;
}

/*
 * What the machine allowed in [a, b] (after lates_sort, @n of them): how
 * long, inside the window, some witness was overdue (the union of the
 * intervals clipped to the window; the probes' only if they were
 * real-time).
 */
static inline int64_t machine_during(int n, int64_t a, int64_t b)
{
	int64_t total = 0, cur_lo = 0, cur_hi = 0;
	bool rt = !atomic_load(&probes_not_rt), open = false;
	int lo = 0, hi = n;

	/* The first that may reach a: due no earlier than a - the longest. */
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (lates[mid].from < a - late_longest)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (int i = lo; i < n && lates[i].from < b; i++) {
		int64_t from = lates[i].from > a ? lates[i].from : a;
		int64_t to = lates[i].to < b ? lates[i].to : b;

		if (to <= from || (!rt && lates[i].cpu != CONTROL_CPU))
			continue;
		if (open && from <= cur_hi) {
			if (to > cur_hi)
				cur_hi = to;
			continue;
		}
		if (open)
			total += cur_hi - cur_lo;
		cur_lo = from;
		cur_hi = to;
		open = true;
	}
	if (open)
		total += cur_hi - cur_lo;
	return total;
}

/*
 * The time in [a, b] when every CPU's probe was overdue at once (after
 * lates_sort, @n of them); 0 unless every CPU had a real-time probe.
 */
static inline int64_t every_cpu_stopped(int n, int64_t a, int64_t b)
{
	struct spans cpu[PROBE_CPUS] = { 0 }, both = { 0 };
	int64_t total = 0;

	if (atomic_load(&probes_not_rt) || !nprobe_cpus)
		return 0;
	for (int i = 0; i < n && lates[i].from < b; i++) {
		int64_t from = lates[i].from > a ? lates[i].from : a;
		int64_t to = lates[i].to < b ? lates[i].to : b;

		if (to > from && lates[i].cpu < nprobe_cpus)
			spans_add(&cpu[lates[i].cpu], from, to);
	}
	/* Intersect CPU 0's list with each other CPU's in turn, into cpu[0]. */
	for (int c = 1; c < nprobe_cpus; c++) {
		int x = 0, y = 0;

		both.n = 0;
		while (x < cpu[0].n && y < cpu[c].n) {
			int64_t lo = cpu[0].v[x][0] > cpu[c].v[y][0] ? cpu[0].v[x][0] : cpu[c].v[y][0];
			int64_t hi = cpu[0].v[x][1] < cpu[c].v[y][1] ? cpu[0].v[x][1] : cpu[c].v[y][1];

			if (hi > lo)
				spans_add(&both, lo, hi);
			if (cpu[0].v[x][1] < cpu[c].v[y][1])
				x++;
			else
				y++;
		}
		cpu[0].n = 0;
		for (int k = 0; k < both.n; k++)
			spans_add(&cpu[0], both.v[k][0], both.v[k][1]);
	}
	for (int k = 0; k < cpu[0].n; k++)
		total += cpu[0].v[k][1] - cpu[0].v[k][0];
	for (int c = 0; c < nprobe_cpus; c++)
		free(cpu[c].v);
	free(both.v);
	return total;
}

/* Whether the guest runs the debug kernel (scripts/kgo-vm exports it). */
static inline bool debug_kernel(void)
{
	const char *k = getenv("KGO_GUEST_KERNEL");

	return k && !strcmp(k, "debug");
}

/*
 * One timing bound: every measurement counted, and the windows of those
 * over an eighth of the bound kept (so that the worst in windows the
 * machine left alone can be told too).
 */
#define TIMING_EVENTS	4096
struct timing {
	int64_t bound, base_bound, worst;
	long count, over;
	struct {
		int64_t start, end, value;
	} ev[TIMING_EVENTS];
	int nev;
};

/* @bound is the issue's; the debug kernel widens it, and says so. */
static inline void timing_init(struct timing *t, int64_t bound)
{
	t->base_bound = bound;
	t->bound = debug_kernel() ? bound * DEBUG_WIDEN : bound;
	t->worst = 0;
	t->count = t->over = 0;
	t->nev = 0;
}

/* A measurement of @value over the window [@start, @end]. */
static inline void timing_add(struct timing *t, int64_t start, int64_t end, int64_t value)
{
	t->count++;
	if (value > t->worst)
		t->worst = value;
	if (value > t->bound)
		t->over++;
	if (value <= t->bound / 8)
		return;
	if (t->nev < TIMING_EVENTS) {
		t->ev[t->nev].start = start;
		t->ev[t->nev].end = end;
		t->ev[t->nev].value = value;
		t->nev++;
	}
}

/*
 * The time in [a, b] when a CPU was stopped while kgo needed it (after
 * lates_sort, @n of them): each probe's overdue intervals cut to the
 * spans sched_trace_util.h found kgo needing that CPU, merged.  Only
 * when those spans are known and the probes were real-time; else -1.
 */
static inline int64_t needed_cpu_stopped(int n, int64_t a, int64_t b)
{
	struct spans cut = { 0 };
	int64_t total;

	if (sched_need_why || atomic_load(&probes_not_rt) || !nprobe_cpus)
		return -1;
	for (int i = 0; i < n && lates[i].from < b; i++) {
		int64_t from = lates[i].from > a ? lates[i].from : a;
		int64_t to = lates[i].to < b ? lates[i].to : b;

		if (to > from && lates[i].cpu < nprobe_cpus)
			sched_need_clip(lates[i].cpu, from, to, &cut);
	}
	spans_merge(&cut);
	total = spans_total(&cut);
	spans_free(&cut);
	return total;
}

static inline void print_window(const char *what, int64_t value, int64_t start, int64_t one,
				int64_t every, int64_t needed)
{
	printf("# %s: %.3f ms from %lld.%09lld (monotonic); a CPU stopped %.3f ms of it, every CPU"
	       " %.3f ms, a CPU kgo needed %.3f ms\n",
	       what, value / 1e6, (long long)(start / 1000000000),
	       (long long)(start % 1000000000), one / 1e6, every / 1e6, needed / 1e6);
}

/* Up to 8 spans of merged @l, as "from-to" in us after @base, into @out. */
static inline void spans_print(const struct spans *l, int64_t base, char *out, size_t size)
{
	size_t len = 0;

	out[0] = 0;
	for (int i = 0; i < l->n && i < 8 && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, " %lld-%lld",
					(long long)(l->v[i][0] - base) / 1000,
					(long long)(l->v[i][1] - base) / 1000);
	if (l->n > 8 && len < size)
		snprintf(out + len, size - len, " (%d more)", l->n - 8);
}

/*
 * For a window over the bound (after lates_sort, @n of them): when the
 * control was overdue, and per CPU when its probe was overdue and when
 * kgo needed it, in us from @a.
 */
static inline void print_window_cpus(int n, int64_t a, int64_t b)
{
	struct spans ctl = { 0 };
	char s0[256];

	for (int i = 0; i < n && lates[i].from < b; i++)
		if (lates[i].cpu == CONTROL_CPU && lates[i].to > a)
			spans_add(&ctl, lates[i].from > a ? lates[i].from : a,
				  lates[i].to < b ? lates[i].to : b);
	spans_print(&ctl, a, s0, sizeof(s0));
	printf("#   the control, a plain thread, us into the window: overdue%s (%.3f ms)\n",
	       ctl.n ? s0 : " never", spans_total(&ctl) / 1e6);
	spans_free(&ctl);
	for (int c = 0; c < nprobe_cpus; c++) {
		struct spans stop = { 0 }, need = { 0 };
		char s1[256], s2[256];

		for (int i = 0; i < n && lates[i].from < b; i++)
			if (lates[i].cpu == c && lates[i].to > a)
				spans_add(&stop, lates[i].from > a ? lates[i].from : a,
					  lates[i].to < b ? lates[i].to : b);
		if (!sched_need_why)
			sched_need_clip(c, a, b, &need);
		spans_print(&stop, a, s1, sizeof(s1));
		spans_print(&need, a, s2, sizeof(s2));
		printf("#   CPU %d, us into the window: stopped%s; kgo needed it%s\n", c,
		       stop.n ? s1 : " never", sched_need_why ? " (not known)" : need.n ? s2 : " never");
		spans_free(&stop);
		spans_free(&need);
	}
}

/*
 * The TAP line for @t (after probes_stop).  A measurement over the bound
 * is the machine's when it is within the bound once the time a CPU kgo
 * needed was stopped is taken out (or, where that is not known, once the
 * moments every CPU was stopped are); it is kgo's, and the case fails,
 * when it is over the bound even so (or, where not known, even once all
 * the time any CPU was stopped is taken out).  Where not known, a
 * measurement between the two makes the case a SKIP ("inconclusive").
 * @what names the measurement.
 */
static inline void timing_verdict(const struct timing *t, const char *what)
{
	int64_t worst_failed = 0, excused_then = 0, worst_own_max = 0;
	int failed = 0, unsure = 0, kept_over = 0, n = lates_sort();
	char name[320], why[256];

	if (t->bound != t->base_bound)
		printf("# debug kernel: %s: bound widened x%d, from %.3f to %.3f ms\n", what,
		       DEBUG_WIDEN, t->base_bound / 1e6, t->bound / 1e6);
	for (int i = 0; i < t->nev; i++) {
		int64_t value = t->ev[i].value, one, every, needed, excused, own;

		if (value <= t->bound) {
			if (value > worst_own_max)
				worst_own_max = value;
			continue;
		}
		kept_over++;
		one = machine_during(n, t->ev[i].start, t->ev[i].end);
		every = every_cpu_stopped(n, t->ev[i].start, t->ev[i].end);
		needed = needed_cpu_stopped(n, t->ev[i].start, t->ev[i].end);
		/* What kgo is charged with, and the most the machine excuses. */
		own = value - (needed >= 0 ? needed : every);
		excused = needed >= 0 ? needed : one;
		if (own > worst_own_max)
			worst_own_max = own;
		if (getenv("KGO_TEST_WINDOWS"))
			print_window("window", value, t->ev[i].start, one, every, needed);
		if (value - excused > t->bound) {
			if (failed++ < 5) {
				print_window("kgo's own part over the bound", value, t->ev[i].start,
					     one, every, needed);
				print_window_cpus(n, t->ev[i].start, t->ev[i].end);
			}
			if (value > worst_failed) {
				worst_failed = value;
				excused_then = excused;
			}
		} else if (own > t->bound) {
			unsure++;
		}
	}
	if (t->over > kept_over)
		failed += (int)(t->over - kept_over);	/* not kept: count them as failures */
	if (!sched_need_why)
		printf("# %s: %ld measured, worst %.3f ms, %ld over %.3f ms: %d within it without"
		       " the time a CPU kgo needed was stopped, %d over it even so (worst late"
		       " wakeup of a probe %.3f ms, of the control %.3f ms)\n",
		       what, t->count, t->worst / 1e6, t->over, t->bound / 1e6,
		       (int)t->over - failed, failed,
		       (double)atomic_load(&probe_worst) / 1e6,
		       (double)atomic_load(&control_worst) / 1e6);
	else
		printf("# %s: %ld measured, worst %.3f ms, %ld over %.3f ms: %d within it without"
		       " the moments every CPU was stopped, %d inconclusive, %d over it even"
		       " without those a CPU was (worst late wakeup of a probe %.3f ms, of the"
		       " control %.3f ms)\n",
		       what, t->count, t->worst / 1e6, t->over, t->bound / 1e6,
		       (int)t->over - failed - unsure, unsure, failed,
		       (double)atomic_load(&probe_worst) / 1e6,
		       (double)atomic_load(&control_worst) / 1e6);
	if (!t->over)
		snprintf(name, sizeof(name), "%s: worst %.3f ms (<= %.3f ms)", what,
			 t->worst / 1e6, t->bound / 1e6);
	else
		snprintf(name, sizeof(name),
			 "%s: worst %.3f ms, at most %.3f ms of it kgo's own (<= %.3f ms)", what,
			 t->worst / 1e6, worst_own_max / 1e6, t->bound / 1e6);
	if (failed) {
		snprintf(tap_why, sizeof(tap_why),
			 "%d of %ld over the bound by more than the machine allowed (worst %.3f ms, %.3f ms of it excused)",
			 failed, t->over, worst_failed / 1e6, excused_then / 1e6);
		tap_ok(false, name);
	} else if (unsure) {
		snprintf(why, sizeof(why),
			 "inconclusive: %d of %ld over the bound while the machine stopped one CPU, not all",
			 unsure, t->over);
		tap_skip_case(name, why);
	} else {
		tap_ok(true, name);
	}
}

/*
 * The preemption tests' two goroutines.  spin_until: no call, no yield,
 * so only preemption gets it off its M; it counts its rounds in *@spins
 * until *@stop.  yield_sleeps: for @run_ns, wait 1 ms at a time by
 * yielding until the clock passes the deadline, and record each wake's
 * lateness in @late, its window from the last run before the deadline to
 * the first after it.
 */
static inline void spin_until(atomic_bool *stop, volatile unsigned long *spins)
{
	while (!atomic_load_explicit(stop, memory_order_relaxed))
		(*spins)++;
}

static inline void yield_sleeps(struct timing *late, int64_t run_ns)
{
	int64_t end = now_ns() + run_ns;

	while (now_ns() < end) {
		int64_t deadline = now_ns() + 1000000, before = 0, t;

		while ((t = now_ns()) < deadline) {
			before = t;
			kgo_yield();
		}
		timing_add(late, before, t, t - deadline);
	}
}

/*
 * A spinner beside a 1 ms sleeper, on one P (sysmon_spin, sysmon_cost):
 * spin_beside_main, as kgo_main's main goroutine with a struct
 * spin_beside, starts the spinner, then sleeps 1 ms at a time for
 * @run_ns (yield_sleeps into @late) and stops it.  The module's counters
 * at the start and the end are kept for the caller.
 */
struct spin_beside {
	struct timing *late;
	int64_t run_ns;
	atomic_bool stop;
	volatile unsigned long spins;
	struct kgo_stats_user start, end;
};

static inline void spin_beside_spinner(void *arg)
{
	struct spin_beside *sb = arg;

	spin_until(&sb->stop, &sb->spins);
}

static inline void spin_beside_main(void *arg)
{
	struct spin_beside *sb = arg;

	kgo_stats(&sb->start);
	kgo_go(spin_beside_spinner, sb);
	kgo_yield();		/* the spinner starts, and is preempted */
	yield_sleeps(sb->late, sb->run_ns);
	kgo_stats(&sb->end);
	atomic_store(&sb->stop, true);
}

/*
 * tick_for - the ticker beside a blocked goroutine (sysmon_block,
 * sysmon_cost): for @run_ns, yield in a loop and record in @stall each
 * gap between two rounds.  @each, if not NULL, runs on every round but
 * the last, with the round's time and @ctx.
 */
static inline void tick_for(struct timing *stall, int64_t run_ns,
			    void (*each)(int64_t now, void *ctx), void *ctx)
{
	int64_t last = now_ns(), end = last + run_ns;

	for (;;) {
		int64_t t = now_ns();

		timing_add(stall, last, t, t - last);
		last = t;
		if (t >= end)
			break;
		if (each)
			each(t, ctx);
		kgo_yield();
	}
}

#endif /* KGO_TESTS_TIMING_UTIL_H */
