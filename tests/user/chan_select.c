/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_select on 4 Ps: fairness among ready cases (a chi-square test over
 * 4 always-ready receive cases, and mixed send and receive cases), the
 * non-blocking form, blocking until a sender, a receiver or a close comes,
 * select against select, a timer as a timeout, NULL and duplicate
 * channels, bad cases, and a many-to-many stress through three channels
 * with nothing lost or duplicated.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define MS		1000000ull
#define TRIALS		4000
#define PRODUCERS	6
#define CONSUMERS	6
#define PER_PRODUCER	3000

static struct kgo_waitgroup wg;

/* Chi-square of @obs against equal expectations; 3 dof: p = 1e-4 at 21.1. */
static double chi2(const long *obs, int k, long total)
{
	double e = (double)total / k, x = 0;

	for (int i = 0; i < k; i++)
		x += (obs[i] - e) * (obs[i] - e) / e;
	return x;
}

static bool fair_recv(void)
{
	struct kgo_chan *c[4];
	struct kgo_select_case cs[4];
	long hits[4] = { 0 }, v;
	bool ok = true;
	double x;

	for (int i = 0; i < 4; i++) {
		long one = i;

		c[i] = kgo_chan_new(sizeof(long), 1);
		kgo_chan_send(c[i], &one);
		cs[i] = (struct kgo_select_case){ c[i], KGO_SELECT_RECV, &v, false };
	}
	for (int t = 0; t < TRIALS; t++) {
		int r = kgo_select(cs, 4, true);

		if (!TAP_CHECK(r >= 0 && r < 4 && cs[r].ok && v == r)) {
			ok = false;
			break;
		}
		hits[r]++;
		kgo_chan_send(c[r], &v);	/* ready again */
	}
	x = chi2(hits, 4, TRIALS);
	printf("# 4 ready receive cases over %d selects: %ld %ld %ld %ld, chi-square %.2f\n",
	       TRIALS, hits[0], hits[1], hits[2], hits[3], x);
	for (int i = 0; i < 4; i++)
		kgo_chan_free(c[i]);
	return ok && TAP_CHECK(x < 30.0);
}

/* Two receive cases with a value and two send cases with room, plus a
 * case that is never ready: the four ready ones share evenly. */
static bool fair_mixed(void)
{
	struct kgo_chan *full[2], *room[2], *never = kgo_chan_new(sizeof(long), 0);
	struct kgo_select_case cs[5];
	long hits[5] = { 0 }, v, out = 1;
	bool ok = true;
	double x;

	for (int i = 0; i < 2; i++) {
		full[i] = kgo_chan_new(sizeof(long), 1);
		room[i] = kgo_chan_new(sizeof(long), 1);
		kgo_chan_send(full[i], &out);
	}
	cs[0] = (struct kgo_select_case){ full[0], KGO_SELECT_RECV, &v, false };
	cs[1] = (struct kgo_select_case){ room[0], KGO_SELECT_SEND, &out, false };
	cs[2] = (struct kgo_select_case){ never, KGO_SELECT_RECV, &v, false };
	cs[3] = (struct kgo_select_case){ full[1], KGO_SELECT_RECV, &v, false };
	cs[4] = (struct kgo_select_case){ room[1], KGO_SELECT_SEND, &out, false };
	for (int t = 0; t < TRIALS; t++) {
		int r = kgo_select(cs, 5, false);

		if (!TAP_CHECK(r >= 0 && r != 2 && cs[r].ok)) {
			ok = false;
			break;
		}
		hits[r]++;
		if (cs[r].dir == KGO_SELECT_RECV)
			kgo_chan_send(cs[r].chan, &out);
		else
			kgo_chan_recv(cs[r].chan, NULL);
	}
	{
		long four[4] = { hits[0], hits[1], hits[3], hits[4] };

		x = chi2(four, 4, TRIALS);
	}
	printf("# 2 receive + 2 send ready (+1 never) over %d selects: %ld %ld %ld %ld %ld, chi-square %.2f\n",
	       TRIALS, hits[0], hits[1], hits[2], hits[3], hits[4], x);
	for (int i = 0; i < 2; i++) {
		kgo_chan_free(full[i]);
		kgo_chan_free(room[i]);
	}
	kgo_chan_free(never);
	return ok && TAP_CHECK(hits[2] == 0) && TAP_CHECK(x < 30.0);
}

