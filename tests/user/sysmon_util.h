/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the sysmon_* tests: a monotonic clock in nanoseconds,
 * the module's counters, whether kgo.ko has sysmon at all, and the
 * judgement of timing bounds against the machine's own noise.  (The
 * watchdog that fails a test instead of hanging it is tap.h's.)
 *
 * The machine's noise.  Under TCG on a shared host a virtual CPU can stop
 * for tens of milliseconds; then a plain thread's 20 us sleep wakes up
 * 100 ms late, and no scheduler can keep a 2 ms bound.  So while a test
 * measures, one probe thread per CPU (plain threads pinned to it, not Ms,
 * real-time when allowed so that the test's own busy threads cannot
 * delay them) sleeps PROBE_NS at a time and records every wakeup later
 * than PROBE_NOISE_NS.  A measurement over its bound is judged against the
 * probes: if, during its very window, the CPUs' timer wakeups were late
 * by at least the excess in all (summed over the CPUs: what is measured
 * goes through threads on several of them, sysmon, an M, the next M), the
 * machine explains it and the case is inconclusive (a TAP SKIP that gives
 * the numbers); if not, it fails.
 * The bound itself never moves.
 */
#ifndef KGO_TESTS_SYSMON_UTIL_H
#define KGO_TESTS_SYSMON_UTIL_H

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>
#include <linux/kgo.h>

#include "tap.h"

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A snapshot of the module's counters (zeroes outside kgo_main). */
static inline struct kgo_stats_user stats_now(void)
{
	struct kgo_stats_user st = { 0 };

	kgo_stats(&st);
	return st;
}

/* Whether /dev/kgo has sysmon; exits with the TAP skip status if not. */
static inline void need_sysmon(int plan)
{
	struct kgo_version v;
	int fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	bool ok = fd >= 0 && ioctl(fd, KGO_IOC_VERSION, &v) == 0 &&
		  (v.features & KGO_FEAT_SYSMON);

	if (fd >= 0)
		close(fd);
	if (ok)
		return;
	tap_plan(plan);
	for (int i = 0; i < plan; i++)
		tap_skip_case("sysmon", "kgo.ko without sysmon (or no /dev/kgo)");
	exit(tap_done());
}

#define PROBE_NS	500000
#define PROBE_NOISE_NS	200000
#define PROBE_MAX	16384
#define PROBE_CPUS	16

struct noise {
	int64_t start, end, late;
	int cpu;
};

static struct noise noise[PROBE_MAX];
static atomic_int nnoise;
static atomic_bool probing;
static pthread_t probe_threads[PROBE_CPUS];
static int nprobes;
static atomic_llong probe_worst;

static void *probe_main(void *arg)
{
	int cpu = (int)(intptr_t)arg;
	struct sched_param sp = { .sched_priority = 1 };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	/* Root in the guest; elsewhere the probe is an ordinary thread. */
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	while (atomic_load(&probing)) {
		struct timespec ts = { 0, PROBE_NS };
		int64_t t0 = now_ns(), t1, late;

		nanosleep(&ts, NULL);
		t1 = now_ns();
		late = t1 - t0 - PROBE_NS;
		if (late > atomic_load(&probe_worst))
			atomic_store(&probe_worst, late);
		if (late > PROBE_NOISE_NS) {
			int i = atomic_fetch_add(&nnoise, 1);

			if (i < PROBE_MAX)
				noise[i] = (struct noise){ t0, t1, late, cpu };
		}
	}
	return NULL;
}

/* Probes on every CPU, from before a measurement to after it. */
static inline void probes_start(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	atomic_store(&nnoise, 0);
	atomic_store(&probe_worst, 0);
	atomic_store(&probing, true);
	for (nprobes = 0; nprobes < n && nprobes < PROBE_CPUS; nprobes++)
		if (pthread_create(&probe_threads[nprobes], NULL, probe_main,
				   (void *)(intptr_t)nprobes))
			break;
}

static inline void probes_stop(void)
{
	atomic_store(&probing, false);
	for (int i = 0; i < nprobes; i++)
		pthread_join(probe_threads[i], NULL);
	nprobes = 0;
}

