// SPDX-License-Identifier: GPL-2.0
/*
 * Who may be an M: only a thread of the process that opened the instance,
 * and only for as long as it runs that process's program.
 *  - a CLONE_VM child (shares the address space, not the thread group) and
 *    a vfork child are refused ATTACH with EPERM, while a thread is not;
 *  - a thread that attached, holds a P, has its slot saying "in a G" and
 *    preemption armed, then execs (keeping the fd: no O_CLOEXEC) is never
 *    redirected in the new program, and sysmon takes its P back;
 *  - the shared region stays out of a forked child: MADV_DOFORK is
 *    refused, and the child faults where the parent's mapping was.
 *
 *   dev_owner              the tests
 *   dev_owner --exec FD    (internal) the program after the exec
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/wait.h>
#include <time.h>

#include "dev_util.h"
#include "tap.h"

#define EXIT_REDIRECTED	42	/* the new program ran the old trampoline */
#define EXIT_P_HELD	43	/* sysmon left the P with the exec'd thread */
#define EXIT_NO_DEBUGFS	44	/* could not look (no debugfs): a skip */
#define EXIT_NOT_EPERM	45	/* the old instance still answered the new program */

static struct inst in;
static volatile int clone_result = 1, vfork_result = 1;

/*
 * The trampoline.  The test program is exec'd with address randomisation
 * off, so the new program has this function at the same address: a
 * redirect that should not have happened lands here, and says so.
 */
static int exec_fd;
static volatile int before_exec;	/* 1 in the program that execs, 0 after */

static __attribute__((noreturn)) void exec_again(void)
{
	char fdstr[16];

	snprintf(fdstr, sizeof(fdstr), "%d", exec_fd);
	execl("/proc/self/exe", "dev_owner", "--exec", fdstr, (char *)NULL);
	_exit(3);
}

/*
 * In the program that is about to exec, sysmon may rightly preempt the
 * thread between its store of G and its execve (a slow or loaded host
 * stalls it for a slice): the redirect lands here and the thread goes on
 * with its exec.  In the new program it must never land here.
 */
__attribute__((noinline, noreturn)) static void redirected_here(void)
{
	if (before_exec)
		exec_again();
	_exit(EXIT_REDIRECTED);
}

static int clone_child(void *arg)
{
	struct kgo_attach a = { .size = sizeof(a) };

	(void)arg;
	clone_result = xioctl(in.fd, KGO_IOC_ATTACH, &a);
	return 0;
}

static void *thread_attach(void *arg)
{
	struct kgo_attach a = { .size = sizeof(a) };

	*(int *)arg = xioctl(in.fd, KGO_IOC_ATTACH, &a);
	if (!*(int *)arg)
		xioctl(in.fd, KGO_IOC_DETACH, &a.m);
	return NULL;
}

static void test_clone_vm(void)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int status, thread_err = 1;
	pthread_t t;
	pid_t pid;

	if (inst_open(&in, 1, 0)) {
		tap_ok(false, "instance");
		tap_ok(false, "vfork");
		tap_ok(false, "thread");
		return;
	}
	pid = clone(clone_child, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
	if (pid > 0)
		waitpid(pid, &status, 0);
	tap_ok_fmt(pid > 0 && clone_result == -EPERM,
		   "a CLONE_VM child (same mm, other thread group) is refused ATTACH: %d",
		   clone_result);

	pid = vfork();
	if (pid == 0) {
		struct kgo_attach a = { .size = sizeof(a) };

		/* The vfork child may only write this and _exit: it shares memory. */
		vfork_result = ioctl(in.fd, KGO_IOC_ATTACH, &a) ? errno : 0;
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	tap_ok_fmt(pid > 0 && vfork_result == EPERM, "a vfork child is refused ATTACH: %d",
		   vfork_result);

	pthread_create(&t, NULL, thread_attach, &thread_err);
	pthread_join(t, NULL);
	tap_ok_fmt(thread_err == 0, "a thread of the owner may ATTACH: %d", thread_err);
	inst_close(&in);
}

/*
 * In the new program: run for a while (sysmon sees a P held by an M "in a
 * G" well past the slice), then see that the old instance refuses this
 * program and that its P went back to the idle list (debugfs, root only).
 */
static int after_exec(int fd)
{
	struct timespec t0, t;
	struct kgo_stats st = { .size = sizeof(st) };
	char line[512];
	int ms = 0, procs = -1, idle = -1;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (volatile int i = 0; i < 100000; i++)
			;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
	} while (ms < 400);

	if (ioctl(fd, KGO_IOC_STATS, &st) == 0 || errno != EPERM)
		return EXIT_NOT_EPERM;
	f = fopen("/sys/kernel/debug/kgo/instances", "r");
	if (!f)
		return EXIT_NO_DEBUGFS;
	while (fgets(line, sizeof(line), f)) {
		int pid, p, ip;

		if (sscanf(line, "instance %*u pid %d procs %d idleprocs %d", &pid, &p, &ip) == 3 &&
		    pid == getpid()) {
			procs = p;
			idle = ip;
		}
	}
	fclose(f);
	if (procs < 0)
		return EXIT_NO_DEBUGFS;
	return idle == procs ? 0 : EXIT_P_HELD;
}

