/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_chan_trysend and kgo_chan_tryrecv on 2 Ps: -EAGAIN exactly when
 * the operation would block (unbuffered without a partner, buffer full
 * or empty); a value handed to or taken from a parked partner, which
 * wakes; FIFO order through the buffer; a closed channel (-EPIPE, then 0
 * and the zero value once drained); both from a plain thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static atomic_int got = -1, sent_rc = 1;

static void receiver(void *arg)
{
	int v = 0;

	if (kgo_chan_recv(arg, &v) == 1)
		atomic_store(&got, v);
}

static void sender(void *arg)
{
	int v = 77;

	atomic_store(&sent_rc, kgo_chan_send(arg, &v));
}

static void *thread_try(void *arg)
{
	struct kgo_chan *c = arg;
	int v = 5, w = 0;
	intptr_t ok = kgo_chan_trysend(c, &v) == 0 && kgo_chan_tryrecv(c, &w) == 1 && w == 5 &&
		      kgo_chan_tryrecv(c, &w) == -EAGAIN;

	return (void *)ok;
}

static void main_g(void *arg)
{
	struct kgo_chan *u = kgo_chan_new(sizeof(int), 0);
	struct kgo_chan *b = kgo_chan_new(sizeof(int), 2);
	int v = 9, w = 0, r1, r2, r3;
	bool ok = true;
	pthread_t th;
	void *tr;

	(void)arg;
	r1 = kgo_chan_trysend(u, &v);
	r2 = kgo_chan_tryrecv(u, &w);
	tap_ok_fmt(r1 == -EAGAIN && r2 == -EAGAIN,
		   "unbuffered, nobody waiting: trysend %d, tryrecv %d (-EAGAIN)", r1, r2);

	kgo_go(receiver, u);
	kgo_sleep(10 * MS);
	r1 = kgo_chan_trysend(u, &v);
	kgo_sleep(10 * MS);
	tap_ok_fmt(r1 == 0 && atomic_load(&got) == 9,
		   "trysend to a parked receiver: %d, it got %d", r1, atomic_load(&got));

	kgo_go(sender, u);
	kgo_sleep(10 * MS);
	r2 = kgo_chan_tryrecv(u, &w);
	kgo_sleep(10 * MS);
	tap_ok_fmt(r2 == 1 && w == 77 && atomic_load(&sent_rc) == 0,
		   "tryrecv from a parked sender: %d, value %d, its send returned %d", r2, w,
		   atomic_load(&sent_rc));

	for (int i = 1; i <= 2; i++)
		ok &= TAP_CHECK(kgo_chan_trysend(b, &i) == 0);
	v = 3;
	ok &= TAP_CHECK(kgo_chan_trysend(b, &v) == -EAGAIN);
	for (int i = 1; i <= 2; i++)
		ok &= TAP_CHECK(kgo_chan_tryrecv(b, &w) == 1 && w == i);
	ok &= TAP_CHECK(kgo_chan_tryrecv(b, &w) == -EAGAIN);
	tap_ok(ok, "buffered: 2 in, the third -EAGAIN, out in order, then -EAGAIN");

	ok = TAP_CHECK(kgo_chan_trysend(b, &v) == 0);
	kgo_chan_close(b);
	r1 = kgo_chan_trysend(b, &v);
	ok &= TAP_CHECK(kgo_chan_tryrecv(b, &w) == 1 && w == 3);
	w = 55;
	r3 = kgo_chan_tryrecv(b, &w);
	tap_ok_fmt(ok && r1 == -EPIPE && r3 == 0 && w == 0,
		   "closed: trysend %d (-EPIPE), the buffered value, then %d with the zero value",
		   r1, r3);

	pthread_create(&th, NULL, thread_try, kgo_chan_new(sizeof(int), 1));
	pthread_join(th, &tr);
	tap_ok(tr != NULL, "both from a plain thread");
	kgo_chan_free(u);
	kgo_chan_free(b);
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