static bool nonblocking(void)
{
	struct kgo_chan *a = kgo_chan_new(sizeof(int), 0), *b = kgo_chan_new(sizeof(int), 1);
	struct kgo_select_case cs[3];
	int v = 3, w = 0;
	bool ok = true;

	cs[0] = (struct kgo_select_case){ a, KGO_SELECT_RECV, &w, false };
	cs[1] = (struct kgo_select_case){ a, KGO_SELECT_SEND, &v, false };
	cs[2] = (struct kgo_select_case){ NULL, KGO_SELECT_RECV, &w, false };
	ok &= TAP_CHECK(kgo_select(cs, 3, false) == -1);
	ok &= TAP_CHECK(kgo_select(cs, 0, false) == -1);
	cs[2] = (struct kgo_select_case){ b, KGO_SELECT_SEND, &v, false };
	ok &= TAP_CHECK(kgo_select(cs, 3, false) == 2 && cs[2].ok);
	ok &= TAP_CHECK(kgo_select(cs, 3, false) == -1);	/* b is full */
	cs[2].dir = KGO_SELECT_RECV;
	cs[2].elem = &w;
	ok &= TAP_CHECK(kgo_select(cs, 3, false) == 2 && cs[2].ok && w == 3);
	cs[2].dir = 7;
	ok &= TAP_CHECK(kgo_select(cs, 3, false) == -EINVAL);
	ok &= TAP_CHECK(kgo_select(cs, -1, false) == -EINVAL);
	/* A closed channel is ready: a receive gets ok false, a send too. */
	kgo_chan_close(b);
	cs[2].dir = KGO_SELECT_RECV;
	w = 9;
	ok &= TAP_CHECK(kgo_select(cs, 3, false) == 2 && !cs[2].ok && w == 0);
	cs[2].dir = KGO_SELECT_SEND;
	cs[2].elem = &v;
	ok &= TAP_CHECK(kgo_select(cs, 3, true) == 2 && !cs[2].ok);
	kgo_chan_free(a);
	kgo_chan_free(b);
	return ok;
}

/* ---- blocking selects woken by others ---- */

struct later {
	struct kgo_chan *c;
	int what;		/* 0 send v, 1 receive into v, 2 close */
	long v;
};

static void do_later(void *arg)
{
	struct later *l = arg;

	kgo_sleep(10 * MS);
	if (l->what == 0)
		kgo_chan_send(l->c, &l->v);
	else if (l->what == 1)
		kgo_chan_recv(l->c, &l->v);
	else
		kgo_chan_close(l->c);
	kgo_waitgroup_done(&wg);
}

