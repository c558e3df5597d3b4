/* SPDX-License-Identifier: MIT */
/*
 * kgo_waitgroup: Go's sync.WaitGroup on park/ready.  The count and the
 * list of waiting goroutines (records on their stacks) are guarded by the
 * group's spinlock; the add that brings the count to zero takes the whole
 * list and readies every waiter after dropping the lock.
 */
#include "block.h"

struct kgo_wgwaiter {
	struct kgo_tmr t;		/* the deadline (first: expire casts) */
	struct kgo_g *g;
	struct kgo_wgwaiter *next;
	struct kgo_waitgroup *wg;
	bool expired;			/* under wg's lock */
};

static void waitgroup_add_in_library(struct kgo_waitgroup *wg, int64_t n)
{
	struct kgo_wgwaiter *w = NULL;
	int64_t count;

	kgo_spin_lock(&wg->lock);
	count = wg->count + n;
	if (count < 0) {
		kgo_spin_unlock(&wg->lock);
		kgo_fatal("kgo_waitgroup %p: negative count %lld", (void *)wg, (long long)count);
	}
	wg->count = count;
	if (count == 0) {
		w = wg->waiters;
		wg->waiters = NULL;
	}
	kgo_spin_unlock(&wg->lock);
	while (w) {
		/* Both read before kgo_ready: then the record may be gone. */
		struct kgo_wgwaiter *next = w->next;
		struct kgo_g *g = w->g;

		kgo_ready(g);
		w = next;
	}
}

void kgo_waitgroup_add(struct kgo_waitgroup *wg, int64_t n)
{
	bool entered = kgo_enter(true);

	waitgroup_add_in_library(wg, n);
	kgo_leave(entered);
}

void kgo_waitgroup_done(struct kgo_waitgroup *wg)
{
	kgo_waitgroup_add(wg, -1);
}

/* The deadline passed (poller, heap lock held): unlink w if queued. */
static struct kgo_g *kgo_wg_expire(struct kgo_tmr *t)
{
	struct kgo_wgwaiter *w = (struct kgo_wgwaiter *)t, **p;
	struct kgo_waitgroup *wg = w->wg;
	struct kgo_g *g = NULL;

	kgo_spin_lock(&wg->lock);
	w->expired = true;
	for (p = (struct kgo_wgwaiter **)&wg->waiters; *p && *p != w; p = &(*p)->next)
		;
	if (*p) {
		*p = w->next;
		g = w->g;
	}
	kgo_spin_unlock(&wg->lock);
	return g;
}

static int waitgroup_wait_in_library(struct kgo_waitgroup *wg, uint64_t deadline)
{
	struct kgo_wgwaiter w = { .wg = wg };

	if (deadline) {
		int err;

		/* A zero count is success, whatever the deadline. */
		kgo_spin_lock(&wg->lock);
		err = wg->count == 0;
		kgo_spin_unlock(&wg->lock);
		if (err)
			return 0;
		err = kgo_wait_begin(&w.t, deadline, kgo_wg_expire);
		if (err)
			return err;
	}
	kgo_spin_lock(&wg->lock);
	if (wg->count == 0 || w.expired) {
		bool zero = wg->count == 0;

		kgo_spin_unlock(&wg->lock);
		if (deadline)
			kgo_wait_end(&w.t);
		return zero ? 0 : kgo_wait_err(&w.t);
	}
	w.g = kgo_self_or_die("kgo_waitgroup_wait");
	w.next = wg->waiters;
	wg->waiters = &w;
	kgo_park(kgo_spin_parkunlock, &wg->lock);
	if (!deadline)
		return 0;
	kgo_wait_end(&w.t);
	/* t.g names us only if a deadline or cancel unlinked us (sema.c). */
	return w.t.g == w.g ? kgo_wait_err(&w.t) : 0;
}

static int waitgroup_wait(struct kgo_waitgroup *wg, uint64_t deadline)
{
	bool entered = kgo_enter(true);
	int r = waitgroup_wait_in_library(wg, deadline);

	kgo_leave(entered);
	return r;
}

int kgo_waitgroup_wait_deadline(struct kgo_waitgroup *wg, uint64_t deadline)
{
	return waitgroup_wait(wg, deadline ? deadline : KGO_DL_CTX);
}

void kgo_waitgroup_wait(struct kgo_waitgroup *wg)
{
	waitgroup_wait(wg, 0);
}
