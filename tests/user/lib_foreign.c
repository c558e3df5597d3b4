/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Threads that are not goroutines, on 2 Ps: 4 plain pthreads and 8
 * goroutines pass 4,000 values through unbuffered and buffered channels
 * in both directions (every value arrives once); they share a kgo_mutex
 * under contention (a plain counter stays exact); a pthread waits on a
 * waitgroup that goroutines finish, and goroutines wait on one that
 * pthreads finish; a pthread blocks in kgo_select and kgo_sleep.  Each
 * of these waits by sleeping on the thread (a futex: userlib/src/foreign.c);
 * none aborts.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull
#define PER	500		/* values per sender */

static struct kgo_chan *to_threads, *to_goroutines;
static struct kgo_mutex mu;
static long counter;
static atomic_long sum_threads, sum_goroutines;
static struct kgo_waitgroup g_done, t_done;

static void *thread_main(void *arg)
{
	int id = (int)(intptr_t)arg, v;

	for (int i = 0; i < PER; i++) {
		v = id * 100000 + i;
		kgo_chan_send(to_goroutines, &v);	/* blocks: unbuffered */
		if (kgo_chan_recv(to_threads, &v) == 1)
			atomic_fetch_add(&sum_threads, v);
		kgo_mutex_lock(&mu);
		counter++;
		kgo_mutex_unlock(&mu);
	}
	kgo_waitgroup_done(&t_done);
	return NULL;
}

static void goroutine_main(void *arg)
{
	int id = (int)(intptr_t)arg, v;

	for (int i = 0; i < PER / 2; i++) {
		if (kgo_chan_recv(to_goroutines, &v) == 1)
			atomic_fetch_add(&sum_goroutines, v);
		v = id * 100000 + i;
		kgo_chan_send(to_threads, &v);
		kgo_mutex_lock(&mu);
		counter++;
		if (i % 8 == 0)
			kgo_yield();	/* others queue on the mutex meanwhile */
		kgo_mutex_unlock(&mu);
	}
	kgo_waitgroup_done(&g_done);
}

/* ---- a thread waits for goroutines, in select and sleep too ---- */

static atomic_int thread_saw;
static struct kgo_chan *late;

static void *waiting_thread(void *arg)
{
	struct kgo_select_case cs[1] = { { .chan = late, .dir = KGO_SELECT_RECV } };
	uint64_t t0 = kgo_nanotime();
	int v = 0, ok = 0;

	(void)arg;
	kgo_waitgroup_wait(&g_done);
	ok += 1;
	cs[0].elem = &v;
	if (kgo_select(cs, 1, true) == 0 && cs[0].ok && v == 42)
		ok += 1;
	if (kgo_sleep(20 * MS) == 0 && kgo_nanotime() - t0 >= 20 * MS)
		ok += 1;
	atomic_store(&thread_saw, ok);
	return NULL;
}

static void main_g(void *arg)
{
	pthread_t th[4], w;
	long want_t = 0, want_g = 0;
	int v = 42;

	(void)arg;
	to_threads = kgo_chan_new(sizeof(int), 3);
	to_goroutines = kgo_chan_new(sizeof(int), 0);
	late = kgo_chan_new(sizeof(int), 0);
	kgo_waitgroup_add(&g_done, 8);
	kgo_waitgroup_add(&t_done, 4);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < 8; i++)
		kgo_go(goroutine_main, (void *)(intptr_t)(i + 11));
	kgo_waitgroup_wait(&t_done);	/* a goroutine waits for pthreads */
	kgo_waitgroup_wait(&g_done);
	for (int t = 1; t <= 4; t++)
		for (int i = 0; i < PER; i++)
			want_g += t * 100000 + i;
	for (int g = 11; g <= 18; g++)
		for (int i = 0; i < PER / 2; i++)
			want_t += g * 100000 + i;
	tap_ok_fmt(atomic_load(&sum_goroutines) == want_g && atomic_load(&sum_threads) == want_t,
		   "4 pthreads and 8 goroutines: 2000 values each way, each received once");
	tap_ok_fmt(counter == 4 * PER + 8 * PER / 2, "a kgo_mutex shared by both: counter %ld of %d",
		   counter, 4 * PER + 8 * PER / 2);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);

	kgo_waitgroup_add(&g_done, 1);
	pthread_create(&w, NULL, waiting_thread, NULL);
	kgo_sleep(10 * MS);
	kgo_waitgroup_done(&g_done);
	kgo_sleep(10 * MS);
	kgo_chan_send(late, &v);	/* the thread waits in select */
	pthread_join(w, NULL);
	tap_ok_fmt(atomic_load(&thread_saw) == 3,
		   "a pthread blocks in waitgroup_wait, select and sleep, and is woken (%d of 3)",
		   atomic_load(&thread_saw));
	kgo_chan_free(to_threads);
	kgo_chan_free(to_goroutines);
	kgo_chan_free(late);
}

/* ---- no kgo_main at all: two threads on an unbuffered channel ---- */

static struct kgo_chan *pp;
static struct kgo_waitgroup pp_done;
static atomic_long pp_sum;

static void *pp_receiver(void *arg)
{
	int v;

	(void)arg;
	while (kgo_chan_recv(pp, &v) == 1)
		atomic_fetch_add(&pp_sum, v);
	kgo_waitgroup_done(&pp_done);
	return NULL;
}

static bool without_kgo_main(void)
{
	pthread_t th[2];

	pp = kgo_chan_new(sizeof(int), 0);
	kgo_waitgroup_add(&pp_done, 2);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, pp_receiver, NULL);
	for (int i = 1; i <= 1000; i++)
		kgo_chan_send(pp, &i);
	kgo_chan_close(pp);
	kgo_waitgroup_wait(&pp_done);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	kgo_chan_free(pp);
	return TAP_CHECK(atomic_load(&pp_sum) == 1000 * 1001 / 2);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(5);
	tap_ok(without_kgo_main(),
	       "without kgo_main: main sends 1000 values to 2 pthreads, waits on a waitgroup");
	if (access("/dev/kgo", F_OK)) {
		for (int i = 0; i < 4; i++)
			tap_skip_case("under kgo_main", "/dev/kgo missing: is kgo.ko loaded?");
		return tap_done();
	}
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
