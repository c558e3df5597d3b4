// SPDX-License-Identifier: GPL-2.0
/*
 * SIGKILL at random moments: a child process drives an instance hard
 * (Ms parking, readying, stealing, overflowing into the global queue, one
 * M blocked in read() holding a P so that sysmon hands it off) and is
 * killed after a random delay.  Every instance must be torn down: the
 * debugfs view lists none of the dead children, and the harness checks
 * kmemleak and that kgo.ko unloads afterwards.
 *
 *   kill_midflight [ITERATIONS [SEED]]    default 200
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "dev_util.h"
#include "tap.h"

static struct inst in;
static int block_pipe[2];

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * The redirect target that SET_PREEMPT needs.  It runs only if sysmon
 * preempts blocked_m in the moment between its store of G and its read()
 * (a host slow enough to stall that thread for the 1 ms slice): then the
 * thread waits here for the kill like the others.  Entered by a redirect,
 * not a call, so it makes its system call itself rather than through a
 * libc function that may expect an aligned stack.
 */
__attribute__((noinline, used)) static void trampoline_stub(void)
{
	for (;;)
		__asm__ volatile("syscall" : : "a"(SYS_pause) : "rcx", "r11", "memory");
}

static void *busy_m(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 2654435761u + 1;
	struct kgo_attach a;
	struct kgo_park pk;
	uint64_t g = 1;

	if (attach(&in, 0, &a))
		return NULL;
	for (;;) {
		int n = (int)(rnd(&seed) % 300);

		park(&in, KGO_IOC_PARK, a.m, rnd(&seed) % 2 ? KGO_PARK_NOWAIT : 0,
		     2000000, &pk);
		if (pk.p != KGO_NO_P) {
			struct kgo_shared_p *p = inst_p(&in, pk.p);

			while (n-- > 0 && ring_put(p, g))
				g++;
			if (rnd(&seed) % 4 == 0)
				ready(&in, KGO_IOC_RUNQPUTSLOW, a.m, g++);
			park(&in, KGO_IOC_STEAL, a.m, 0, 0, &pk);
		}
		ready(&in, KGO_IOC_READY, 0, g++);
	}
	return NULL;
}

/* Holds a P "in a G" and blocks: sysmon takes the P away. */
static void *blocked_m(void *arg)
{
	struct kgo_attach a;
	struct kgo_shared_m *ms;
	char c;

	(void)arg;
	if (attach(&in, KGO_ATTACH_ACQUIRE_P, &a))
		return NULL;
	ms = (struct kgo_shared_m *)((char *)in.map + in.s.m_off + (size_t)a.m * in.s.m_stride);
	ring_put(inst_p(&in, a.p), 77);
	__atomic_store_n(&ms->state, KGO_MS_G, __ATOMIC_RELEASE);
	if (read(block_pipe[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

static void child(uint64_t seed)
{
	struct kgo_preempt pc = {
		.trampoline = (uintptr_t)trampoline_stub,
		.text_start = (uintptr_t)trampoline_stub,
		.text_end = (uintptr_t)trampoline_stub + 1,
		.slice_ns = 1000000,
		.spare_ms = 2,
	};
	pthread_t t;
	int i, n = 2 + (int)(rnd(&seed) % 3);

	if (inst_open(&in, 2, 0) || pipe(block_pipe))
		_exit(3);
	xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc);
	pthread_create(&t, NULL, blocked_m, NULL);
	for (i = 0; i < n; i++)
		pthread_create(&t, NULL, busy_m, (void *)(uintptr_t)(seed + i));
	for (;;)
		pause();
}

/* Whether debugfs lists an instance owned by @pid. */
static int listed(pid_t pid)
{
	char buf[1 << 16], want[64];
	int fd = open("/sys/kernel/debug/kgo/instances", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof(want), " pid %d ", pid);
	return strstr(buf, want) != NULL;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 200;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) | 1;
	int i, killed = 0, still_listed = 0, checked = 0;

	require_module();
	tap_plan(2);
	printf("# seed %llu\n", (unsigned long long)seed);
	for (i = 0; i < iters; i++) {
		struct timespec d = { 0, (long)(rnd(&seed) % 40000000) };
		int status;
		pid_t pid = fork();

		if (pid == 0)
			child(rnd(&seed));
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		if (WIFEXITED(status))
			printf("# child %d exited with %d before the kill\n", pid, WEXITSTATUS(status));
		/* The release runs as the process dies: gone from the list by now. */
		if (listed(pid) >= 0) {
			checked++;
			still_listed += listed(pid) == 1;
		}
	}
	tap_ok_fmt(killed == iters, "%d/%d children killed mid-flight", killed, iters);
	tap_ok_fmt(still_listed == 0, "no dead child's instance left (%d checked, %d left)",
		   checked, still_listed);
	return tap_done();
}
