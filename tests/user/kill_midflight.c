// SPDX-License-Identifier: GPL-2.0
/*
 * SIGKILL at random moments: a child process drives an instance hard
 * (Ms parking, readying, stealing, overflowing into the global queue, one
 * M blocked in read() holding a P so that sysmon hands it off) and is
 * killed after a random delay.  Every instance must be torn down: the
 * debugfs view lists none of the dead children (debugfs missing is a
 * failure, not a pass), and the harness checks kmemleak and that kgo.ko
 * unloads afterwards.  What the children did before the kill is checked
 * too, through a shared page: SET_PREEMPT succeeded in every child that
 * got that far, and sysmon really took blocked_m's P (the instance's
 * handoff counter, polled by the child) before the kill in at least one
 * child in 20, so that kills after a handoff are really among those
 * tested (every 8th child lives 100-300 ms for that: on the debug
 * kernel, few children killed within 40 ms have blocked_m blocked yet).  How long the handoffs took to be seen is reported (on a loaded
 * TCG host, tens of milliseconds: not a bound this test can assert).
 *
 *   kill_midflight [ITERATIONS [SEED]]    default 200
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "dev_util.h"
#include "file_util.h"
#include "tap.h"

static struct inst in;
static int block_pipe[2];

/* What a child reports before it dies, in a page shared with the parent. */
struct report {
	int set_preempt;	/* its result; 1 until it returns */
	int handoff;		/* the instance counted a handoff */
	int64_t handoff_at;	/* CLOCK_MONOTONIC when the child saw it */
	int64_t blocked_at;	/* CLOCK_MONOTONIC when blocked_m went to block; 0 before */
};

static struct report *reports, *my_report;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * The redirect target that SET_PREEMPT needs.  It runs only if sysmon
 * preempts blocked_m in the moment between its store of G and its read()
 * (a host slow enough to stall that thread for the 1 ms slice): then the
 * thread waits here for the kill like the others.  Entered by a redirect,
 * not a call, so it makes its system call itself rather than through a
 * libc function that may expect an aligned stack.
 */
__attribute__((noinline, used)) static void trampoline_stub(void)
{
	for (;;)
		__asm__ volatile("syscall" : : "a"(SYS_pause) : "rcx", "r11", "memory");
}

static void *busy_m(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 2654435761u + 1;
	struct kgo_attach a;
	struct kgo_park pk;
	uint64_t g = 1;

	if (attach(&in, 0, &a))
		return NULL;
	for (;;) {
		int n = (int)(rnd(&seed) % 300);

		park(&in, KGO_IOC_PARK, a.m, rnd(&seed) % 2 ? KGO_PARK_NOWAIT : 0,
		     2000000, &pk);
		if (pk.p != KGO_NO_P) {
			struct kgo_shared_p *p = inst_p(&in, pk.p);

			while (n-- > 0 && ring_put(p, g))
				g++;
			if (rnd(&seed) % 4 == 0)
				ready(&in, KGO_IOC_RUNQPUTSLOW, a.m, g++);
			park(&in, KGO_IOC_STEAL, a.m, 0, 0, &pk);
		}
		ready(&in, KGO_IOC_READY, 0, g++);
	}
	return NULL;
}

