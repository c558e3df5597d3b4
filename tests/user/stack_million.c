/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A million goroutines alive at once (issue 17), in one child on 2 Ps:
 * N goroutines (1,000,000 unless the first argument or $KGO_MILLION says
 * otherwise), started by one spawner goroutine per P, each park on one
 * wait group, all at once, with
 * vm.max_map_count at whatever the system has (its default in the guest);
 * then one done readies them all, and each, having resumed, parks again on
 * a second wait group that never opens.  The process's memory areas are
 * counted while they are all parked: with the module's stack mapping they
 * stay far below vm.max_map_count, where two per stack could not even have
 * held N / 2.  Resident bytes per parked goroutine are reported.  Last, a
 * stack overflow in one more goroutine, with the N others parked again,
 * must still give the overflow message and exit status 2.
 *
 * Each parked goroutine keeps at least its top stack page (its struct
 * kgo_g and its frames), so N of them need N * 4 KiB and more: a guest
 * without that much available memory skips the cases, saying so (make
 * check gives the stock kernels' guests 6 GiB, and the debug kernel's run
 * a smaller N in args.list).
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

#define CHECKS	6

struct result {
	int spawn_err;			/* first kgo_go error, or 0 */
	long spawned, parked, resumed;
	long maps_parked;		/* lines of /proc/self/maps, all parked */
	long rss_before, rss_parked;	/* VmRSS in KiB */
	long ms_spawn, ms_park, ms_resume;	/* how long each phase took */
};

static long n_goroutines = 1000000;
static struct result *res;		/* shared with the parent */
#define NPROCS	2

static _Atomic long parked, resumed, spawned;
static struct kgo_waitgroup gate, again, spawners;

static void waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	kgo_waitgroup_wait(&gate);
	atomic_fetch_add(&resumed, 1);
	kgo_waitgroup_wait(&again);	/* never opens: parked until the end */
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

/* Waits (sleeping) until *@count reaches @want; the ms it took. */
static long wait_for(_Atomic long *count, long want)
{
	uint64_t t0 = kgo_nanotime();

	while (atomic_load(count) < want)
		kgo_sleep(1000000);
	return (long)((kgo_nanotime() - t0) / 1000000);
}

/* Starts @arg waiters, counting them in spawned; stops at an error. */
static void spawner(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++) {
		int err = kgo_go(waiter, NULL);

		if (err) {
			/* Both spawners may fail: the first error stays. */
			__atomic_compare_exchange_n(&res->spawn_err, &(int){ 0 }, err, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
			break;
		}
		atomic_fetch_add_explicit(&spawned, 1, memory_order_relaxed);
	}
	kgo_waitgroup_done(&spawners);
}

static void main_g(void *arg)
{
	uint64_t t0 = kgo_nanotime();
	long i;

	(void)arg;
	res->rss_before = rss_kib();
	kgo_waitgroup_add(&gate, 1);
	kgo_waitgroup_add(&again, 1);
	/* One spawner per P: the first touches of new stacks, in parallel. */
	kgo_waitgroup_add(&spawners, NPROCS);
	for (i = 0; i < NPROCS; i++)
		kgo_go(spawner, (void *)(intptr_t)(n_goroutines / NPROCS +
						  (i < n_goroutines % NPROCS)));
	kgo_waitgroup_wait(&spawners);
	res->spawned = atomic_load(&spawned);
	res->ms_spawn = (long)((kgo_nanotime() - t0) / 1000000);
	res->ms_park = wait_for(&parked, res->spawned);
	kgo_sleep(20000000);	/* the last ones get from the count into the wait */
	res->parked = atomic_load(&parked);
	res->maps_parked = count_maps();
	res->rss_parked = rss_kib();
	if (res->spawned < n_goroutines)
		return;
	t0 = kgo_nanotime();
	kgo_waitgroup_done(&gate);
	wait_for(&resumed, res->spawned);
	res->ms_resume = (long)((kgo_nanotime() - t0) / 1000000);
	kgo_sleep(20000000);	/* the last ones get into the second wait */
	res->resumed = atomic_load(&resumed);
	kgo_go(deep, NULL);
	kgo_sleep(60ULL * 1000000000);	/* the overflow ends the process */
}

static int million_child(void *ctx)
{
	struct kgo_config cfg = { .nprocs = NPROCS };

	(void)ctx;
	return kgo_main(main_g, NULL, &cfg) ? 3 : 0;
}

int main(int argc, char **argv)
{
	const char *env = getenv("KGO_MILLION");
	long max_map_count = -1, avail, need;
	char err[1024];
	FILE *f;
	int st, i;

	if (argc > 1)
		n_goroutines = atol(argv[1]);
	else if (env)
		n_goroutines = atol(env);
	f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%ld", &max_map_count) != 1)
			max_map_count = -1;
		fclose(f);
	}
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED || n_goroutines <= 0)
		return 1;
	tap_plan(CHECKS);
	printf("# %ld goroutines on 2 Ps, vm.max_map_count %ld\n", n_goroutines,
	       max_map_count);

	/* 4 KiB and some page tables per parked G, and room for the rest. */
	avail = meminfo_kib("MemAvailable");
	need = n_goroutines * 9 / 2 + 64 * 1024;
	if (avail < need) {
		char why[128];

		snprintf(why, sizeof(why), "needs %ld MiB available, has %ld MiB",
			 need / 1024, avail / 1024);
		for (i = 0; i < CHECKS; i++)
			tap_skip_case("goroutines at once", why);
		return tap_done();
	}

	st = run_in_child(STDERR_FILENO, million_child, NULL, err, sizeof(err));
	printf("# status %#x, spawned %ld (err %d), parked %ld, resumed %ld, %ld memory "
	       "areas; RSS %ld KiB before, %ld KiB parked: %ld bytes per parked goroutine\n",
	       st, res->spawned, res->spawn_err, res->parked, res->resumed,
	       res->maps_parked, res->rss_before, res->rss_parked,
	       res->spawned ? (res->rss_parked - res->rss_before) * 1024 / res->spawned : 0);
	printf("# %ld ms to spawn, %ld ms more until all parked, %ld ms to ready them "
	       "all and see them resume\n", res->ms_spawn, res->ms_park, res->ms_resume);
	if (err[0])
		printf("# stderr: %s\n", err);
	tap_ok_fmt(res->spawned == n_goroutines && res->spawn_err == 0,
		   "%ld goroutines started (kgo_go's first error: %d)", res->spawned,
		   res->spawn_err);
	tap_ok_fmt(res->parked == n_goroutines, "all %ld parked at once", res->parked);
	tap_ok_fmt(res->maps_parked > 0 && res->maps_parked < 2000 &&
		   (max_map_count < 0 || res->maps_parked < max_map_count / 8),
		   "%ld memory areas with all of them parked", res->maps_parked);
	tap_ok_fmt(res->rss_parked - res->rss_before >= n_goroutines * 4,
		   "at least a 4 KiB page resident per parked goroutine "
		   "(the floor; the fault handler hands out real pages)");
	tap_ok_fmt(res->resumed == n_goroutines, "one done readied all %ld: %ld resumed",
		   n_goroutines, res->resumed);
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
		   strstr(err, "overflowed its 65536-byte stack\n") != NULL,
		   "an overflow with the %ld others parked again: status %#x", res->resumed,
		   st);
	return tap_done();
}
