/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running out of memory in a memory cgroup (issue 17).  Goroutine stacks
 * are the process's anonymous memory, charged when first touched; past a
 * cgroup's memory.max the kernel reclaims and then its OOM killer acts,
 * as for memory a program mallocs and touches (kgo_main.3, "Running
 * out").  A child in a cgroup with memory.max at 32 MiB and no swap parks
 * goroutines, 4 KiB each, towards 100,000 (400 MiB).  Checked:
 *   - the child is killed by SIGKILL, not hung and not crashed, after
 *     parking at least half of what the limit holds;
 *   - the cgroup's memory.events counts the OOM kill;
 *   - kgo.ko's instance went with the process (not listed in debugfs),
 *     and the cgroup's memory.current falls back below 1 MiB: nothing
 *     the module charged to the cgroup is left behind;
 *   - a second kgo program in the same cgroup, with room, runs.
 * kgo-vm's kernel-log check passes over the OOM killer's report.  Needs
 * root and cgroup2 with the memory controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "file_util.h"
#include "tap.h"

#define CG		"/tmp/kgo-cg-mem"
#define CG_CHILD	CG "/child"
#define LIMIT		(32L << 20)
#define WANT		100000
#define SECOND		1000

static _Atomic long *parked;		/* shared with the parent */
static struct kgo_waitgroup gate, done;

static void waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(parked, 1);
	kgo_waitgroup_wait(&gate);
	kgo_waitgroup_done(&done);
}

/* Parks @arg goroutines, then readies them and waits for them all. */
static void main_g(void *arg)
{
	long n = (long)(intptr_t)arg;

	kgo_waitgroup_add(&gate, 1);
	kgo_waitgroup_add(&done, n);
	for (long i = 0; i < n; i++)
		if (kgo_go(waiter, NULL))
			kgo_waitgroup_done(&done);
	kgo_waitgroup_done(&gate);
	kgo_waitgroup_wait(&done);
}

/* A child in CG_CHILD running main_g for @n goroutines; its wait status. */
static int run_in_cgroup(long n, pid_t *pidp)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int st = -1;
	pid_t pid;

	atomic_store(parked, 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (file_write(CG_CHILD "/cgroup.procs", "0"))
			_exit(5);
		_exit(kgo_main(main_g, (void *)(intptr_t)n, &cfg) ? 3 : 0);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	*pidp = pid;
	return st;
}

static bool cgroup_make(void)
{
	char limit[32];

	mkdir(CG, 0755);
	if (mount("cgroup2", CG, "cgroup2", 0, NULL) && errno != EBUSY)
		return false;
	file_write(CG "/cgroup.subtree_control", "+memory");
	mkdir(CG_CHILD, 0755);
	snprintf(limit, sizeof(limit), "%ld\n", LIMIT);
	/* No swap: the limit is the memory (memory.swap.max is absent without swap). */
	file_write(CG_CHILD "/memory.swap.max", "0");
	return !file_write(CG_CHILD "/memory.max", limit);
}

static void cgroup_remove(void)
{
	rmdir(CG_CHILD);
	umount(CG);
	rmdir(CG);
}

#define PLAN	5

int main(void)
{
	long fits = LIMIT / 4096, oom_kills, current = -1;
	int st, left, waited;
	pid_t pid, second;

	tap_plan(PLAN);
	parked = mmap(NULL, sizeof(*parked), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (parked == MAP_FAILED)
		return 1;
	if (geteuid() != 0 || !cgroup_make()) {
		for (int i = 0; i < PLAN; i++)
			tap_missing("a memory cgroup's limit", "root and cgroup2's memory controller");
		cgroup_remove();
		return tap_done();
	}

	st = run_in_cgroup(WANT, &pid);
	oom_kills = file_key(CG_CHILD "/memory.events", "oom_kill");
	printf("# status %#x after %ld of %d goroutines parked (%ld fit in %ld MiB); "
	       "oom_kill %ld\n", st, atomic_load(parked), WANT, fits, LIMIT >> 20, oom_kills);
	tap_ok_fmt(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL &&
		   atomic_load(parked) >= fits / 2 && atomic_load(parked) < WANT,
		   "killed by SIGKILL at the limit, after %ld goroutines parked",
		   atomic_load(parked));
	tap_ok_fmt(oom_kills >= 1, "memory.events counts the OOM kill (%ld)", oom_kills);

	/* Its instance went with it: released after the last close (RCU, then a work). */
	for (waited = 0; waited < 2000 && (left = kgo_instance_listed(pid)) > 0; waited += 10)
		usleep(10000);
	tap_ok_fmt(left == 0, "the killed child's instance is gone (debugfs: %s)",
		   left < 0 ? "missing" : left ? "still listed" : "not listed");
	for (waited = 0; waited < 2000; waited += 10) {
		current = file_long(CG_CHILD "/memory.current");
		if (current >= 0 && current < (1L << 20))
			break;
		usleep(10000);
	}
	tap_ok_fmt(current >= 0 && current < (1L << 20),
		   "the cgroup's memory.current back to %ld KiB after %d ms", current / 1024,
		   waited);

	st = run_in_cgroup(SECOND, &second);
	printf("# a second program, %d goroutines: status %#x, %ld parked\n", SECOND, st,
	       atomic_load(parked));
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 0 && atomic_load(parked) == SECOND,
		   "a second program in the cgroup runs its %d goroutines", SECOND);
	cgroup_remove();
	return tap_done();
}
