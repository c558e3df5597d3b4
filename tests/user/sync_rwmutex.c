/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_rwmutex on 2 Ps: 4 readers hold it at once; writers exclude
 * readers and each other (readers never see a half-made update in 20,000
 * operations); writer preference (a reader arriving while a writer waits
 * gets in only after that writer); the try forms; unlocking an unlocked
 * rwmutex is tested in api_errors.
 */
#include <stdatomic.h>
#include <stdio.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static struct kgo_rwmutex rw;
static struct kgo_waitgroup wg;

/* ---- readers share ---- */

static atomic_int inside, max_inside;

static void sharing_reader(void *arg)
{
	uint64_t end = kgo_nanotime() + 2000 * MS;

	(void)arg;
	kgo_rwmutex_rlock(&rw);
	atomic_fetch_add(&inside, 1);
	/* Stay until all 4 are in (or 2 s pass: then they did not share). */
	while (atomic_load(&inside) < 4 && kgo_nanotime() < end)
		kgo_sleep(MS);
	if (atomic_load(&inside) > atomic_load(&max_inside))
		atomic_store(&max_inside, atomic_load(&inside));
	kgo_rwmutex_runlock(&rw);
	kgo_waitgroup_done(&wg);
}

/* ---- exclusion ---- */

static long pair_a, pair_b;
static atomic_int torn, writes;

static void writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		kgo_rwmutex_lock(&rw);
		pair_a++;
		if (i % 16 == 0)
			kgo_yield();	/* a reader let in now would see a != b */
		pair_b++;
		atomic_fetch_add(&writes, 1);
		kgo_rwmutex_unlock(&rw);
	}
	kgo_waitgroup_done(&wg);
}

static void checker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4000; i++) {
		kgo_rwmutex_rlock(&rw);
		if (pair_a != pair_b)
			atomic_fetch_add(&torn, 1);
		if (i % 32 == 0)
			kgo_yield();
		kgo_rwmutex_runlock(&rw);
	}
	kgo_waitgroup_done(&wg);
}

/* ---- writer preference ---- */

static atomic_int order[3], norder;

static void note(int who)
{
	order[atomic_fetch_add(&norder, 1)] = who;
}

static void pending_writer(void *arg)
{
	(void)arg;
	kgo_rwmutex_lock(&rw);
	note(1);
	kgo_sleep(10 * MS);
	kgo_rwmutex_unlock(&rw);
	kgo_waitgroup_done(&wg);
}

static void late_reader(void *arg)
{
	(void)arg;
	kgo_rwmutex_rlock(&rw);
	note(2);
	kgo_rwmutex_runlock(&rw);
	kgo_waitgroup_done(&wg);
}

static bool preference(void)
{
	bool ok = true;

	kgo_rwmutex_rlock(&rw);			/* the first reader: us */
	kgo_waitgroup_add(&wg, 2);
	kgo_go(pending_writer, NULL);
	kgo_sleep(20 * MS);			/* the writer now waits for us */
	ok &= TAP_CHECK(!kgo_rwmutex_tryrlock(&rw));
	kgo_go(late_reader, NULL);
	kgo_sleep(20 * MS);			/* the late reader waits too */
	ok &= TAP_CHECK(atomic_load(&norder) == 0);
	note(0);
	kgo_rwmutex_runlock(&rw);		/* the writer goes first */
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(atomic_load(&norder) == 3);
	ok &= TAP_CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2);
	return ok;
}

static void main_g(void *arg)
{
	bool ok = true;

	(void)arg;
	kgo_waitgroup_add(&wg, 4);
	for (int i = 0; i < 4; i++)
		kgo_go(sharing_reader, NULL);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(atomic_load(&max_inside) == 4, "4 readers hold it at once (%d)",
		   atomic_load(&max_inside));

	kgo_waitgroup_add(&wg, 6);
	for (int i = 0; i < 2; i++)
		kgo_go(writer, NULL);
	for (int i = 0; i < 4; i++)
		kgo_go(checker, NULL);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(atomic_load(&torn) == 0 && atomic_load(&writes) == 2000 && pair_a == 2000 &&
		   pair_b == 2000, "2 writers x 1000, 4 readers x 4000: %d torn reads, %ld writes",
		   atomic_load(&torn), pair_a);

	tap_ok(preference(), "a reader arriving while a writer waits gets in after the writer");

	ok &= TAP_CHECK(kgo_rwmutex_trylock(&rw));
	ok &= TAP_CHECK(!kgo_rwmutex_trylock(&rw) && !kgo_rwmutex_tryrlock(&rw));
	kgo_rwmutex_unlock(&rw);
	ok &= TAP_CHECK(kgo_rwmutex_tryrlock(&rw) && kgo_rwmutex_tryrlock(&rw));
	ok &= TAP_CHECK(!kgo_rwmutex_trylock(&rw));
	kgo_rwmutex_runlock(&rw);
	kgo_rwmutex_runlock(&rw);
	ok &= TAP_CHECK(kgo_rwmutex_trylock(&rw));
	kgo_rwmutex_unlock(&rw);
	tap_ok(ok, "trylock and tryrlock succeed exactly when they should");
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(5);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
