/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Handoff, GOMAXPROCS=1: goroutines blocked in raw system calls, which the
 * library knows nothing about, do not stall the others.  One G reads an
 * empty pipe (woken every 100 ms by a byte, then blocking again), one
 * sleeps 50 ms at a time in syscall(SYS_nanosleep); the main G ticks,
 * clock_gettime and kgo_yield in a loop, and measures the longest time it
 * did not get to run: at most 6 ms (sysmon takes the P of an M blocked on
 * two passes in a row and hands it to a spare M, and a returning call's
 * thread gets the P back first, STALL_MAX_NS; judged against what
 * the machine allowed a plain thread in the same window, timing_util.h).  The reads return their
 * bytes and never EINTR.  Go 1.23, for comparison: an unannounced 50 ms
 * nanosleep stalls the other goroutine ~45 ms.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "sysmon_util.h"
#include "timing_util.h"

/*
 * The bound.  A goroutine whose call returns while its P is busy waits on
 * its own thread, and the P comes back to that thread (a wakeup) before
 * the goroutine can block again and lose it (another): two thread
 * switches per cycle, up to about 1.5 ms each under TCG, on top of the
 * two sysmon passes.  Measured on stock 6.12 (TCG, 2 vCPUs): 4.8 and
 * 4.9 ms of kgo's own in the worst stall of 140,000 and of 126,000; 6 ms
 * leaves a margin.
 */
#define STALL_MAX_NS	6000000
#define RUN_NS		1000000000
#define WRITE_EVERY_NS	100000000

static int pipefd[2];
static atomic_bool stop;
static atomic_int reads, read_errors, naps, nap_errors;
static struct kgo_sema done;
static struct timing stall;

/* The ticker's writes to the reader: how many, and when the next is due. */
struct writes {
	int n;
	int64_t next;
};

static struct kgo_stats_user st;

static void reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		char c;
		long n = syscall(SYS_read, pipefd[0], &c, 1);

		if (n == 1 && c == 'x')
			atomic_fetch_add(&reads, 1);
		else
			atomic_fetch_add(&read_errors, 1);
	}
	kgo_sema_release(&done);
}

static void napper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct timespec ts = { 0, 50000000 };

		if (syscall(SYS_nanosleep, &ts, NULL) == 0)
			atomic_fetch_add(&naps, 1);
		else
			atomic_fetch_add(&nap_errors, 1);
	}
	kgo_sema_release(&done);
}

/* The ticker's every round: a byte to the reader now and then. */
static void write_now_and_then(int64_t now, void *ctx)
{
	struct writes *w = ctx;

	if (now >= w->next) {
		if (write(pipefd[1], "x", 1) == 1)
			w->n++;
		w->next += WRITE_EVERY_NS;
	}
}

static void ticker(void *arg)
{
	struct kgo_stats_user st0;
	struct writes w;

	(void)arg;
	kgo_go(reader, NULL);
	kgo_go(napper, NULL);
	kgo_yield();		/* both block, one after the other */
	st0 = stats_now();
	w = (struct writes){ .next = now_ns() + WRITE_EVERY_NS };
	tick_for(&stall, RUN_NS, write_now_and_then, &w);
	st = stats_now();
	st.handoffs -= st0.handoffs;
	st.exitsyscalls -= st0.exitsyscalls;
	/* The last byte ends the reader; the napper wakes by itself. */
	atomic_store(&stop, true);
	if (write(pipefd[1], "x", 1) == 1)
		w.n++;
	kgo_sema_acquire(&done);
	kgo_sema_acquire(&done);
	printf("# %d bytes written, %d read\n", w.n, atomic_load(&reads));
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 1 };
	int rc;

	need_sysmon(5);
	tap_watchdog(300);
	tap_plan(5);
	if (pipe(pipefd))
		return 1;
	timing_init(&stall, STALL_MAX_NS);
	probes_start();
	rc = kgo_main(ticker, NULL, &cfg);
	probes_stop();
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	tap_ok_fmt(st.handoffs > 0 && st.exitsyscalls > 0,
		   "blocked Ms lost their Ps (%llu handoffs, %llu exitsyscalls)",
		   (unsigned long long)st.handoffs, (unsigned long long)st.exitsyscalls);
	timing_verdict(&stall, "stall of a ticking G by Gs blocked in read and nanosleep");
	tap_ok_fmt(atomic_load(&reads) >= 5 && !atomic_load(&read_errors),
		   "the blocked read returned each byte (%d), never an error (%d)",
		   atomic_load(&reads), atomic_load(&read_errors));
	tap_ok_fmt(atomic_load(&naps) >= 5 && !atomic_load(&nap_errors),
		   "each nanosleep completed (%d), never EINTR (%d)",
		   atomic_load(&naps), atomic_load(&nap_errors));
	return tap_done();
}
