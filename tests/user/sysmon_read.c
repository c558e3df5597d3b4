/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Blocking calls that nothing interrupts finish as they would without
 * kgo, while preemption runs all the while (GOMAXPROCS=1, 1 ms slice, two
 * goroutines spinning, so that one always waits for the P): sysmon takes
 * the blocked Ms' P and queues its resume work on their threads, which
 * runs only once each call has returned (TWA_RESUME), so no call sees
 * EINTR.  A read of an empty pipe gets all
 * the bytes a plain thread writes 300 ms later, a write into a full pipe
 * completes once that thread drains it, a nanosleep of 200 ms sleeps all
 * of it, and a poll times out after 200 ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "sysmon_util.h"

#define BYTES		4096	/* one atomic pipe write */
#define WAIT_NS		300000000

static int rpipe[2], wpipe[2];
static atomic_bool stop;
static atomic_int started;
static struct kgo_sema done;
static volatile unsigned long spins;

static long read_n, read_err, write_n, write_err, sleep_rc, sleep_err, poll_rc, poll_err;
static int64_t sleep_ns, poll_ns;
static bool read_ok;
static size_t pipe_size;
static struct kgo_stats_user st;

static void spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		spins++;
	kgo_sema_release(&done);
}

static void reader(void *arg)
{
	static char buf[BYTES];

	(void)arg;
	atomic_fetch_add(&started, 1);
	read_n = read(rpipe[0], buf, sizeof(buf));
	read_err = read_n < 0 ? errno : 0;
	read_ok = read_n == BYTES;
	for (int i = 0; read_ok && i < BYTES; i++)
		read_ok = buf[i] == (char)(i * 7);
	kgo_sema_release(&done);
}

static void writer(void *arg)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	/* The pipe is full: this blocks until the helper drains it. */
	write_n = write(wpipe[1], "y", 1);
	write_err = write_n < 0 ? errno : 0;
	kgo_sema_release(&done);
}

static void sleeper(void *arg)
{
	struct timespec ts = { 0, 200000000 };
	int64_t t0 = now_ns();

	(void)arg;
	atomic_fetch_add(&started, 1);
	sleep_rc = syscall(SYS_nanosleep, &ts, NULL);
	sleep_err = sleep_rc ? errno : 0;
	sleep_ns = now_ns() - t0;
	kgo_sema_release(&done);
}

static void poller(void *arg)
{
	struct pollfd pfd = { .fd = rpipe[0], .events = POLLPRI };
	int64_t t0 = now_ns();

	(void)arg;
	atomic_fetch_add(&started, 1);
	poll_rc = poll(&pfd, 1, 200);
	poll_err = poll_rc < 0 ? errno : 0;
	poll_ns = now_ns() - t0;
	kgo_sema_release(&done);
}

/* A plain thread: once everyone has blocked for a while, the data. */
static void *helper(void *arg)
{
	static char buf[BYTES], drain[1 << 16];

	(void)arg;
	while (atomic_load(&started) < 4)
		usleep(1000);
	usleep(WAIT_NS / 1000);
	for (int i = 0; i < BYTES; i++)
		buf[i] = (char)(i * 7);
	if (write(rpipe[1], buf, sizeof(buf)) != BYTES)
		return NULL;
	while (read(wpipe[0], drain, sizeof(drain)) == sizeof(drain))
		;
	return NULL;
}

static void main_fn(void *arg)
{
	struct kgo_stats_user st0 = stats_now();
	pthread_t t;

	(void)arg;
	kgo_go(spinner, NULL);
	kgo_go(spinner, NULL);
	kgo_go(reader, NULL);
	kgo_go(writer, NULL);
	kgo_go(sleeper, NULL);
	kgo_go(poller, NULL);
	pthread_create(&t, NULL, helper, NULL);
	for (int i = 0; i < 4; i++)
		kgo_sema_acquire(&done);
	atomic_store(&stop, true);
	kgo_sema_acquire(&done);
	kgo_sema_acquire(&done);
	pthread_join(t, NULL);
	st = stats_now();
	st.preempts -= st0.preempts;
	st.handoffs -= st0.handoffs;
}

/* Fill wpipe to the brim, then make it blocking again. */
static int fill_pipe(void)
{
	static char junk[4096];
	int fl = fcntl(wpipe[1], F_GETFL);

	if (fl < 0 || fcntl(wpipe[1], F_SETFL, fl | O_NONBLOCK))
		return -1;
	for (;;) {
		ssize_t n = write(wpipe[1], junk, sizeof(junk));

		if (n > 0) {
			pipe_size += (size_t)n;
			continue;
		}
		if (write(wpipe[1], junk, 1) == 1) {
			pipe_size++;
			continue;
		}
		break;
	}
	return fcntl(wpipe[1], F_SETFL, fl);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 1, .slice_ns = 1000000 };
	int rc;

	need_sysmon(7);
	tap_watchdog(300);
	tap_plan(7);
	if (pipe(rpipe) || pipe(wpipe) || fill_pipe())
		return 1;
	rc = kgo_main(main_fn, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	printf("# %llu preemptions, %llu handoffs meanwhile (pipe of %zu bytes)\n",
	       (unsigned long long)st.preempts, (unsigned long long)st.handoffs, pipe_size);
	tap_ok_fmt(st.preempts > 10 && st.handoffs > 0,
		   "preemption and handoffs ran meanwhile (%llu, %llu)",
		   (unsigned long long)st.preempts, (unsigned long long)st.handoffs);
	tap_ok_fmt(read_ok, "read of an empty pipe returned all %d bytes (%ld, %s)",
		   BYTES, read_n, read_err ? strerror((int)read_err) : "no error");
	tap_ok_fmt(write_n == 1, "write into a full pipe completed (%ld, %s)",
		   write_n, write_err ? strerror((int)write_err) : "no error");
	tap_ok_fmt(sleep_rc == 0 && sleep_ns >= 200000000,
		   "nanosleep of 200 ms returned 0 after %.1f ms (%s)", sleep_ns / 1e6,
		   sleep_err ? strerror((int)sleep_err) : "no error");
	tap_ok_fmt(poll_rc == 0 && poll_ns >= 200000000,
		   "poll timed out after %.1f ms (returned %ld, %s)", poll_ns / 1e6, poll_rc,
		   poll_err ? strerror((int)poll_err) : "no error");
	tap_ok(spins > 0, "the spinner ran");
	return tap_done();
}
