/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_cond on 2 Ps: a queue with 4 consumers and 2 producers passes
 * 2,000 items, each consumed once; signal wakes exactly one of 4 waiters
 * and broadcast the rest; a broadcast from a plain thread wakes a
 * goroutine; 5,000 round trips of a cond ping-pong lose no wakeup.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static struct kgo_mutex mu;
static struct kgo_cond cv;
static struct kgo_waitgroup wg;

/* ---- a queue ---- */

#define NITEMS	2000
static int queue[NITEMS], qhead, qtail;
static bool producers_done;
static atomic_long consumed_sum;
static atomic_int consumed_n;

static void producer(void *arg)
{
	int base = (int)(intptr_t)arg;

	for (int i = 0; i < NITEMS / 2; i++) {
		kgo_mutex_lock(&mu);
		queue[qtail++] = base + i + 1;
		kgo_cond_signal(&cv);
		kgo_mutex_unlock(&mu);
		if (i % 64 == 0)
			kgo_yield();
	}
	kgo_waitgroup_done(&wg);
}

static void consumer(void *arg)
{
	(void)arg;
	kgo_mutex_lock(&mu);
	for (;;) {
		while (qhead == qtail && !producers_done)
			kgo_cond_wait(&cv, &mu);
		if (qhead == qtail)
			break;
		atomic_fetch_add(&consumed_sum, queue[qhead++]);
		atomic_fetch_add(&consumed_n, 1);
	}
	kgo_mutex_unlock(&mu);
	kgo_waitgroup_done(&wg);
}

static bool queue_test(void)
{
	long want = 0;

	kgo_waitgroup_add(&wg, 2);
	for (int i = 0; i < 4; i++)
		kgo_go(consumer, NULL);
	kgo_go(producer, (void *)(intptr_t)0);
	kgo_go(producer, (void *)(intptr_t)100000);
	kgo_waitgroup_wait(&wg);	/* the producers */
	kgo_waitgroup_add(&wg, 4);
	kgo_mutex_lock(&mu);
	producers_done = true;
	kgo_cond_broadcast(&cv);
	kgo_mutex_unlock(&mu);
	kgo_waitgroup_wait(&wg);	/* the consumers */
	for (int i = 0; i < NITEMS / 2; i++)
		want += (i + 1) + (100000 + i + 1);
	return TAP_CHECK(atomic_load(&consumed_n) == NITEMS) &&
	       TAP_CHECK(atomic_load(&consumed_sum) == want);
}

/* ---- signal wakes one ---- */

static int waiting, generation;
static atomic_int woken;

static void sleeper(void *arg)
{
	int gen;

	(void)arg;
	kgo_mutex_lock(&mu);
	gen = generation;
	waiting++;
	while (generation == gen)
		kgo_cond_wait(&cv, &mu);
	kgo_mutex_unlock(&mu);
	atomic_fetch_add(&woken, 1);
	kgo_waitgroup_done(&wg);
}

/* Start @n sleepers and return once all of them wait on cv. */
static void start_sleepers(int n)
{
	kgo_mutex_lock(&mu);
	waiting = 0;
	kgo_mutex_unlock(&mu);
	kgo_waitgroup_add(&wg, n);
	for (int i = 0; i < n; i++)
		kgo_go(sleeper, NULL);
	for (;;) {
		kgo_mutex_lock(&mu);
		if (waiting == n) {
			kgo_mutex_unlock(&mu);
			return;
		}
		kgo_mutex_unlock(&mu);
		kgo_sleep(MS);
	}
}

static bool signal_one(void)
{
	bool ok = true;

	atomic_store(&woken, 0);
	start_sleepers(4);
	/*
	 * The generation moves on, so every sleeper would leave its loop:
	 * only the number of wakeups limits how many do.
	 */
	kgo_mutex_lock(&mu);
	generation++;
	kgo_cond_signal(&cv);
	kgo_mutex_unlock(&mu);
	kgo_sleep(30 * MS);
	ok &= TAP_CHECK(atomic_load(&woken) == 1);
	kgo_cond_broadcast(&cv);
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(atomic_load(&woken) == 4);
	return ok;
}

/* ---- from a plain thread ---- */

static void *thread_broadcast(void *arg)
{
	struct timespec ts = { 0, 20 * MS };

	(void)arg;
	nanosleep(&ts, NULL);
	kgo_mutex_lock(&mu);	/* uncontended here: a plain thread may */
	generation++;
	kgo_mutex_unlock(&mu);
	kgo_cond_broadcast(&cv);
	return NULL;
}

/* ---- ping-pong ---- */

#define ROUNDS	5000
static int turn;		/* 0: ping's turn, 1: pong's */

static int pongs;	/* under mu */

static void ponger(void *arg)
{
	(void)arg;
	kgo_mutex_lock(&mu);
	for (int i = 0; i < ROUNDS; i++) {
		while (turn != 1)
			kgo_cond_wait(&cv, &mu);
		turn = 0;
		pongs++;
		kgo_cond_signal(&cv);
	}
	kgo_mutex_unlock(&mu);
	kgo_waitgroup_done(&wg);
}

static void main_g(void *arg)
{
	struct kgo_cond fresh = KGO_COND_INIT, zero = KGO_COND_INIT;
	pthread_t th;

	(void)arg;
	kgo_cond_signal(&fresh);
	kgo_cond_broadcast(&fresh);
	/* Nothing owed to a later waiter: the next wait still blocks. */
	tap_ok(!memcmp(&fresh, &zero, sizeof(zero)),
	       "signal and broadcast with no waiter return and leave the cond as it was");
	tap_ok(queue_test(), "2 producers, 4 consumers: 2000 items consumed once each");
	tap_ok(signal_one(), "signal wakes exactly one of 4 waiters, broadcast the other 3");

	atomic_store(&woken, 0);
	start_sleepers(1);
	pthread_create(&th, NULL, thread_broadcast, NULL);
	kgo_waitgroup_wait(&wg);
	pthread_join(th, NULL);
	tap_ok(atomic_load(&woken) == 1, "a broadcast from a plain thread wakes a goroutine");

	kgo_waitgroup_add(&wg, 1);
	kgo_go(ponger, NULL);
	kgo_mutex_lock(&mu);
	for (int i = 0; i < ROUNDS; i++) {
		turn = 1;
		kgo_cond_signal(&cv);
		while (turn != 0)
			kgo_cond_wait(&cv, &mu);
	}
	kgo_mutex_unlock(&mu);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(pongs == ROUNDS && turn == 0,
		   "%d of %d ping-pong round trips on one cond (a lost wakeup hangs)", pongs, ROUNDS);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(6);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
