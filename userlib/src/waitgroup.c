/*
 * kgo_waitgroup: Go's sync.WaitGroup on park/ready.  The count and the
 * list of waiting goroutines (records on their stacks) are guarded by the
 * group's spinlock; the add that brings the count to zero takes the whole
 * list and readies every waiter after dropping the lock.
 */
#include "block.h"

struct kgo_wgwaiter {
	struct kgo_g *g;
	struct kgo_wgwaiter *next;
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

static void waitgroup_wait_in_library(struct kgo_waitgroup *wg)
{
	struct kgo_wgwaiter w;

	kgo_spin_lock(&wg->lock);
	if (wg->count == 0) {
		kgo_spin_unlock(&wg->lock);
		return;
	}
	w.g = kgo_self_or_die("kgo_waitgroup_wait");
	w.next = wg->waiters;
	wg->waiters = &w;
	kgo_park(kgo_spin_parkunlock, &wg->lock);
}

void kgo_waitgroup_wait(struct kgo_waitgroup *wg)
{
	bool entered = kgo_enter(true);

	waitgroup_wait_in_library(wg);
	kgo_leave(entered);
}