static bool blocking(void)
{
	struct kgo_chan *c[3];
	struct kgo_select_case cs[3];
	struct later l;
	long v = -1, out[3] = { 100, 101, 102 };
	bool ok = true;
	int r;

	for (int i = 0; i < 3; i++)
		c[i] = kgo_chan_new(sizeof(long), 0);

	/* Woken by a sender on c[1]. */
	for (int i = 0; i < 3; i++)
		cs[i] = (struct kgo_select_case){ c[i], KGO_SELECT_RECV, &v, false };
	l = (struct later){ c[1], 0, 55 };
	kgo_waitgroup_add(&wg, 1);
	kgo_go(do_later, &l);
	r = kgo_select(cs, 3, true);
	ok &= TAP_CHECK(r == 1 && cs[1].ok && v == 55);
	kgo_waitgroup_wait(&wg);

	/* Woken by a receiver on c[2]: our value goes straight to it. */
	for (int i = 0; i < 3; i++)
		cs[i] = (struct kgo_select_case){ c[i], KGO_SELECT_SEND, &out[i], false };
	l = (struct later){ c[2], 1, 0 };
	kgo_waitgroup_add(&wg, 1);
	kgo_go(do_later, &l);
	r = kgo_select(cs, 3, true);
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(r == 2 && cs[2].ok && l.v == 102);

	/* Woken by a close of c[0]. */
	for (int i = 0; i < 3; i++)
		cs[i] = (struct kgo_select_case){ c[i], KGO_SELECT_RECV, &v, false };
	v = 1234;
	l = (struct later){ c[0], 2, 0 };
	kgo_waitgroup_add(&wg, 1);
	kgo_go(do_later, &l);
	r = kgo_select(cs, 3, true);
	ok &= TAP_CHECK(r == 0 && !cs[0].ok && v == 0);
	kgo_waitgroup_wait(&wg);

	/* The other channels hold no stale records: they still work. */
	l = (struct later){ c[1], 0, 66 };
	kgo_waitgroup_add(&wg, 1);
	kgo_go(do_later, &l);
	ok &= TAP_CHECK(kgo_chan_recv(c[1], &v) == 1 && v == 66);
	kgo_waitgroup_wait(&wg);
	for (int i = 0; i < 3; i++)
		kgo_chan_free(c[i]);
	return ok;
}

/* ---- select against select, the same channel twice ---- */

#define SVS	5000

static struct kgo_chan *svs_a, *svs_b;
static long svs_sum;

static void svs_sender(void *arg)
{
	(void)arg;
	for (long i = 1; i <= SVS; i++) {
		/* The same value offered on a and on b; a select takes one. */
		struct kgo_select_case cs[2] = {
			{ svs_a, KGO_SELECT_SEND, &i, false },
			{ svs_b, KGO_SELECT_SEND, &i, false },
		};

		kgo_select(cs, 2, true);
	}
	kgo_waitgroup_done(&wg);
}

static bool select_vs_select(void)
{
	long v, sum = 0, n = 0;
	struct kgo_select_case cs[3];

	svs_a = kgo_chan_new(sizeof(long), 0);
	svs_b = kgo_chan_new(sizeof(long), 0);
	cs[0] = (struct kgo_select_case){ svs_a, KGO_SELECT_RECV, &v, false };
	cs[1] = (struct kgo_select_case){ svs_b, KGO_SELECT_RECV, &v, false };
	cs[2] = (struct kgo_select_case){ svs_b, KGO_SELECT_RECV, &v, false };	/* twice */
	kgo_waitgroup_add(&wg, 1);
	kgo_go(svs_sender, NULL);
	for (n = 0; n < SVS; n++) {
		if (kgo_select(cs, 3, true) < 0)
			break;
		sum += v;
	}
	kgo_waitgroup_wait(&wg);
	svs_sum = sum;
	kgo_chan_free(svs_a);
	kgo_chan_free(svs_b);
	return TAP_CHECK(n == SVS) && TAP_CHECK(sum == (long)SVS * (SVS + 1) / 2);
}

/* ---- a timer as a timeout ---- */

static bool timeout_case(void)
{
	struct kgo_chan *never = kgo_chan_new(sizeof(long), 0);
	struct kgo_timer *t;
	uint64_t t0 = kgo_nanotime(), fired = 0;
	long v;
	struct kgo_select_case cs[2];
	int r;
	bool ok = true;

	t = kgo_timer_new(30 * MS, NULL, NULL);
	cs[0] = (struct kgo_select_case){ never, KGO_SELECT_RECV, &v, false };
	cs[1] = (struct kgo_select_case){ kgo_timer_chan(t), KGO_SELECT_RECV, &fired, false };
	r = kgo_select(cs, 2, true);
	ok &= TAP_CHECK(r == 1 && cs[1].ok);
	ok &= TAP_CHECK(fired >= t0 + 30 * MS && kgo_nanotime() >= t0 + 30 * MS);
	printf("# select timed out %.2f ms after the 30 ms deadline\n",
	       (kgo_nanotime() - t0 - 30 * MS) / 1e6);
	kgo_timer_free(t);
	kgo_chan_free(never);
	return ok;
}

