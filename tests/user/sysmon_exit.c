/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The end of kgo_main with goroutines still busy elsewhere (GOMAXPROCS=2):
 *   - one spinning forever without a call: the main goroutine returns,
 *     and kgo_main returns too, the spinner being preempted like any other
 *     (and, the instance exiting, not run again);
 *   - one blocked in a read() that nothing ends before main returns:
 *     kgo_main waits for it (its thread is in the kernel; Go's process
 *     would just exit), and returns once a plain thread writes the byte,
 *     200 ms later.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "sysmon_util.h"

static atomic_bool spinning, reading;
static volatile unsigned long spins;
static int pipefd[2];
static atomic_llong wrote_at;

static void spinner(void *arg)
{
	(void)arg;
	atomic_store(&spinning, true);
	for (;;)
		spins++;
}

static void main_spin(void *arg)
{
	(void)arg;
	kgo_go(spinner, NULL);
	while (!atomic_load(&spinning))
		kgo_yield();
	/* Returns with the spinner running on the other P. */
}

static void reader(void *arg)
{
	char c;

	(void)arg;
	atomic_store(&reading, true);
	if (read(pipefd[0], &c, 1) != 1)
		kgo_exit();
}

static void main_read(void *arg)
{
	(void)arg;
	kgo_go(reader, NULL);
	while (!atomic_load(&reading))
		kgo_yield();
	kgo_yield();
}

static void *late_writer(void *arg)
{
	(void)arg;
	while (!atomic_load(&reading))
		usleep(1000);
	usleep(200000);
	atomic_store(&wrote_at, now_ns());
	if (write(pipefd[1], "x", 1) != 1)
		return NULL;
	return NULL;
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int64_t t0, t1;
	pthread_t t;
	int rc;

	need_sysmon(3);
	tap_watchdog(120);
	tap_plan(3);
	t0 = now_ns();
	rc = kgo_main(main_spin, NULL, &cfg);
	t1 = now_ns();
	tap_ok_fmt(rc == 0 && spins > 0,
		   "main returned with a goroutine spinning on another M: kgo_main returned %d after %.1f ms",
		   rc, (t1 - t0) / 1e6);

	if (pipe(pipefd))
		return 1;
	pthread_create(&t, NULL, late_writer, NULL);
	rc = kgo_main(main_read, NULL, &cfg);
	t1 = now_ns();
	pthread_join(t, NULL);
	tap_ok_fmt(rc == 0, "main returned with a goroutine blocked in read: kgo_main returned %d", rc);
	tap_ok_fmt(atomic_load(&wrote_at) && t1 >= atomic_load(&wrote_at),
		   "kgo_main waited for the read to end (returned %.1f ms after the write)",
		   (t1 - atomic_load(&wrote_at)) / 1e6);
	return tap_done();
}