static void *thread_exec(void *arg)
{
	struct kgo_attach a = { .size = sizeof(a), .flags = KGO_ATTACH_ACQUIRE_P };
	struct kgo_shared_m *slot;

	(void)arg;
	if (xioctl(exec_fd, KGO_IOC_ATTACH, &a) || a.p == KGO_NO_P)
		_exit(2);
	slot = (struct kgo_shared_m *)((char *)in.map + in.s.m_off + (size_t)a.m * in.s.m_stride);
	/* What the library stores when it switches into a G. */
	__atomic_store_n(&slot->state, KGO_MS_G, __ATOMIC_SEQ_CST);
	exec_again();
}

static void test_exec(void)
{
	unsigned long tramp = (unsigned long)redirected_here;
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		struct kgo_preempt pc = {
			.size = sizeof(struct kgo_preempt),
			.trampoline = tramp, .text_start = tramp, .text_end = tramp + 1,
			.slice_ns = 1000000,
		};
		pthread_t t;

		/* The same addresses after the exec: see redirected_here(). */
		if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0)
			_exit(4);
		if (inst_open(&in, 1, 0))
			_exit(5);
		before_exec = 1;
		/* Keep the descriptor across the exec (the risky case). */
		exec_fd = dup(in.fd);
		if (exec_fd < 0 || xioctl(exec_fd, KGO_IOC_SET_PREEMPT, &pc))
			_exit(6);
		pthread_create(&t, NULL, thread_exec, NULL);
		pthread_join(t, NULL);	/* the exec ends this thread */
		_exit(7);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		tap_ok(false, "fork");
		tap_ok(false, "fork");
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NO_DEBUGFS) {
		tap_ok(true, "no redirect into the program a thread exec'd");
		tap_skip_case("sysmon takes the P of a thread that exec'd",
			      "debugfs not mounted: cannot see the P");
		return;
	}
	/* 0 or EXIT_P_HELD: the new program ran to its end, never redirected. */
	tap_ok_fmt(WIFEXITED(status) &&
		   (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == EXIT_P_HELD),
		   "no redirect into the program a thread exec'd, and the old instance refuses it (status %#x)",
		   status);
	tap_ok_fmt(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "sysmon takes the P of a thread that exec'd (status %#x)", status);
}

static void test_dofork(void)
{
	int status = 0, err;
	pid_t pid;

	if (inst_open(&in, 1, 0)) {
		tap_ok(false, "instance");
		tap_ok(false, "instance");
		return;
	}
	err = madvise(in.map, in.s.map_size, MADV_DOFORK) ? errno : 0;
	tap_ok_fmt(err == EINVAL, "MADV_DOFORK on the shared region is refused: %d", err);
	pid = fork();
	if (pid == 0) {
		/* Not mapped here: this must fault. */
		(void)*(volatile uint32_t *)in.map;
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	tap_ok_fmt(pid > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
		   "a forked child does not inherit the shared region (status %#x)", status);
	inst_close(&in);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--exec"))
		return after_exec(atoi(argv[2]));
	require_module();
	tap_plan(7);
	test_clone_vm();
	test_exec();
	test_dofork();
	return tap_done();
}