/* Holds a P "in a G" and blocks: sysmon takes the P away. */
static void *blocked_m(void *arg)
{
	struct kgo_attach a;
	struct kgo_shared_m *ms;
	char c;

	(void)arg;
	if (attach(&in, KGO_ATTACH_ACQUIRE_P, &a))
		return NULL;
	ms = (struct kgo_shared_m *)((char *)in.map + in.s.m_off + (size_t)a.m * in.s.m_stride);
	ring_put(inst_p(&in, a.p), 77);
	/* Before the G state: a handoff can only come after it. */
	__atomic_store_n(&my_report->blocked_at, mono_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&ms->state, KGO_MS_G, __ATOMIC_RELEASE);
	if (read(block_pipe[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

static void child(struct report *r, uint64_t seed)
{
	struct kgo_preempt pc = {
		.size = sizeof(struct kgo_preempt),
		.trampoline = (uintptr_t)trampoline_stub,
		.text_start = (uintptr_t)trampoline_stub,
		.text_end = (uintptr_t)trampoline_stub + 1,
		.slice_ns = 1000000,
		.spare_ms = 2,
	};
	pthread_t t;
	int i, n = 2 + (int)(rnd(&seed) % 3);

	if (inst_open(&in, 2, 0) || pipe(block_pipe))
		_exit(3);
	my_report = r;
	r->set_preempt = xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc);
	pthread_create(&t, NULL, blocked_m, NULL);
	for (i = 0; i < n; i++)
		pthread_create(&t, NULL, busy_m, (void *)(uintptr_t)(seed + i));
	for (;;) {
		struct kgo_stats st = { .size = sizeof(st) };
		struct timespec ms = { 0, 1000000 };

		if (!r->handoff && xioctl(in.fd, KGO_IOC_STATS, &st) == 0 && st.handoffs) {
			r->handoff_at = mono_ns();
			__atomic_store_n(&r->handoff, 1, __ATOMIC_RELEASE);
		}
		nanosleep(&ms, NULL);
	}
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 200;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) | 1;
	int i, listed, killed = 0, still_listed = 0, checked = 0, reached = 0, preempt_ok = 0;
	int handed_off = 0;
	int64_t slowest = 0, late_seen[4] = { 0 };

	require_module();
	tap_plan(4);
	reports = mmap(NULL, (size_t)(iters > 0 ? iters : 1) * sizeof(*reports),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (reports == MAP_FAILED)
		return 1;
	printf("# seed %llu\n", (unsigned long long)seed);
	for (i = 0; i < iters; i++) {
		/* Every 8th lives 100-300 ms, long enough for a handoff on any kernel. */
		long ns = i % 8 == 7 ? 100000000 + (long)(rnd(&seed) % 200000000)
				     : (long)(rnd(&seed) % 40000000);
		struct timespec d = { 0, ns };
		int status;
		struct report *r = &reports[i];
		pid_t pid;

		r->set_preempt = 1;
		r->blocked_at = 0;
		pid = fork();
		if (pid == 0)
			child(r, rnd(&seed));
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		if (r->set_preempt != 1) {
			reached++;
			preempt_ok += r->set_preempt == 0;
		}
		if (__atomic_load_n(&r->handoff, __ATOMIC_ACQUIRE)) {
			int64_t took = r->handoff_at - r->blocked_at;

			handed_off++;
			if (took > slowest)
				slowest = took;
			late_seen[took < 5000000 ? 0 : took < 10000000 ? 1 : took < 20000000 ? 2 : 3]++;
		}
		if (WIFEXITED(status))
			printf("# child %d exited with %d before the kill\n", pid, WEXITSTATUS(status));
		/* The release runs as the process dies: gone from the list by now. */
		listed = kgo_instance_listed(pid);
		if (listed >= 0) {
			checked++;
			still_listed += listed == 1;
		}
	}
	tap_ok_fmt(killed == iters, "%d/%d children killed mid-flight", killed, iters);
	printf("# handoffs seen after blocked_m blocked: %lld < 5 ms, %lld < 10 ms, %lld < 20 ms, %lld later; slowest %.1f ms\n",
	       (long long)late_seen[0], (long long)late_seen[1], (long long)late_seen[2],
	       (long long)late_seen[3], slowest / 1e6);
	tap_ok_fmt(reached > 0 && preempt_ok == reached,
		   "SET_PREEMPT succeeded in every child that got to it (%d of %d)", preempt_ok,
		   reached);
	tap_ok_fmt(handed_off > 0 && handed_off >= iters / 20,
		   "sysmon took the blocked M's P before the kill in %d children (>= %d)",
		   handed_off, iters / 20);
	tap_ok_fmt(checked == iters && still_listed == 0,
		   "no dead child's instance left (%d of %d checked in debugfs, %d left)", checked,
		   iters, still_listed);
	return tap_done();
}
