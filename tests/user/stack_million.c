/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A million goroutines alive at once (issue 17).  In a child per case:
 * N goroutines (1,000,000 unless $KGO_MILLION says otherwise) each park
 * on one wait group, all at once, then are all readied by one done and
 * must all resume; with nprocs 1 and 2, vm.max_map_count at whatever the
 * system has (its default in the guest).  The process's memory areas are
 * counted while they are all parked: with the module's stack mapping they
 * stay far below vm.max_map_count, where two per stack could not even
 * have held N / 2.  Resident bytes per parked goroutine are reported.
 * Then a stack overflow in one goroutine, with the N others parked,
 * still gives the overflow message and exit status 2.
 *
 * Each parked goroutine keeps at least its top stack page (its struct
 * kgo_g and its frames), so N of them need N * 4 KiB and more: a guest
 * without that much available memory skips the cases, saying so.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "child_util.h"
#include "mem_util.h"
#include "tap.h"

struct result {
	int spawn_err;			/* first kgo_go error, or 0 */
	long spawned, parked, resumed;
	long maps_parked;		/* lines of /proc/self/maps, all parked */
	long rss_before, rss_parked;	/* VmRSS in KiB */
	long ms_spawn, ms_park, ms_resume;	/* how long each phase took */
};

static long n_goroutines = 1000000;
static struct result *res;		/* shared with the parent */
static _Atomic long parked, resumed;
static struct kgo_waitgroup gate, finished;
static bool overflow_case;

static void waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	kgo_waitgroup_wait(&gate);
	atomic_fetch_add(&resumed, 1);
	kgo_waitgroup_done(&finished);
}

static volatile int limit = 1 << 30;

static int recurse(int depth)
{
	volatile char frame[200];

	frame[0] = (char)depth;
	if (depth >= limit)
		return frame[0];
	return recurse(depth + 1) + frame[0];
}

static void deep(void *arg)
{
	(void)arg;
	recurse(0);
}

static void main_g(void *arg)
{
	long i;
	int err;

	uint64_t t0 = kgo_nanotime(), t1;

	(void)arg;
	res->rss_before = rss_kib();
	kgo_waitgroup_add(&gate, 1);
	kgo_waitgroup_add(&finished, n_goroutines);
	for (i = 0; i < n_goroutines; i++) {
		err = kgo_go(waiter, NULL);
		if (err) {
			res->spawn_err = err;
			kgo_waitgroup_add(&finished, i - n_goroutines);
			break;
		}
	}
	res->spawned = i;
	t1 = kgo_nanotime();
	res->ms_spawn = (long)((t1 - t0) / 1000000);
	while (atomic_load(&parked) < res->spawned)
		kgo_sleep(1000000);
	res->ms_park = (long)((kgo_nanotime() - t1) / 1000000);
	kgo_sleep(20000000);	/* the last ones get from the count into the wait */
	res->parked = atomic_load(&parked);
	res->maps_parked = count_maps();
	res->rss_parked = rss_kib();
	if (overflow_case) {
		kgo_go(deep, NULL);
		kgo_sleep(60ULL * 1000000000);	/* the overflow ends the process */
		return;
	}
	t1 = kgo_nanotime();
	kgo_waitgroup_done(&gate);
	kgo_waitgroup_wait(&finished);
	res->resumed = atomic_load(&resumed);
	res->ms_resume = (long)((kgo_nanotime() - t1) / 1000000);
}

/* One case in a child (child_util.h): @nprocs, with an overflow or not. */
struct million_case {
	int nprocs;
	bool overflow;
};

static int million_child(void *ctx)
{
	const struct million_case *c = ctx;
	struct kgo_config cfg = { .nprocs = c->nprocs };

	overflow_case = c->overflow;
	return kgo_main(main_g, NULL, &cfg) ? 3 : 0;
}

/* Runs the case in a child; its wait status; its stderr into @err. */
static int run_child(int nprocs, bool overflow, char *err, size_t size)
{
	struct million_case c = { nprocs, overflow };

	memset(res, 0, sizeof(*res));
	return run_in_child(STDERR_FILENO, million_child, &c, err, size);
}

int main(void)
{
	const char *env = getenv("KGO_MILLION");
	long max_map_count = -1, avail;
	char err[1024];
	FILE *f;
	int st, nprocs;

	if (env)
		n_goroutines = atol(env);
	f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%ld", &max_map_count) != 1)
			max_map_count = -1;
		fclose(f);
	}
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 1;
	tap_plan(7);
	printf("# %ld goroutines, vm.max_map_count %ld\n", n_goroutines, max_map_count);

	/* 4 KiB per parked G is the floor; ask for 5 and some room. */
	avail = meminfo_kib("MemAvailable");
	if (avail < n_goroutines * 5 + 256 * 1024) {
		char why[128];

		snprintf(why, sizeof(why), "needs %ld MiB available, has %ld MiB",
			 (n_goroutines * 5 + 256 * 1024) / 1024, avail / 1024);
		tap_skip_case("goroutines at once", why);
		tap_skip_case("goroutines at once", why);
		tap_skip_case("goroutines at once", why);
		tap_skip_case("goroutines at once", why);
		tap_skip_case("goroutines at once", why);
		tap_skip_case("goroutines at once", why);
		tap_skip_case("goroutines at once", why);
		return tap_done();
	}

	for (nprocs = 1; nprocs <= 2; nprocs++) {
		st = run_child(nprocs, false, err, sizeof(err));
		printf("# nprocs %d: status %#x, spawned %ld (err %d), parked %ld, "
		       "resumed %ld, %ld memory areas; RSS %ld KiB before, %ld KiB "
		       "parked: %ld bytes per parked goroutine\n", nprocs, st,
		       res->spawned, res->spawn_err, res->parked, res->resumed,
		       res->maps_parked, res->rss_before, res->rss_parked,
		       res->spawned ? (res->rss_parked - res->rss_before) * 1024 /
				      res->spawned : 0);
		printf("# nprocs %d: %ld ms to spawn, %ld ms more until all parked, %ld ms to "
		       "ready and finish them all; %ld ns per goroutine in all\n", nprocs,
		       res->ms_spawn, res->ms_park, res->ms_resume,
		       res->spawned ? (res->ms_spawn + res->ms_park + res->ms_resume) *
				      1000000 / res->spawned : 0);
		if (err[0])
			printf("# stderr: %s\n", err);
		tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
			   res->spawned == n_goroutines && res->parked == n_goroutines &&
			   res->resumed == n_goroutines,
			   "nprocs %d: %ld goroutines parked at once, all readied, all resumed",
			   nprocs, n_goroutines);
		tap_ok_fmt(res->maps_parked > 0 && res->maps_parked < 2000 &&
			   (max_map_count < 0 || res->maps_parked < max_map_count / 8),
			   "nprocs %d: %ld memory areas with all of them parked", nprocs,
			   res->maps_parked);
		tap_ok_fmt(res->rss_parked - res->rss_before >= n_goroutines * 4,
			   "nprocs %d: at least a 4 KiB page resident per parked goroutine "
			   "(the floor; the fault handler hands out real pages)", nprocs);
	}

	st = run_child(2, true, err, sizeof(err));
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 2 && res->parked == n_goroutines &&
		   strstr(err, "overflowed its 65536-byte stack\n") != NULL,
		   "an overflow with %ld others parked: status %#x, %s", res->parked, st, err);
	return tap_done();
}
