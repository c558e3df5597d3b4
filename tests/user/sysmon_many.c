/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Many goroutines blocking at random, GOMAXPROCS=2: 1,000 goroutines, half
 * of which block in raw system calls (a nanosleep of 0-2 ms, or a read of
 * a pipe that one of the other half writes a byte to), all finish, and
 * the number of threads stays bounded by what the blocking needed: sysmon
 * and the spawner start Ms only to keep SPARE_MS idle ones while others
 * are blocked, so there are never more Ms than the most goroutines that
 * were blocked (or coming back from a block) at once, plus one per P, plus
 * the spares, plus a few threads that are not Ms.  (kgo.ko's max_ms,
 * 1,024, would not do as the bound: the module refuses a 1,025th M, so a
 * spawner that ran away could never be seen going past it.)  The most
 * threads seen (/proc/self/task, sampled every millisecond) and the most
 * goroutines blocked at once are reported.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "sysmon_util.h"

#define NG		1000
#define NPIPES		16
#define NPROCS		2
#define NOT_MS		4	/* the spawner, this test's sampler, and room for more */
#define SLACK		4	/* Ms attaching while the count was sampled */

struct job {
	int kind;		/* 0 compute, 1 nanosleep, 2 read, 3 compute + write */
	int pipe;
	long ns;
	int spin;
};

static struct job jobs[NG];
static int pipes[NPIPES][2];
static struct kgo_sema done;
static atomic_int finished, errors;
static atomic_bool sampling = true;
static atomic_int max_threads, blocked, max_blocked;
static struct kgo_stats_user st;


static void *sampler(void *arg)
{
	(void)arg;
	while (atomic_load(&sampling)) {
		int n = count_threads();

		if (n > atomic_load(&max_threads))
			atomic_store(&max_threads, n);
		usleep(1000);
	}
	return NULL;
}

static void worker(void *arg)
{
	struct job *j = arg;
	volatile unsigned long x = 0;

	for (int i = 0; i < j->spin; i++)
		x += (unsigned long)i;
	if (j->kind == 1 || j->kind == 2) {
		int n = atomic_fetch_add(&blocked, 1) + 1, m = atomic_load(&max_blocked);

		while (n > m && !atomic_compare_exchange_weak(&max_blocked, &m, n))
			;
	}
	if (j->kind == 1) {
		struct timespec ts = { 0, j->ns };

		if (syscall(SYS_nanosleep, &ts, NULL))
			atomic_fetch_add(&errors, 1);
	} else if (j->kind == 2) {
		char c;

		if (syscall(SYS_read, pipes[j->pipe][0], &c, 1) != 1)
			atomic_fetch_add(&errors, 1);
	} else if (j->kind == 3) {
		if (write(pipes[j->pipe][1], "z", 1) != 1)
			atomic_fetch_add(&errors, 1);
	}
	if (j->kind == 1 || j->kind == 2) {
		/* Back from the block only once this G has a P again. */
		kgo_yield();
		atomic_fetch_sub(&blocked, 1);
	}
	if (j->spin % 3 == 0)
		kgo_yield();
	atomic_fetch_add(&finished, 1);
	kgo_sema_release(&done);
}

static void main_fn(void *arg)
{
	struct kgo_stats_user st0 = stats_now();

	(void)arg;
	for (int i = 0; i < NG; i++) {
		int err = kgo_go(worker, &jobs[i]);

		if (err)
			atomic_fetch_add(&errors, 1);
		if (i % 10 == 9)
			kgo_yield();
	}
	for (int i = 0; i < NG; i++)
		kgo_sema_acquire(&done);
	st = stats_now();
	st.handoffs -= st0.handoffs;
	st.exitsyscalls -= st0.exitsyscalls;
}

/* Half block: nanosleeps and reads; every read has its write among the rest. */
static void plan(void)
{
	int order[NG], readers = 0, writers = 0;

	srand(6);
	for (int i = 0; i < NG; i++)
		order[i] = i;
	for (int i = NG - 1; i > 0; i--) {
		int k = rand() % (i + 1), t = order[i];

		order[i] = order[k];
		order[k] = t;
	}
	for (int i = 0; i < NG; i++) {
		struct job *j = &jobs[order[i]];

		j->spin = rand() % 20000;
		if (i < NG / 4) {
			j->kind = 1;
			j->ns = rand() % 2000001;
		} else if (i < NG / 2) {
			j->kind = 2;
			j->pipe = readers++ % NPIPES;
		} else if (writers < readers) {
			j->kind = 3;
			j->pipe = writers++ % NPIPES;
		}
	}
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = NPROCS };
	pthread_t t;
	int rc, bound;

	need_sysmon(4);
	tap_watchdog(600);
	tap_plan(4);
	for (int i = 0; i < NPIPES; i++)
		if (pipe(pipes[i]))
			return 1;
	plan();
	pthread_create(&t, NULL, sampler, NULL);
	rc = kgo_main(main_fn, NULL, &cfg);
	atomic_store(&sampling, false);
	pthread_join(t, NULL);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	tap_ok_fmt(atomic_load(&finished) == NG && !atomic_load(&errors),
		   "all %d goroutines finished (%d), no call failed (%d)", NG,
		   atomic_load(&finished), atomic_load(&errors));
	printf("# %llu handoffs, %llu exitsyscalls, %u Ms attached at the end, at most %d threads\n",
	       (unsigned long long)st.handoffs, (unsigned long long)st.exitsyscalls, st.nms,
	       atomic_load(&max_threads));
	tap_ok_fmt(st.handoffs > 0, "blocked Ms handed their Ps off (%llu)",
		   (unsigned long long)st.handoffs);
	bound = atomic_load(&max_blocked) + NPROCS + SPARE_MS + NOT_MS + SLACK;
	tap_ok_fmt(atomic_load(&max_threads) > 0 && atomic_load(&max_threads) <= bound,
		   "threads stayed bounded: at most %d (<= %d: %d blocked at once + %d Ps + %d spares + %d)",
		   atomic_load(&max_threads), bound, atomic_load(&max_blocked), NPROCS, SPARE_MS,
		   NOT_MS + SLACK);
	return tap_done();
}
