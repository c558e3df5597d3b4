/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running out of memory areas is clean (issue 17).  vm.max_map_count is
 * lowered to 1000 for the test (and put back).  With kgo.ko's stack
 * mapping, 20,000 goroutines parked at once still fit: stacks do not take
 * a memory area each.  With the per-stack fallback (KGO_STACKS=mmap),
 * kgo_go must fail with -ENOMEM once the areas run out, and the program
 * must go on: the parked goroutines are readied and finish, and new ones
 * start again once their stacks are free.  Each case in a child.  Needs
 * root (to write the sysctl): skipped, saying so, without it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define MAP_COUNT_LOW	1000
#define WANT		20000

struct result {
	long spawned, finished, after;
	int err;
};

static struct result *res;
static _Atomic long finished, after_ran;
static struct kgo_waitgroup gate, done;

static void waiter(void *arg)
{
	(void)arg;
	kgo_waitgroup_wait(&gate);
	atomic_fetch_add(&finished, 1);
	kgo_waitgroup_done(&done);
}

static void later(void *arg)
{
	(void)arg;
	atomic_fetch_add(&after_ran, 1);
	kgo_waitgroup_done(&done);
}

static void main_g(void *arg)
{
	long i;

	(void)arg;
	kgo_waitgroup_add(&gate, 1);
	for (i = 0; i < WANT; i++) {
		int err;

		kgo_waitgroup_add(&done, 1);
		err = kgo_go(waiter, NULL);
		if (err) {
			kgo_waitgroup_add(&done, -1);
			res->err = err;
			break;
		}
	}
	res->spawned = i;
	kgo_yield();
	kgo_waitgroup_done(&gate);
	kgo_waitgroup_wait(&done);
	res->finished = atomic_load(&finished);
	/* The stacks are free again: new goroutines reuse them. */
	for (i = 0; i < 100; i++) {
		kgo_waitgroup_add(&done, 1);
		if (kgo_go(later, NULL))
			kgo_waitgroup_add(&done, -1);
	}
	kgo_waitgroup_wait(&done);
	res->after = atomic_load(&after_ran);
}

static int run(bool fallback)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int st = -1;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (fallback)
			setenv("KGO_STACKS", "mmap", 1);
		_exit(kgo_main(main_g, NULL, &cfg) ? 3 : 0);
	}
	waitpid(pid, &st, 0);
	return st;
}

static bool write_sysctl(long v)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

int main(void)
{
	long old = -1;
	FILE *f;
	int st;

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 1;
	tap_plan(2);
	f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%ld", &old) != 1)
			old = -1;
		fclose(f);
	}
	if (old < 0 || !write_sysctl(MAP_COUNT_LOW)) {
		tap_skip_case("stacks with vm.max_map_count lowered", "cannot write the sysctl");
		tap_skip_case("the fallback runs out cleanly", "cannot write the sysctl");
		return tap_done();
	}

	st = run(false);
	printf("# module's mapping: status %#x, spawned %ld (err %d), finished %ld, "
	       "then %ld more\n", st, res->spawned, res->err, res->finished, res->after);
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 0 && res->spawned == WANT &&
		   res->finished == WANT && res->after == 100,
		   "vm.max_map_count %d: %d goroutines parked at once on the module's "
		   "stack mapping", MAP_COUNT_LOW, WANT);

	st = run(true);
	printf("# per-stack fallback: status %#x, spawned %ld (err %d), finished %ld, "
	       "then %ld more\n", st, res->spawned, res->err, res->finished, res->after);
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 0 && res->err == -ENOMEM &&
		   res->spawned > 0 && res->spawned < WANT &&
		   res->finished == res->spawned && res->after == 100,
		   "per-stack fallback: kgo_go returns -ENOMEM after %ld, and the program "
		   "goes on", res->spawned);
	write_sysctl(old);
	return tap_done();
}
