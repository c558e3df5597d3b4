/* SPDX-License-Identifier: GPL-2.0 */
/*
 * No library lock is held across a close(2) that blocks (issue 16,
 * "library invariants").  kgo_close of a TCP socket with SO_LINGER, whose
 * peer reads nothing yet, blocks in close(2) (linger_util.h); while it
 * does, on 2 Ps with a 1 ms slice:
 *   1. another goroutine calls kgo_read on the same fd number.  It must
 *      wait for the close without holding its P (it then fails with
 *      EBADF), and the closer's P goes to another M: two spinning
 *      goroutines keep counting;
 *   2. epoll reports an event for the fd number: a pipe's read end was
 *      waited on under that number (kgo_read_deadline, timed out: armed,
 *      nobody waiting), dup()ed elsewhere and the number reused for the
 *      socket, so the pipe's epoll registration outlives it under the
 *      number (epoll forgets a file only when it is released).  A byte
 *      written into the pipe makes the poller take the number's
 *      descriptor lock; it must not wait for the close: a goroutine that
 *      sleeps 1 ms at a time (woken by the poller) keeps counting.
 * A plain thread waits for the counts to move (at most SHARE_NS) and to
 * keep moving over HOLD_NS, checks the close is still blocked, and only
 * then reads the peer, which lets the close finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "linger_util.h"
#include "sysmon_util.h"

#define SETTLE_NS	20000000LL
#define SHARE_NS	3000000000LL
#define HOLD_NS		200000000LL
#define PLAN		3

static atomic_bool stop;
static atomic_ulong spins, sleeps;
static atomic_bool closing, closed, reading;
static struct kgo_sema done;
static int sock = -1, peer = -1, xpipe[2] = { -1, -1 }, xdup = -1;
static ssize_t close_r, read_r;

struct watch {
	bool started, moved, held, still_blocked;
	int64_t move_ns;
	unsigned long held_count;
};

static void spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		atomic_fetch_add_explicit(&spins, 1, memory_order_relaxed);
	kgo_sema_release(&done);
}

static void sleeper(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		kgo_sleep(1000000);
		atomic_fetch_add_explicit(&sleeps, 1, memory_order_relaxed);
	}
	kgo_sema_release(&done);
}

static void closer(void *arg)
{
	(void)arg;
	atomic_store(&closing, true);
	close_r = kgo_close(sock);
	atomic_store(&closed, true);
	kgo_sema_release(&done);
}

static void reader(void *arg)
{
	char c;

	(void)arg;
	while (!atomic_load(&closing))
		kgo_yield();
	kgo_sleep(SETTLE_NS);
	atomic_store(&reading, true);
	read_r = kgo_read(sock, &c, 1);
	kgo_sema_release(&done);
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	nanosleep(&ts, NULL);
}

/*
 * The plain thread: once @go is set (and SETTLE_NS), maybe write a byte
 * into the pipe, then watch @count while the close blocks; then drain the
 * peer.
 */
struct watch_arg {
	atomic_bool *go;
	atomic_ulong *count;
	bool poke_pipe;
	struct watch w;
};

static void *watcher(void *arg)
{
	struct watch_arg *a = arg;
	int64_t t0 = now_ns();
	unsigned long c0, c1;

	while (!atomic_load(a->go) && now_ns() - t0 < SHARE_NS)
		sleep_ns(1000000);
	a->w.started = atomic_load(a->go);
	sleep_ns(2 * SETTLE_NS);
	if (a->poke_pipe && write(xpipe[1], "x", 1) != 1)
		perror("write");
	sleep_ns(SETTLE_NS);
	t0 = now_ns();
	c0 = atomic_load(a->count);
	while (atomic_load(a->count) == c0 && now_ns() - t0 < SHARE_NS)
		sleep_ns(1000000);
	a->w.move_ns = now_ns() - t0;
	a->w.moved = atomic_load(a->count) != c0;
	c0 = atomic_load(a->count);
	sleep_ns(HOLD_NS);
	c1 = atomic_load(a->count);
	a->w.held_count = c1 - c0;
	a->w.held = c1 != c0;
	a->w.still_blocked = !atomic_load(&closed);
	drain_peer(peer);
	return NULL;
}