/* ---- many to many through three channels ---- */

static struct kgo_chan *mm[3];
static atomic_long mm_sum, mm_count;
static struct kgo_waitgroup producers;

static void mm_producer(void *arg)
{
	long base = (long)(intptr_t)arg * PER_PRODUCER;

	for (long i = 0; i < PER_PRODUCER; i++) {
		long v = base + i + 1;
		struct kgo_select_case cs[3];

		for (int k = 0; k < 3; k++)
			cs[k] = (struct kgo_select_case){ mm[k], KGO_SELECT_SEND, &v, false };
		if (kgo_select(cs, 3, true) < 0)
			break;
	}
	kgo_waitgroup_done(&producers);
}

static void mm_consumer(void *arg)
{
	struct kgo_select_case cs[3];
	long v, sum = 0, n = 0;
	int open = 3;

	(void)arg;
	for (int k = 0; k < 3; k++)
		cs[k] = (struct kgo_select_case){ mm[k], KGO_SELECT_RECV, &v, false };
	while (open) {
		int r = kgo_select(cs, 3, true);

		if (r < 0)
			break;
		if (!cs[r].ok) {
			cs[r].chan = NULL;	/* closed: never ready again */
			open--;
			continue;
		}
		sum += v;
		n++;
	}
	atomic_fetch_add(&mm_sum, sum);
	atomic_fetch_add(&mm_count, n);
	kgo_waitgroup_done(&wg);
}

static bool many_to_many(void)
{
	long total = (long)PRODUCERS * PER_PRODUCER;

	mm[0] = kgo_chan_new(sizeof(long), 0);
	mm[1] = kgo_chan_new(sizeof(long), 4);
	mm[2] = kgo_chan_new(sizeof(long), 32);
	kgo_waitgroup_add(&producers, PRODUCERS);
	kgo_waitgroup_add(&wg, CONSUMERS);
	for (int i = 0; i < CONSUMERS; i++)
		kgo_go(mm_consumer, NULL);
	for (int i = 0; i < PRODUCERS; i++)
		kgo_go(mm_producer, (void *)(intptr_t)i);
	kgo_waitgroup_wait(&producers);
	for (int k = 0; k < 3; k++)
		kgo_chan_close(mm[k]);
	kgo_waitgroup_wait(&wg);
	for (int k = 0; k < 3; k++)
		kgo_chan_free(mm[k]);
	return TAP_CHECK(atomic_load(&mm_count) == total) &&
	       TAP_CHECK(atomic_load(&mm_sum) == total * (total + 1) / 2);
}

static void main_g(void *arg)
{
	(void)arg;
	tap_ok(fair_recv(), "fair: 4 ready receive cases, chi-square below 30 (p < 1e-6 to fail)");
	tap_ok(fair_mixed(), "fair: 2 receive + 2 send cases ready, the unready one never taken");
	tap_ok(nonblocking(), "non-blocking: -1 when nothing is ready; ready, closed and bad cases");
	tap_ok(blocking(), "blocking: woken by a sender, a receiver, a close; no stale records");
	tap_ok(select_vs_select(), "select against select, a channel twice in one select: 5000 values");
	tap_ok(timeout_case(), "a timer channel times a select out, not before its deadline");
	tap_ok(many_to_many(), "6 producers x 3000 to 6 consumers via 3 channels: none lost or doubled");
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 4 };
	int rc;

	tap_watchdog(300);
	tap_plan(8);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
