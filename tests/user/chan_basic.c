/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Channel semantics on 2 Ps: FIFO order (buffered and unbuffered, one and
 * several senders), the unbuffered hand-off (a sender blocks until a
 * receiver takes the value; a waiting receiver gets the value copied
 * straight into its memory), close (wakes every receiver with 0 and the
 * zero value, every blocked sender with -EPIPE, buffered values still
 * received first), send on a closed channel, len
 * and cap, zero-size elements.  Reports the unbuffered round trip.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define NFIFO		20000
#define NSENDERS	4
#define NPER		5000
#define NBLOCKED	8
#define ROUNDS		20000

static struct kgo_waitgroup wg;

/* ---- FIFO, one sender ---- */

struct fifo {
	struct kgo_chan *c;
	long bad;
};

static void fifo_sender(void *arg)
{
	struct fifo *f = arg;

	for (long i = 0; i < NFIFO; i++)
		if (kgo_chan_send(f->c, &i))
			f->bad++;
	kgo_chan_close(f->c);
}

static bool fifo_one(size_t cap)
{
	struct fifo f = { kgo_chan_new(sizeof(long), cap), 0 };
	long v, want = 0, bad = 0;

	kgo_go(fifo_sender, &f);
	while (kgo_chan_recv(f.c, &v) == 1) {
		if (v != want)
			bad++;
		want = v + 1;
	}
	kgo_chan_free(f.c);
	return TAP_CHECK(bad == 0) && TAP_CHECK(want == NFIFO) && TAP_CHECK(f.bad == 0);
}

/* ---- FIFO per sender, several senders ---- */

struct msg {
	int sender;
	int seq;
};

static struct kgo_chan *multi_c;

static void multi_sender(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < NPER; i++) {
		struct msg m = { id, i };

		kgo_chan_send(multi_c, &m);
		if (i % 64 == 0)
			kgo_yield();
	}
	kgo_waitgroup_done(&wg);
}

static void multi_closer(void *arg)
{
	(void)arg;
	kgo_waitgroup_wait(&wg);
	kgo_chan_close(multi_c);
}

static bool fifo_multi(size_t cap)
{
	int next[NSENDERS] = { 0 };
	long got = 0, bad = 0;
	struct msg m;

	multi_c = kgo_chan_new(sizeof(struct msg), cap);
	kgo_waitgroup_add(&wg, NSENDERS);
	for (int i = 0; i < NSENDERS; i++)
		kgo_go(multi_sender, (void *)(intptr_t)i);
	kgo_go(multi_closer, NULL);
	while (kgo_chan_recv(multi_c, &m)) {
		if (m.sender < 0 || m.sender >= NSENDERS || m.seq != next[m.sender])
			bad++;
		else
			next[m.sender]++;
		got++;
	}
	kgo_chan_free(multi_c);
	return TAP_CHECK(bad == 0) && TAP_CHECK(got == NSENDERS * NPER);
}

/* ---- the unbuffered hand-off ---- */

static atomic_int sent;
static long slot;

static void blocking_sender(void *arg)
{
	long v = 42;

	kgo_chan_send(arg, &v);
	atomic_store(&sent, 1);
}

static void waiting_receiver(void *arg)
{
	kgo_chan_recv(arg, &slot);
	kgo_waitgroup_done(&wg);
}

static bool handoff(void)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(long), 0);
	bool ok = true;
	long v = 0;

	/* A sender blocks until a receiver comes. */
	atomic_store(&sent, 0);
	kgo_go(blocking_sender, c);
	for (int i = 0; i < 100; i++)
		kgo_yield();
	kgo_sleep(20 * 1000000);
	ok &= TAP_CHECK(atomic_load(&sent) == 0);
	ok &= TAP_CHECK(kgo_chan_len(c) == 0 && kgo_chan_cap(c) == 0);
	ok &= TAP_CHECK(kgo_chan_recv(c, &v) == 1 && v == 42);
	for (int i = 0; i < 1000 && !atomic_load(&sent); i++)
		kgo_sleep(1000000);
	ok &= TAP_CHECK(atomic_load(&sent) == 1);

	/*
	 * A waiting receiver gets the value in its own memory before it
	 * runs again: once send returns, slot already holds it.
	 */
	slot = 0;
	kgo_waitgroup_add(&wg, 1);
	kgo_go(waiting_receiver, c);
	/* Let it run and block in recv. */
	kgo_sleep(20 * 1000000);
	v = 7;
	ok &= TAP_CHECK(kgo_chan_send(c, &v) == 0);
	ok &= TAP_CHECK(__atomic_load_n(&slot, __ATOMIC_RELAXED) == 7);
	kgo_waitgroup_wait(&wg);
	kgo_chan_free(c);
	return ok;
}

/* ---- close ---- */

static atomic_int woke_zero, woke_epipe, woke_other;

static void closed_receiver(void *arg)
{
	long v = 99;
	int r = kgo_chan_recv(arg, &v);

	if (r == 0 && v == 0)
		atomic_fetch_add(&woke_zero, 1);
	else
		atomic_fetch_add(&woke_other, 1);
	kgo_waitgroup_done(&wg);
}

