/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fast paths make no system call: 100,000 yields, spawns and
 * park/ready round trips on one P.  Every system call of every thread of
 * the process is counted by the kernel (raw_syscalls:sys_enter through
 * perf, syscount_util.h), not only the module's ioctls: futex, mmap,
 * epoll and the rest count too.  The calls seen are named, and the time
 * per operation reported, as TAP comments.
 *
 * What is not the fast path is left out of the windows, and said so:
 *  - start-up: the library starts its spare Ms in the background (clone3,
 *    their stacks, ATTACH) and the first 100 goroutine stacks are mapped
 *    once and kept.  So before measuring, one warm-up round of each loop
 *    runs, and then the process yields until a stretch of 10,000 yields
 *    has no system call at all; the calls the warm-up made are printed;
 *  - preemption and handoff: a G that sysmon finds past its slice (on
 *    TCG a vCPU stalled for 10 ms is enough), or whose M it finds blocked
 *    (a page fault), stops on its thread; its thread's token waits in the
 *    global queue, and the M that takes it (GLOBRUNQGET) hands its P
 *    over (PARK).  So each window may hold at most 2 ioctls per
 *    preemption or handoff the module counted in it, and nothing else:
 *    any other system call fails the case;
 *  - the stack scavenger: its thread wakes every 250 ms (a futex wait),
 *    whatever the goroutines do.  It is turned off here (KGO_SCAVENGE=off);
 *    stack_scavenge tests it.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "syscount_util.h"
#include "tap.h"

#define N	100000

static struct syscount sc;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* One measured loop: the system calls made (the counters' own excluded) and ns per op. */
struct result {
	struct syscount_snap before, after;
	uint64_t calls, ioctls, preempts;
	double ns;
};

/* A measurement begins: @r holds the counters and the clock until it ends. */
static void measure_start(struct result *r)
{
	struct kgo_stats_user st;

	r->preempts = kgo_stats(&st) ? 0 : st.preempts + st.handoffs;
	r->ns = now_ns();
	syscount_read(&sc, &r->before);
}

static void measure_end(struct result *r)
{
	struct kgo_stats_user st;

	syscount_read(&sc, &r->after);
	r->ns = (now_ns() - r->ns) / N;
	r->calls = syscount_calls(&r->before, &r->after);
	r->ioctls = syscount_nr(&r->before, &r->after, SYS_ioctl);
	r->preempts = kgo_stats(&st) ? UINT64_MAX / 4 : st.preempts + st.handoffs - r->preempts;
}

static struct result yield_alone, yield_pair, spawn, parkready, warmup;
static int settle_rounds;
static atomic_int finished;

static void nop(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&finished, 1, memory_order_relaxed);
}

static void yield_half(void *arg)
{
	(void)arg;
	for (int i = 0; i < N / 2; i++)
		kgo_yield();
	atomic_fetch_add(&finished, 1);
}

/* park/ready ping-pong on one P: the partner readies us into runnext. */
static struct kgo_g *waiter;

/* One turn: ready the partner, become the waiter, park until readied. */
/* kgo_park's unlock: the other G is readied only once this one waits. */
static bool ready_other(void *g)
{
	kgo_ready(g);
	return true;
}

/*
 * Wake the other G, and wait.  The ready happens in kgo_park's unlock:
 * readied before, the other could run (this G preempted in between) and
 * ready this one while it still runs.
 */
static void take_turn(void)
{
	struct kgo_g *g = waiter;

	waiter = kgo_self();
	kgo_park(ready_other, g);
}

static void pong(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++)
		take_turn();
}

/* Spawn, run and exit @n goroutines, 100 at a time. */
static void spawn_loop(int n)
{
	atomic_store(&finished, 0);
	for (int i = 0; i < n; i += 100) {
		for (int j = 0; j < 100; j++)
			kgo_go(nop, NULL);
		kgo_yield();
	}
	while (atomic_load(&finished) < n)
		kgo_yield();
}

/* Two Gs taking turns, @n yields in all (N / 2 each: @n is N). */
static void yield_pair_loop(void)
{
	atomic_store(&finished, 0);
	kgo_go(yield_half, NULL);
	kgo_go(yield_half, NULL);
	while (atomic_load(&finished) < 2)
		kgo_yield();
}

/*
 * Start-up done: yields until a stretch of N / 10 yields without a system
 * call (100 stretches at most).  Counted in yields, not read on the clock:
 * where the clock source has no vDSO path (the 6.1 guest), clock_gettime
 * is itself a system call.
 */
static void settle(void)
{
	struct result r;

	for (settle_rounds = 1; settle_rounds <= 100; settle_rounds++) {
		measure_start(&r);
		for (int i = 0; i < N / 10; i++)
			kgo_yield();
		measure_end(&r);
		if (!r.calls)
			return;
	}
}

static void bench(void *arg)
{
	(void)arg;
	measure_start(&warmup);
	spawn_loop(1000);
	yield_pair_loop();
	measure_end(&warmup);
	settle();

	/* 1: one G yielding to itself. */
	measure_start(&yield_alone);
	for (int i = 0; i < N; i++)
		kgo_yield();
	measure_end(&yield_alone);

	/* 2: two Gs taking turns, N yields in all. */
	measure_start(&yield_pair);
	yield_pair_loop();
	measure_end(&yield_pair);

	/* 3: spawn, run and exit N goroutines, 100 at a time. */
	measure_start(&spawn);
	spawn_loop(N);
	measure_end(&spawn);

	/* 4: N park/ready round trips between this G and pong. */
	measure_start(&parkready);
	waiter = kgo_self();
	kgo_go(pong, NULL);
	kgo_park(NULL, NULL);		/* pong readies us */
	for (int i = 1; i < N; i++)
		take_turn();
	kgo_ready(waiter);		/* let pong finish */
	kgo_yield();
	measure_end(&parkready);
}

static void report(const char *what, const struct result *r)
{
	char name[128];

	snprintf(name, sizeof(name), "%d %s", N, what);
	syscount_print(name, &r->before, &r->after);
	tap_ok_fmt(r->calls == r->ioctls && r->ioctls <= 2 * r->preempts,
		   "%s: %llu system calls, none but ioctls, at most 2 per preemption or handoff (%llu ioctls, %llu preemptions and handoffs)",
		   name, (unsigned long long)r->calls, (unsigned long long)r->ioctls,
		   (unsigned long long)r->preempts);
	printf("# %s: %.0f ns each\n", what, r->ns);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 1 };
	int rc, err;

	tap_watchdog(300);
	tap_plan(5);
	setenv("KGO_SCAVENGE", "off", 1);
	err = syscount_open(&sc);
	if (err) {
		/* The guests have tracefs and perf: their absence is a failure. */
		tap_ok_fmt(false, "counting system calls: %s", strerror(-err));
		return tap_done();
	}
	rc = kgo_main(bench, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	syscount_print("warm-up (1000 spawns, 100000 yields), not judged", &warmup.before,
		       &warmup.after);
	printf("# then %d stretch(es) of %d yields until one had no system call%s\n",
	       settle_rounds, N / 10, settle_rounds > 100 ? ": never (measured anyway)" : "");
	report("yields of a lone goroutine", &yield_alone);
	report("yields between two goroutines", &yield_pair);
	report("spawns (spawn, run, exit)", &spawn);
	report("park/ready round trips", &parkready);
	return tap_done();
}