/* How long timer wakeups were held up during [a, b], on all CPUs together. */
static inline int64_t noise_during(int64_t a, int64_t b)
{
	int64_t sum = 0;
	int n = atomic_load(&nnoise);

	if (n > PROBE_MAX)
		n = PROBE_MAX;
	for (int i = 0; i < n; i++)
		if (noise[i].start < b && noise[i].end > a)
			sum += noise[i].late;
	return sum;
}

/*
 * One timing bound: every measurement counted, and the windows of those
 * over an eighth of the bound kept (so that the worst in windows the
 * machine left alone can be told too).
 */
#define TIMING_EVENTS	4096
struct timing {
	int64_t bound, worst;
	long count, over;
	struct {
		int64_t start, end, value;
	} ev[TIMING_EVENTS];
	int nev;
};

static inline void timing_init(struct timing *t, int64_t bound)
{
	t->bound = bound;
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
 * The TAP line for @t (after probes_stop): ok within the bound; SKIP when
 * every excess is covered by the machine's own stalls in its window; else
 * not ok.  @what names the measurement.
 */
static inline void timing_verdict(const struct timing *t, const char *what)
{
	int64_t worst_unexplained = 0, noise_then = 0, clean_worst = 0, worst_net = 0;
	int unexplained = 0, kept_over = 0, clean = 0;
	char name[256], why[256];

	for (int i = 0; i < t->nev; i++) {
		int64_t excess = t->ev[i].value - t->bound;
		int64_t env = noise_during(t->ev[i].start, t->ev[i].end);

		if (t->ev[i].value - env > worst_net)
			worst_net = t->ev[i].value - env;
		if (!env) {
			clean++;
			if (t->ev[i].value > clean_worst)
				clean_worst = t->ev[i].value;
		}
		if (excess <= 0)
			continue;
		kept_over++;

		if (getenv("KGO_TEST_WINDOWS"))
			printf("# window: %.3f ms from %lld.%09lld (monotonic), noise %.3f ms\n",
			       t->ev[i].value / 1e6, (long long)(t->ev[i].start / 1000000000),
			       (long long)(t->ev[i].start % 1000000000), env / 1e6);
		if (env >= excess)
			continue;
		if (unexplained++ < 5)
			printf("# not explained: %.3f ms from %lld.%09lld (monotonic), noise %.3f ms\n",
			       t->ev[i].value / 1e6, (long long)(t->ev[i].start / 1000000000),
			       (long long)(t->ev[i].start % 1000000000), env / 1e6);
		if (t->ev[i].value > worst_unexplained) {
			worst_unexplained = t->ev[i].value;
			noise_then = env;
		}
	}
	if (t->over > kept_over)
		unexplained += (int)(t->over - kept_over);	/* not kept: count them as failures */
	printf("# %s: %ld measured, worst %.3f ms, %ld over %.3f ms, %d not explained by the machine"
	       " (a plain thread's %.1f ms sleep woke up to %.3f ms late, %d times > %.1f ms)\n",
	       what, t->count, t->worst / 1e6, t->over, t->bound / 1e6, unexplained,
	       PROBE_NS / 1e6, (double)atomic_load(&probe_worst) / 1e6, atomic_load(&nnoise),
	       PROBE_NOISE_NS / 1e6);
	if (clean)
		printf("# %s: worst in windows without machine noise: %.3f ms\n", what,
		       clean_worst / 1e6);
	else
		printf("# %s: in windows without machine noise: all under %.3f ms\n", what,
		       t->bound / 8e6);
	printf("# %s: worst net of the machine's noise in its window: %.3f ms\n", what,
	       (t->nev ? worst_net : 0) / 1e6);
	snprintf(name, sizeof(name), "%s: worst %.3f ms (<= %.3f ms)", what, t->worst / 1e6,
		 t->bound / 1e6);
	if (!t->over) {
		tap_ok(true, name);
	} else if (!unexplained) {
		snprintf(why, sizeof(why),
			 "inconclusive: all %ld times over the bound, the machine itself stalled timer wakeups as long",
			 t->over);
		tap_skip_case(name, why);
	} else {
		snprintf(tap_why, sizeof(tap_why),
			 "%d of %ld over the bound with less machine noise (worst %.3f ms with %.3f ms of noise)",
			 unexplained, t->over, worst_unexplained / 1e6, noise_then / 1e6);
		tap_ok(false, name);
	}
}

#endif /* KGO_TESTS_SYSMON_UTIL_H */