static void report(const char *what, struct watch *w, bool results_ok)
{
	TAP_CHECK(w->started);
	TAP_CHECK(w->moved);
	TAP_CHECK(w->held);
	TAP_CHECK(w->still_blocked);
	TAP_CHECK(results_ok);
	tap_ok_fmt(w->started && w->moved && w->held && w->still_blocked && results_ok,
		   "%s: the others ran %.1f ms into the blocked close, %lu counts in the "
		   "next %lld ms (close %zd, read %zd)",
		   what, w->move_ns / 1e6, w->held_count, HOLD_NS / 1000000, close_r, read_r);
}

static void cleanup(void)
{
	int *fds[] = { &sock, &peer, &xpipe[0], &xpipe[1], &xdup };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	atomic_store(&closing, false);
	atomic_store(&closed, false);
	atomic_store(&reading, false);
}

/* Case 1: a kgo_read of the fd while its close(2) blocks. */
static void read_during_close(void)
{
	struct watch_arg a = { .go = &reading, .count = &spins };
	pthread_t t;
	char c;

	if (lingering_socket(&sock, &peer)) {
		tap_ok(false, "read during close: no lingering socket");
		return;
	}
	/* The fd gets its descriptor, as any fd used with kgo's I/O. */
	if (kgo_read(sock, &c, 0) != 0) {
		tap_ok(false, "read during close: kgo_read of 0 bytes");
		return;
	}
	pthread_create(&t, NULL, watcher, &a);
	kgo_go(closer, NULL);
	kgo_go(reader, NULL);
	kgo_sema_acquire(&done);
	kgo_sema_acquire(&done);
	pthread_join(t, NULL);
	sock = -1;
	report("kgo_read during a blocked kgo_close", &a.w, close_r == 0 && read_r == -EBADF);
	cleanup();
}

/* Case 2: an event for the fd number while its close(2) blocks. */
static void event_during_close(void)
{
	struct watch_arg a = { .go = &closing, .count = &sleeps, .poke_pipe = true };
	pthread_t t;
	int s;
	char c;

	if (pipe2(xpipe, O_NONBLOCK | O_CLOEXEC) || lingering_socket(&s, &peer)) {
		tap_ok(false, "event during close: setup");
		return;
	}
	/* Registered under xpipe[0]'s number, armed, nobody waiting. */
	if (kgo_read_deadline(xpipe[0], &c, 1, kgo_nanotime() + 1000000) != -ETIMEDOUT) {
		tap_ok(false, "event during close: the read did not time out");
		close(s);
		return;
	}
	/* The pipe lives on as xdup; its number now names the socket. */
	xdup = dup(xpipe[0]);
	sock = xpipe[0];
	xpipe[0] = -1;
	if (xdup < 0 || dup3(s, sock, O_CLOEXEC) != sock) {
		tap_ok(false, "event during close: dup");
		close(s);
		return;
	}
	close(s);
	pthread_create(&t, NULL, watcher, &a);
	kgo_go(closer, NULL);
	kgo_sema_acquire(&done);
	pthread_join(t, NULL);
	sock = -1;
	read_r = 0;
	report("an epoll event for the number of a blocked kgo_close", &a.w, close_r == 0);
	cleanup();
}

static void main_fn(void *arg)
{
	(void)arg;
	kgo_go(spinner, NULL);
	kgo_go(spinner, NULL);
	kgo_go(sleeper, NULL);
	read_during_close();
	event_during_close();
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		kgo_sema_acquire(&done);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2, .slice_ns = KGO_SLICE_MIN };
	int rc;

	need_sysmon(PLAN);
	tap_watchdog(300);
	signal(SIGPIPE, SIG_IGN);
	tap_plan(PLAN);
	if (loopback_up()) {
		for (int i = 0; i < PLAN; i++)
			tap_skip_case("close", "no loopback interface");
		return tap_done();
	}
	rc = kgo_main(main_fn, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
