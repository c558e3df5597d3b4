/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KGO_DEBUG=schedtrace=MS: a child runs a busy program with the trace on;
 * every line it prints on stderr must parse, and its counts must add up
 * (a queue length per P, idle Ps within the Ps, idle and spinning threads
 * within the threads, time moving forward), and the busy phase must show.
 */
#include <kgo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

static volatile int sink;

static void spinner(void *arg)
{
	int i, j;

	(void)arg;
	for (i = 0; i < 2000; i++) {
		for (j = 0; j < 2000; j++)
			sink += j;
		kgo_yield();
	}
}

static void busy_main(void *arg)
{
	struct kgo_sema done = KGO_SEMA_INIT(0);
	int i;

	(void)arg;
	for (i = 0; i < 8; i++)
		kgo_go((void (*)(void *))kgo_sema_release, &done);
	for (i = 0; i < 8; i++)
		kgo_sema_acquire(&done);
	for (i = 0; i < 6; i++)
		kgo_go(spinner, NULL);
	spinner(NULL);
	/* Let the others finish: yield until the local queue drains. */
	for (i = 0; i < 20000; i++)
		kgo_yield();
}

static int child(void)
{
	struct kgo_config cfg = { .nprocs = 2 };

	return kgo_main(busy_main, NULL, &cfg) ? 1 : 0;
}

int main(int argc, char **argv)
{
	char line[1024];
	int pfd[2], status, lines = 0, bad = 0, busy = 0, queued = 0;
	unsigned long long last_ms = 0;
	FILE *f;
	pid_t pid;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child();
	if (access("/dev/kgo", F_OK)) {
		printf("1..0 # SKIP /dev/kgo missing: is kgo.ko loaded?\n");
		return 4;
	}
	tap_plan(3);
	if (pipe(pfd))
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		setenv("KGO_DEBUG", "gc=0,schedtrace=5", 1);
		execl("/proc/self/exe", argv[0], "--child", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long ms;
		unsigned int procs, idle, threads, spinning, idlet, rq, n = 0, v, sum = 0;
		char *b;
		int used;

		if (strncmp(line, "SCHED ", 6))
			continue;
		lines++;
		if (sscanf(line, "SCHED %llums: gomaxprocs=%u idleprocs=%u threads=%u spinningthreads=%u idlethreads=%u runqueue=%u [%n",
			   &ms, &procs, &idle, &threads, &spinning, &idlet, &rq, &used) != 7) {
			if (!bad++)
				printf("# unparsable: %s", line);
			continue;
		}
		for (b = line + used; sscanf(b, "%u%n", &v, &used) == 1; b += used)
			n++, sum += v;
		if (n != procs || procs != 2 || idle > procs || spinning + idlet > threads ||
		    ms < last_ms || strcmp(b, "]\n")) {
			if (!bad++)
				printf("# does not add up: %s", line);
		}
		last_ms = ms;
		busy += idle < procs;
		queued += sum > 0;
	}
	waitpid(pid, &status, 0);
	tap_ok_fmt(WIFEXITED(status) && WEXITSTATUS(status) == 0 && lines >= 5,
		   "the traced program ran and printed %d SCHED lines", lines);
	tap_ok_fmt(bad == 0, "every line parses and its counts add up (%d did not)", bad);
	tap_ok_fmt(busy > 0 && queued > 0, "the busy phase shows (%d lines with a running P, %d with queued Gs)",
		   busy, queued);
	return tap_done();
}