static void closed_sender(void *arg)
{
	long v = 5;
	int r = kgo_chan_send(arg, &v);

	if (r == -EPIPE)
		atomic_fetch_add(&woke_epipe, 1);
	else
		atomic_fetch_add(&woke_other, 1);
	kgo_waitgroup_done(&wg);
}

static bool close_wakes(bool senders)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(long), 0);
	bool ok = true;

	atomic_store(&woke_zero, 0);
	atomic_store(&woke_epipe, 0);
	atomic_store(&woke_other, 0);
	kgo_waitgroup_add(&wg, NBLOCKED);
	for (int i = 0; i < NBLOCKED; i++)
		kgo_go(senders ? closed_sender : closed_receiver, c);
	/* Give them time to block, on both Ps. */
	kgo_sleep(30 * 1000000);
	ok &= TAP_CHECK(atomic_load(&woke_zero) + atomic_load(&woke_epipe) == 0);
	kgo_chan_close(c);
	kgo_waitgroup_wait(&wg);
	if (senders)
		ok &= TAP_CHECK(atomic_load(&woke_epipe) == NBLOCKED);
	else
		ok &= TAP_CHECK(atomic_load(&woke_zero) == NBLOCKED);
	ok &= TAP_CHECK(atomic_load(&woke_other) == 0);
	kgo_chan_free(c);
	return ok;
}

static bool closed_semantics(void)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(int), 4);
	bool ok = true;
	int v;

	for (int i = 1; i <= 3; i++)
		ok &= TAP_CHECK(kgo_chan_send(c, &i) == 0);
	ok &= TAP_CHECK(kgo_chan_len(c) == 3 && kgo_chan_cap(c) == 4);
	kgo_chan_close(c);
	v = 4;
	ok &= TAP_CHECK(kgo_chan_send(c, &v) == -EPIPE);
	for (int i = 1; i <= 3; i++)
		ok &= TAP_CHECK(kgo_chan_recv(c, &v) == 1 && v == i);
	v = 77;
	ok &= TAP_CHECK(kgo_chan_recv(c, &v) == 0 && v == 0);
	ok &= TAP_CHECK(kgo_chan_recv(c, NULL) == 0);
	/* A second close is fatal now: api_errors tests it in a child. */
	ok &= TAP_CHECK(kgo_chan_send(c, &v) == -EPIPE);
	kgo_chan_free(c);
	return ok;
}

/* ---- zero-size elements ---- */

static void signaller(void *arg)
{
	for (int i = 0; i < 100; i++)
		kgo_chan_send(arg, NULL);
	kgo_chan_close(arg);
}

static bool zero_size(void)
{
	struct kgo_chan *c = kgo_chan_new(0, 3);
	int n = 0;

	kgo_go(signaller, c);
	while (kgo_chan_recv(c, NULL))
		n++;
	kgo_chan_free(c);
	return TAP_CHECK(n == 100);
}

/* ---- round trip ---- */

static struct kgo_chan *ping, *pong;

static void ponger(void *arg)
{
	long v;

	(void)arg;
	while (kgo_chan_recv(ping, &v))
		kgo_chan_send(pong, &v);
	kgo_waitgroup_done(&wg);
}

static double round_trip(void)
{
	uint64_t t0;
	long v, bad = 0;

	ping = kgo_chan_new(sizeof(long), 0);
	pong = kgo_chan_new(sizeof(long), 0);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(ponger, NULL);
	t0 = kgo_nanotime();
	for (long i = 0; i < ROUNDS; i++) {
		kgo_chan_send(ping, &i);
		if (kgo_chan_recv(pong, &v) != 1 || v != i)
			bad++;
	}
	t0 = kgo_nanotime() - t0;
	kgo_chan_close(ping);
	kgo_waitgroup_wait(&wg);
	kgo_chan_free(ping);
	kgo_chan_free(pong);
	return bad ? -1 : (double)t0 / ROUNDS;
}

static void main_g(void *arg)
{
	double rt;

	(void)arg;
	tap_ok(fifo_one(0), "unbuffered: 20000 values from one sender in order");
	tap_ok(fifo_one(16), "buffered (16): 20000 values from one sender in order");
	tap_ok(fifo_multi(0), "unbuffered: 4 senders, each one's values in order");
	tap_ok(fifo_multi(8), "buffered (8): 4 senders, each one's values in order");
	tap_ok(handoff(), "unbuffered: sender blocks until received; value copied into the waiting receiver");
	tap_ok(close_wakes(false), "close wakes all 8 blocked receivers with 0 and the zero value");
	tap_ok(close_wakes(true), "close wakes all 8 blocked senders with -EPIPE");
	tap_ok(closed_semantics(), "closed: send -EPIPE, buffered values drained first, then 0; second close ignored");
	tap_ok(zero_size(), "zero-size elements: 100 signals");
	rt = round_trip();
	tap_ok_fmt(rt > 0, "unbuffered ping-pong: %d round trips", ROUNDS);
	printf("# unbuffered channel round trip: %.0f ns\n", rt);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(11);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
