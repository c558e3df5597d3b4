/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fork(2), posix_spawn(3) and system(3) from goroutines, on 2 Ps.  A
 * goroutine forks: in the child, the calls that need the instance return
 * -ECHILD (kgo_go, kgo_sleep, kgo_stats, kgo_set_nprocs), kgo_self() is
 * NULL, a channel between two threads still works, and the child runs a
 * kgo_main of its own whose goroutines exchange values; the child
 * reports each check in its exit status.  system("exit 3") and
 * posix_spawn of sh -c 'exit 5' from goroutines return those statuses
 * while another goroutine keeps running.
 */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

extern char **environ;

static void nothing(void *arg)
{
	(void)arg;
}

/* ---- in the child ---- */

static struct kgo_chan *cc;

static void *child_thread(void *arg)
{
	int v = 7;

	(void)arg;
	kgo_chan_send(cc, &v);
	return NULL;
}

static atomic_int child_sum;

static void child_sender(void *arg)
{
	for (int i = 1; i <= 10; i++)
		kgo_chan_send(arg, &i);
}

static void child_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(int), 0);
	int v;

	(void)arg;
	kgo_go(child_sender, c);
	for (int i = 0; i < 10; i++)
		if (kgo_chan_recv(c, &v) == 1)
			atomic_fetch_add(&child_sum, v);
	kgo_chan_free(c);
}

/* Runs in the child; each passed check sets one bit of the status. */
static int child_checks(void)
{
	struct kgo_stats_user st;
	struct kgo_config cfg = { .nprocs = 2 };
	pthread_t th;
	int bits = 0, v = 0;

	if (kgo_go(nothing, NULL) == -ECHILD && kgo_sleep(MS) == -ECHILD &&
	    kgo_stats(&st) == -ECHILD && kgo_set_nprocs(1) == -ECHILD)
		bits |= 1;
	if (kgo_self() == NULL && kgo_id() == 0)
		bits |= 2;
	cc = kgo_chan_new(sizeof(int), 0);
	pthread_create(&th, NULL, child_thread, NULL);
	if (kgo_chan_recv(cc, &v) == 1 && v == 7)
		bits |= 4;
	pthread_join(th, NULL);
	if (kgo_main(child_main, NULL, &cfg) == 0 && atomic_load(&child_sum) == 55)
		bits |= 8;
	return bits;
}

/* ---- in the parent ---- */

static atomic_int ticks;
static atomic_bool stop_ticking;

static void ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_ticking)) {
		atomic_fetch_add(&ticks, 1);
		kgo_sleep(MS);
	}
}

static void main_g(void *arg)
{
	char *argv[] = { "sh", "-c", "exit 5", NULL };
	int status = -1, sys, t0;
	pid_t pid;

	(void)arg;
	kgo_go(ticker, NULL);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(child_checks());
	waitpid(pid, &status, 0);
	tap_ok_fmt(WIFEXITED(status) && (WEXITSTATUS(status) & 1),
		   "child of a goroutine's fork: kgo_go/sleep/stats/set_nprocs give -ECHILD (status %#x)",
		   status);
	tap_ok(WIFEXITED(status) && (WEXITSTATUS(status) & 2), "the child's thread is no goroutine");
	tap_ok(WIFEXITED(status) && (WEXITSTATUS(status) & 4),
	       "a channel between two of the child's threads works");
	tap_ok(WIFEXITED(status) && (WEXITSTATUS(status) & 8),
	       "the child runs its own kgo_main (10 values between its goroutines)");

	t0 = atomic_load(&ticks);
	sys = system("sleep 1; exit 3");
	tap_ok_fmt(WIFEXITED(sys) && WEXITSTATUS(sys) == 3 && atomic_load(&ticks) > t0,
		   "system() from a goroutine: exit %d; another goroutine ran %d times meanwhile",
		   WIFEXITED(sys) ? WEXITSTATUS(sys) : -1, atomic_load(&ticks) - t0);

	status = -1;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0)
		waitpid(pid, &status, 0);
	tap_ok_fmt(WIFEXITED(status) && WEXITSTATUS(status) == 5,
		   "posix_spawn from a goroutine: exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	atomic_store(&stop_ticking, true);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(120);
	tap_plan(7);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
