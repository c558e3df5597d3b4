/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Deadlines and cancellation on 2 Ps: kgo_chan_recv_deadline times out
 * (not early) and kgo_chan_send_deadline succeeds when a receiver comes
 * in time; kgo_select_deadline reports a ready case over a far deadline;
 * a context tree: 10 goroutines started under a child context inherit
 * it and, blocked on a channel, all wake with -ECANCELED when the root is
 * cancelled; a context's own deadline cancels it with -ETIMEDOUT; a
 * context made under a cancelled parent is born cancelled; goroutines
 * under a context blocked in the _deadline forms of mutex lock, sema
 * acquire, waitgroup wait, read and kgo_wait_fd (no deadline of their
 * own) all return -ECANCELED when it is cancelled, and the mutex and
 * sema are left as they were.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static struct kgo_waitgroup wg;
static atomic_int cancelled, inherited;
static struct kgo_ctx *child;

static void late_receiver(void *arg)
{
	int v;

	kgo_sleep(10 * MS);
	kgo_chan_recv(arg, &v);
}

static void blocked(void *arg)
{
	int v;

	if (kgo_ctx_current() == child)
		atomic_fetch_add(&inherited, 1);
	if (kgo_chan_recv_deadline(arg, &v, 0) == -ECANCELED)
		atomic_fetch_add(&cancelled, 1);
	kgo_waitgroup_done(&wg);
}

/* ---- every kind of wait ends on cancel ---- */

static struct kgo_mutex held;
static struct kgo_sema empty;
static struct kgo_waitgroup pending;
static int sv[2];
static atomic_int kinds_cancelled;

static void wait_kind(void *arg)
{
	char c;
	int r = -1;

	switch ((int)(intptr_t)arg) {
	case 0: r = kgo_mutex_lock_deadline(&held, 0); break;
	case 1: r = kgo_sema_acquire_deadline(&empty, 0); break;
	case 2: r = kgo_waitgroup_wait_deadline(&pending, 0); break;
	case 3: r = (int)kgo_read_deadline(sv[0], &c, 1, 0); break;
	case 4: r = kgo_wait_fd(sv[0], POLLIN, 0); break;
	}
	if (r == -ECANCELED)
		atomic_fetch_add(&kinds_cancelled, 1);
	kgo_waitgroup_done(&wg);
}

static bool every_wait_cancelled(void)
{
	struct kgo_ctx *c = kgo_ctx_new(NULL);
	bool ok = true;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	kgo_mutex_lock(&held);
	kgo_waitgroup_add(&pending, 1);
	kgo_ctx_set(c);
	kgo_waitgroup_add(&wg, 5);
	for (int i = 0; i < 5; i++)
		kgo_go(wait_kind, (void *)(intptr_t)i);
	kgo_ctx_set(NULL);
	kgo_sleep(30 * MS);
	ok &= TAP_CHECK(atomic_load(&kinds_cancelled) == 0);
	kgo_ctx_cancel(c);
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(atomic_load(&kinds_cancelled) == 5);
	kgo_mutex_unlock(&held);
	ok &= TAP_CHECK(kgo_mutex_trylock(&held));
	kgo_mutex_unlock(&held);
	ok &= TAP_CHECK(kgo_sema_acquire_deadline(&empty, kgo_nanotime() + 5 * MS) == -ETIMEDOUT);
	kgo_waitgroup_done(&pending);
	kgo_ctx_release(c);
	kgo_close(sv[0]);
	kgo_close(sv[1]);
	return ok;
}

static void main_g(void *arg)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(int), 0);
	struct kgo_chan *ready = kgo_chan_new(sizeof(int), 1);
	struct kgo_ctx *root, *dl, *late;
	struct kgo_select_case cs[2];
	uint64_t t0, took;
	int v = 5, r, r2;

	(void)arg;
	t0 = kgo_nanotime();
	r = kgo_chan_recv_deadline(c, &v, t0 + 30 * MS);
	took = kgo_nanotime() - t0;
	tap_ok_fmt(r == -ETIMEDOUT && took >= 30 * MS,
		   "recv with a 30 ms deadline: %d after %llu ms", r, (unsigned long long)(took / MS));

	kgo_go(late_receiver, c);
	r = kgo_chan_send_deadline(c, &v, kgo_nanotime() + 2000 * MS);
	tap_ok_fmt(r == 0, "send with a 2 s deadline reaches a receiver that comes at 10 ms (%d)", r);

	kgo_chan_send(ready, &v);
	cs[0] = (struct kgo_select_case){ .chan = c, .dir = KGO_SELECT_RECV, .elem = &r2 };
	cs[1] = (struct kgo_select_case){ .chan = ready, .dir = KGO_SELECT_RECV, .elem = &r2 };
	r = kgo_select_deadline(cs, 2, kgo_nanotime() + 2000 * MS);
	tap_ok_fmt(r == 1 && cs[1].ok && r2 == 5, "select_deadline takes the ready case (%d)", r);

	root = kgo_ctx_new(NULL);
	child = kgo_ctx_new(root);
	kgo_ctx_set(child);
	kgo_waitgroup_add(&wg, 10);
	for (int i = 0; i < 10; i++)
		kgo_go(blocked, c);
	kgo_ctx_set(NULL);
	kgo_sleep(20 * MS);
	kgo_ctx_cancel(root);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(atomic_load(&inherited) == 10 && atomic_load(&cancelled) == 10,
		   "10 goroutines inherit the child context; cancelling the root wakes all %d with -ECANCELED",
		   atomic_load(&cancelled));
	tap_ok(kgo_ctx_err(root) == -ECANCELED && kgo_ctx_err(child) == -ECANCELED &&
	       kgo_chan_tryrecv(kgo_ctx_done(child), NULL) == 0,
	       "root and child report -ECANCELED; the child's done channel is closed");
	late = kgo_ctx_new(child);
	tap_ok(late && kgo_ctx_err(late) == -ECANCELED, "a context made under a cancelled one is born cancelled");
	kgo_ctx_release(late);
	kgo_ctx_release(child);
	kgo_ctx_release(root);

	t0 = kgo_nanotime();	/* before the context: its deadline counts from here */
	dl = kgo_ctx_with_deadline(NULL, t0 + 30 * MS);
	kgo_ctx_set(dl);
	r = kgo_chan_recv_deadline(c, &v, 0);
	took = kgo_nanotime() - t0;
	kgo_ctx_set(NULL);
	tap_ok_fmt(r == -ETIMEDOUT && took >= 30 * MS && kgo_ctx_err(dl) == -ETIMEDOUT,
		   "a context's 30 ms deadline: recv %d after %llu ms, err %d", r,
		   (unsigned long long)(took / MS), kgo_ctx_err(dl));
	kgo_ctx_release(dl);
	tap_ok(every_wait_cancelled(),
	       "mutex, sema, waitgroup, read and wait_fd waits under a context end with -ECANCELED");
	kgo_chan_free(c);
	kgo_chan_free(ready);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(120);
	tap_plan(9);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
