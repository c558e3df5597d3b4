/* SPDX-License-Identifier: GPL-2.0 */
/*
 * 100,000 goroutines created and finished, on 1 P and then on 4 Ps (two
 * kgo_main calls in one process), each counted exactly once.  The main
 * goroutine spawns them in batches of 1,000 without yielding, so the ring
 * overflows into the global queue (runqputslow), and waits for each batch
 * on a kgo_sema that the workers release, so it parks and is readied from
 * whichever M ran the last worker.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define N	100000
#define BATCH	1000

static unsigned char hits[N];
static atomic_int count, errors, badarg;
static struct kgo_sema batch_done;
static double ns_per_spawn;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void worker(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	if (i < N)
		hits[i]++;	/* one G per index; the sema orders it before the check */
	else
		atomic_fetch_add(&badarg, 1);
	atomic_fetch_add(&count, 1);
	kgo_sema_release(&batch_done);
}

static void spawner(void *arg)
{
	double t0 = now_ns();

	(void)arg;
	for (uintptr_t i = 0; i < N; i += BATCH) {
		for (uintptr_t j = i; j < i + BATCH; j++)
			if (kgo_go(worker, (void *)j))
				atomic_fetch_add(&errors, 1);
		for (int j = 0; j < BATCH; j++)
			kgo_sema_acquire(&batch_done);
	}
	ns_per_spawn = (now_ns() - t0) / N;
}

static void run(int nprocs)
{
	struct kgo_config cfg = { .nprocs = nprocs };
	int rc, once = 0;

	memset(hits, 0, sizeof(hits));
	atomic_store(&count, 0);
	atomic_store(&errors, 0);
	atomic_store(&badarg, 0);
	kgo_sema_init(&batch_done, 0);
	rc = kgo_main(spawner, NULL, &cfg);
	for (int i = 0; i < N; i++)
		once += hits[i] == 1;
	tap_ok_fmt(rc == 0 && atomic_load(&errors) == 0,
		   "%d Ps: kgo_main returned %d, %d spawn errors", nprocs, rc,
		   atomic_load(&errors));
	tap_ok_fmt(atomic_load(&count) == N && once == N && !atomic_load(&badarg),
		   "%d Ps: %d goroutines finished, %d of %d ran exactly once",
		   nprocs, atomic_load(&count), once, N);
	printf("# %d Ps: %.0f ns per spawn+run+exit (with the batch waits)\n",
	       nprocs, ns_per_spawn);
}

int main(void)
{
	tap_watchdog(300);
	tap_plan(4);
	run(1);
	run(4);
	return tap_done();
}
