/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The 61st-tick rule: with one P whose local queue never empties (four
 * goroutines yielding in turn), work in the global queue still runs,
 * because every 61st schedule on a P looks there first.  A goroutine
 * readied, and one spawned, from a thread that is not an M goes to the
 * global queue; each must run within about 61 schedules.
 *
 * The outside thread cannot read the schedule count at the very moment
 * its ready takes effect, so it reads it just before and just after the
 * call: the G must not have run before the first (it was not runnable
 * yet), and must have run within 61 (+ SLACK) schedules of the second.
 * The distance from the first, the most it can have been, is reported.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define LIMIT	200000	/* yields before giving up: without the rule, forever */
#define SLACK	4

static atomic_long ticks;
static atomic_bool parked, x_ran, y_ran;
static long ready_before, ready_after, x_at, spawn_before, spawn_after, y_at;
static struct kgo_g *xg;
static struct kgo_sema done;

static bool mark_parked(void *arg)
{
	(void)arg;
	atomic_store(&parked, true);
	return true;
}

static void x(void *arg)
{
	(void)arg;
	xg = kgo_self();
	kgo_park(mark_parked, NULL);
	x_at = atomic_load(&ticks);
	atomic_store(&x_ran, true);
}

static void y(void *arg)
{
	(void)arg;
	y_at = atomic_load(&ticks);
	atomic_store(&y_ran, true);
}

static void spin_yield(void)
{
	while (!(atomic_load(&x_ran) && atomic_load(&y_ran)) && atomic_load(&ticks) < LIMIT) {
		atomic_fetch_add(&ticks, 1);
		kgo_yield();
	}
}

static void yielder(void *arg)
{
	(void)arg;
	spin_yield();
	kgo_sema_release(&done);
}

/* Not an M: readies x and spawns y while the yielders keep the P busy. */
static void *outsider(void *arg)
{
	(void)arg;
	while (!atomic_load(&parked))
		usleep(1000);
	while (atomic_load(&ticks) < 1000)
		usleep(1000);
	ready_before = atomic_load(&ticks);
	kgo_ready(xg);
	ready_after = atomic_load(&ticks);
	while (!atomic_load(&x_ran) && atomic_load(&ticks) < LIMIT)
		usleep(1000);
	spawn_before = atomic_load(&ticks);
	kgo_go(y, NULL);
	spawn_after = atomic_load(&ticks);
	return NULL;
}

static void main_fn(void *arg)
{
	pthread_t t;

	(void)arg;
	kgo_go(x, NULL);
	kgo_yield();		/* x parks */
	for (int i = 0; i < 3; i++)
		kgo_go(yielder, NULL);
	pthread_create(&t, NULL, outsider, NULL);
	spin_yield();
	for (int i = 0; i < 3; i++)
		kgo_sema_acquire(&done);
	pthread_join(t, NULL);	/* done by now, or about to be */
}

int main(void)
{
	/* Cooperative: schedules counted exactly, no preemption or handoff between. */
	struct kgo_config cfg = { .nprocs = 1, .flags = KGO_COOPERATIVE };
	int rc;

	tap_watchdog(300);
	tap_plan(3);
	rc = kgo_main(main_fn, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	tap_ok_fmt(atomic_load(&x_ran) && x_at >= ready_before && x_at - ready_after <= 61 + SLACK,
		   "a G readied from outside ran %ld to %ld schedules after the ready (<= 61)",
		   x_at - ready_after, x_at - ready_before);
	tap_ok_fmt(atomic_load(&y_ran) && y_at >= spawn_before && y_at - spawn_after <= 61 + SLACK,
		   "a G spawned from outside ran %ld to %ld schedules after the spawn (<= 61)",
		   y_at - spawn_after, y_at - spawn_before);
	return tap_done();
}
