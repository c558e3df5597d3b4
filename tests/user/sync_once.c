/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_once_do on 2 Ps: 100 goroutines race to run a slow function; it
 * runs once, and every caller returns only after it has (and sees what it
 * wrote).  kgo_numgoroutine: 1 in the main goroutine alone, 51 with 50
 * parked, back to 1 once they end; 0 outside kgo_main.
 */
#include <stdatomic.h>
#include <stdio.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static struct kgo_once once = KGO_ONCE_INIT;
static struct kgo_waitgroup wg;
static atomic_int runs, saw_unset;
static int value;		/* written by the once function, plainly */

static void slow_init(void *arg)
{
	atomic_fetch_add(&runs, 1);
	kgo_sleep(20 * MS);	/* the others pile up meanwhile */
	value = *(int *)arg;
}

static void caller(void *arg)
{
	static int v = 1234;

	(void)arg;
	kgo_once_do(&once, slow_init, &v);
	if (value != 1234)
		atomic_fetch_add(&saw_unset, 1);
	kgo_waitgroup_done(&wg);
}

static void parked(void *arg)
{
	int v;

	kgo_chan_recv(arg, &v);
	kgo_waitgroup_done(&wg);
}

static void main_g(void *arg)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(int), 0);
	uint64_t end;
	int n0, n1, n2 = -1;

	(void)arg;
	kgo_waitgroup_add(&wg, 100);
	for (int i = 0; i < 100; i++)
		kgo_go(caller, NULL);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(atomic_load(&runs) == 1 && atomic_load(&saw_unset) == 0,
		   "100 racing callers: the function ran %d time(s), %d caller(s) returned early",
		   atomic_load(&runs), atomic_load(&saw_unset));
	kgo_once_do(&once, slow_init, NULL);	/* would crash if it ran again */
	tap_ok(atomic_load(&runs) == 1, "a later call does not run it");

	/* The callers may still be on their way out. */
	end = kgo_nanotime() + 2000 * MS;
	while ((n0 = kgo_numgoroutine()) != 1 && kgo_nanotime() < end)
		kgo_sleep(MS);
	kgo_waitgroup_add(&wg, 50);
	for (int i = 0; i < 50; i++)
		kgo_go(parked, c);
	n1 = kgo_numgoroutine();
	kgo_chan_close(c);
	kgo_waitgroup_wait(&wg);
	end = kgo_nanotime() + 2000 * MS;
	while ((n2 = kgo_numgoroutine()) != 1 && kgo_nanotime() < end)
		kgo_sleep(MS);
	tap_ok_fmt(n0 == 1 && n1 == 51 && n2 == 1,
		   "kgo_numgoroutine: %d alone, %d with 50 more, %d after they end", n0, n1, n2);
	kgo_chan_free(c);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(5);
	tap_ok(kgo_numgoroutine() == 0, "kgo_numgoroutine is 0 outside kgo_main");
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
