/* SPDX-License-Identifier: MIT */
/*
 * KGO_DEBUG=schedtrace=MS: every MS milliseconds, one line on stderr in the
 * manner of Go's GODEBUG=schedtrace, from the module's own counters (the
 * STATS ioctl) and the shared per-P queues:
 *
 *   SCHED 120ms: gomaxprocs=2 idleprocs=1 threads=4 spinningthreads=0
 *       idlethreads=2 runqueue=0 [3 0]
 *
 * (one line).  runqueue is the global queue; the bracket has each P's
 * local queue, runnext included.  A thread of its own (not an M) prints
 * them from kgo_main's start to its end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static pthread_t kgo_trace_thread;
static bool kgo_trace_running;
static pthread_mutex_t kgo_trace_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kgo_trace_cond = PTHREAD_COND_INITIALIZER;
static bool kgo_trace_stop;
static unsigned long kgo_trace_ms;

static uint32_t kgo_local_len(uint32_t id)
{
	struct kgo_shared_p *p = kgo_shared_p(id);

	/* Relaxed: a snapshot for people to read, taken while others run. */
	return kgo_runqlen(p) + (__atomic_load_n(&p->runnext, __ATOMIC_RELAXED) ? 1 : 0);
}

/* One line; an ioctl from a thread that is not an M is fine (STATS). */
static void kgo_schedtrace_line(uint64_t ms)
{
	char line[64 + 12 * 64];
	struct kgo_stats st = { .size = sizeof(st) };
	size_t len;
	uint32_t i;

	if (kgo_ioctl(KGO_IOC_STATS, &st))
		return;
	len = (size_t)snprintf(line, sizeof(line),
			       "SCHED %llums: gomaxprocs=%u idleprocs=%u threads=%u spinningthreads=%u idlethreads=%u runqueue=%u [",
			       (unsigned long long)ms, st.nprocs, st.npidle, st.nms,
			       st.nmspinning, st.nmidle, st.gq_len);
	for (i = 0; i < st.nprocs && i < kgo_rt.max_procs && len < sizeof(line) - 16; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%u",
					i ? " " : "", kgo_local_len(i));
	snprintf(line + len, sizeof(line) - len, "]\n");
	fputs(line, stderr);
}

static void *kgo_schedtrace_main(void *unused)
{
	struct timespec start, next;

	(void)unused;
	clock_gettime(CLOCK_MONOTONIC, &start);
	next = start;
	pthread_mutex_lock(&kgo_trace_lock);
	while (!kgo_trace_stop) {
		uint64_t ms = ((uint64_t)(next.tv_sec - start.tv_sec) * 1000000000ull +
			       (uint64_t)(next.tv_nsec - start.tv_nsec)) / 1000000;

		kgo_schedtrace_line(ms);
		next.tv_nsec += (long)(kgo_trace_ms % 1000) * 1000000L;
		next.tv_sec += (time_t)(kgo_trace_ms / 1000) + next.tv_nsec / 1000000000L;
		next.tv_nsec %= 1000000000L;
		while (!kgo_trace_stop &&
		       pthread_cond_timedwait(&kgo_trace_cond, &kgo_trace_lock, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&kgo_trace_lock);
	return NULL;
}

/* kgo_main's start, after SETUP: starts the trace thread if asked for. */
void kgo_schedtrace_start(void)
{
	pthread_condattr_t ca;

	kgo_trace_ms = kgo_debug_value("schedtrace");
	if (!kgo_trace_ms)
		return;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&kgo_trace_cond, &ca);
	pthread_condattr_destroy(&ca);
	kgo_trace_stop = false;
	kgo_trace_running = !kgo_thread_start(&kgo_trace_thread, kgo_schedtrace_main, NULL, 0);
}

/* kgo_main's teardown, while the instance still exists. */
/* A fork's child: the tracing thread is not there. */
void kgo_schedtrace_forget_after_fork(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;

	kgo_trace_lock = fresh;
	kgo_trace_cond = fresh_cond;
	kgo_trace_running = false;
	kgo_trace_stop = false;
}

void kgo_schedtrace_stop(void)
{
	if (!kgo_trace_running)
		return;
	pthread_mutex_lock(&kgo_trace_lock);
	kgo_trace_stop = true;
	pthread_cond_signal(&kgo_trace_cond);
	pthread_mutex_unlock(&kgo_trace_lock);
	pthread_join(kgo_trace_thread, NULL);
	kgo_trace_running = false;
}
