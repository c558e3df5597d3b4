/*
 * The fast paths make no system call: 100,000 yields, spawns and
 * park/ready round trips on one P must each cost fewer than 1% as many
 * ioctls (KGO_IOC_STATS' ioctl counter, before and after).  Reports the
 * time per operation as TAP comments.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define N	100000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t ioctls(void)
{
	struct kgo_stats_user st;

	return kgo_stats(&st) ? UINT64_MAX / 2 : st.ioctls;
}

/* One measured loop: ioctls made (excluding the STATS call) and ns per op. */
struct result {
	uint64_t ioctls;
	double ns;
};

/* A measurement begins: @r holds the counter and the clock until it ends. */
static void measure_start(struct result *r)
{
	r->ioctls = ioctls();
	r->ns = now_ns();
}

static void measure_end(struct result *r)
{
	r->ns = (now_ns() - r->ns) / N;
	r->ioctls = ioctls() - r->ioctls - 1;
}

static struct result yield_alone, yield_pair, spawn, parkready;
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
static void take_turn(void)
{
	struct kgo_g *g = waiter;

	waiter = kgo_self();
	kgo_ready(g);
	kgo_park(NULL, NULL);
}

static void pong(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++)
		take_turn();
}

static void bench(void *arg)
{
	(void)arg;
	/* 1: one G yielding to itself. */
	measure_start(&yield_alone);
	for (int i = 0; i < N; i++)
		kgo_yield();
	measure_end(&yield_alone);

	/* 2: two Gs taking turns, N yields in all. */
	atomic_store(&finished, 0);
	measure_start(&yield_pair);
	kgo_go(yield_half, NULL);
	kgo_go(yield_half, NULL);
	while (atomic_load(&finished) < 2)
		kgo_yield();
	measure_end(&yield_pair);

	/* 3: spawn, run and exit N goroutines, 100 at a time. */
	atomic_store(&finished, 0);
	measure_start(&spawn);
	for (int i = 0; i < N; i += 100) {
		for (int j = 0; j < 100; j++)
			kgo_go(nop, NULL);
		kgo_yield();
	}
	while (atomic_load(&finished) < N)
		kgo_yield();
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
	tap_ok_fmt(r->ioctls < N / 100, "%d %s: %llu ioctls (< %d)", N, what,
		   (unsigned long long)r->ioctls, N / 100);
	printf("# %s: %.0f ns each\n", what, r->ns);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 1 };
	int rc;

	tap_watchdog(300);
	tap_plan(5);
	rc = kgo_main(bench, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	report("yields of a lone goroutine", &yield_alone);
	report("yields between two goroutines", &yield_pair);
	report("spawns (spawn, run, exit)", &spawn);
	report("park/ready round trips", &parkready);
	return tap_done();
}
