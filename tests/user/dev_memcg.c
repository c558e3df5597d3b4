// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel memory an instance uses is charged to the process's memory
 * cgroup (GFP_KERNEL_ACCOUNT): in a cgroup v2 with a small memory.max,
 * instances grow memory.current, and past the limit SETUP fails with
 * ENOMEM instead of the kernel running out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "dev_util.h"
#include "file_util.h"
#include "tap.h"

#define CG "/tmp/kgo-cg"

/* In the child, inside the cgroup: open instances until SETUP fails. */
static int charge_child(void)
{
	struct kgo_version v = { .size = sizeof(v) };
	long before = file_long(CG "/child/memory.current"), after;
	int i, fd, err = 0;

	fd = open(KGO_DEVICE, O_RDWR);
	if (fd < 0 || ioctl(fd, KGO_IOC_VERSION, &v))
		return 10;
	/*
	 * Ten instances with 64 Ps: each about 64 * 2.2 KiB of shared pages
	 * plus its M slots.  (Charges go through a per-CPU stock of 64 pages,
	 * so one small instance may not move memory.current at all.)
	 */
	for (i = 0; i < 10; i++) {
		struct kgo_setup s = { .size = sizeof(s), .nprocs = 64 };
		int f = open(KGO_DEVICE, O_RDWR);

		if (f < 0 || ioctl(f, KGO_IOC_SETUP, &s))
			return 11;
	}
	after = file_long(CG "/child/memory.current");
	printf("# memory.current %ld -> %ld after ten 64-P instances\n", before, after);
	if (after - before < 10 * 64 * 2048)
		return 12;
	/* Many more: the 4 MiB limit must stop them with ENOMEM. */
	for (i = 0; i < 4000 && !err; i++) {
		struct kgo_setup s = { .size = sizeof(s), .nprocs = 64 };
		int f = open(KGO_DEVICE, O_RDWR);

		if (f < 0) {
			err = errno;
			break;
		}
		if (ioctl(f, KGO_IOC_SETUP, &s))
			err = errno;
	}
	printf("# stopped after %d more instances with errno %d (%s)\n", i, err, strerror(err));
	return err == ENOMEM ? 0 : 13;
}

int main(void)
{
	int status = -1;
	pid_t pid;
	bool ok;

	require_module();
	tap_plan(1);
	mkdir(CG, 0755);
	if (mount("cgroup2", CG, "cgroup2", 0, NULL) && errno != EBUSY) {
		tap_skip_case("instances charged to the memory cgroup", "no cgroup2");
		return tap_done();
	}
	file_write(CG "/cgroup.subtree_control", "+memory");
	mkdir(CG "/child", 0755);
	if (file_write(CG "/child/memory.max", "4194304")) {
		tap_skip_case("instances charged to the memory cgroup", "no memory controller");
		return tap_done();
	}
	pid = fork();
	if (pid == 0) {
		char me[32];

		snprintf(me, sizeof(me), "%d", getpid());
		if (file_write(CG "/child/cgroup.procs", me))
			_exit(20);
		_exit(charge_child());
	}
	waitpid(pid, &status, 0);
	ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	tap_ok_fmt(ok, "instances are charged to the memory cgroup, ENOMEM at its limit (child status %d)",
		   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	rmdir(CG "/child");
	umount(CG);
	return tap_done();
}
