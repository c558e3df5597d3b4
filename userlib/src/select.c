/* SPDX-License-Identifier: MIT */
/*
 * kgo_select (Go's selectgo), and the per-thread random numbers it uses.
 *
 *  1. Shuffle the cases into a random poll order; sort the distinct
 *     channels by address into a lock order.  Every select locks channels
 *     in address order, so two selects cannot deadlock on each other.
 *  2. Lock them all, and try the cases in poll order: the first that can
 *     proceed without blocking is done, and its index returned.  Random
 *     order makes the pick uniform among the cases ready at once.
 *  3. Nothing ready and non-blocking: unlock, return -1.
 *  4. Else queue a waiter record on every case's channel, all sharing one
 *     "done" flag, and park; the unlock function releases the channels.
 *     The first goroutine to claim the flag (chan.c's dequeue) does its
 *     transfer into or out of our record and readies us.
 *  5. Awake: lock them all again, unlink the records still queued on the
 *     other channels, unlock, and report the case that won.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

/* Cases handled with arrays on the goroutine's stack; more are malloc()ed. */
#define KGO_SELECT_STACK	4

static _Thread_local uint64_t kgo_rand_state;

/*
 * A 64-bit random number: splitmix64 over a per-thread counter, seeded
 * from the clock and the thread.  Not inlined, so that the thread-local
 * state is found afresh on every call, whatever thread a goroutine is on.
 */
__attribute__((noinline)) static uint64_t kgo_fastrand64(void)
{
	uint64_t z;

	if (!kgo_rand_state)
		kgo_rand_state = kgo_now() ^ (uint64_t)(uintptr_t)&kgo_rand_state;
	kgo_rand_state += 0x9e3779b97f4a7c15ull;
	z = kgo_rand_state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint32_t kgo_fastrandn(uint32_t n)
{
	/* Multiply-shift: a bias of at most n / 2^32, far below any test's. */
	return (uint32_t)(((kgo_fastrand64() >> 32) * (uint64_t)n) >> 32);
}

/* The channels locked by one select, in address order, each once. */
struct kgo_sellocks {
	struct kgo_chan **c;
	int n;
};

static void kgo_sellock(const struct kgo_sellocks *l)
{
	for (int i = 0; i < l->n; i++)
		kgo_spin_lock(&l->c[i]->lock);
}

static void kgo_selunlock(const struct kgo_sellocks *l)
{
	for (int i = l->n; i-- > 0;)
		kgo_spin_unlock(&l->c[i]->lock);
}

/*
 * kgo_park's unlock function (Go's selparkcommit).  As soon as one channel
 * is unlocked a waker may ready the select, which then locks the channels
 * again in address order, starting with c[0].  So they are released from
 * the last to c[0], and nothing on the select's stack is touched after
 * c[0] is: until then the select cannot get past its first lock.
 */
static bool kgo_selparkunlock(void *arg)
{
	const struct kgo_sellocks *l = arg;
	struct kgo_chan **c = l->c;

	for (int i = l->n; i-- > 0;)
		kgo_spin_unlock(&c[i]->lock);
	return true;
}

/*
 * Heap sort of @n channels by address (Go's selectgo sorts its lock order
 * the same way): in place, O(n log n) at worst, and no call out of the
 * library.  Not qsort: glibc's may malloc, and this runs in the library
 * (docs/design.md, "No malloc or free in the library").
 */
static void kgo_sift_down(struct kgo_chan **a, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		struct kgo_chan *t;

		if (child >= n)
			return;
		if (child + 1 < n && (uintptr_t)a[child] < (uintptr_t)a[child + 1])
			child++;
		if ((uintptr_t)a[root] >= (uintptr_t)a[child])
			return;
		t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

static void kgo_sort_chans(struct kgo_chan **a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		kgo_sift_down(a, i, n);
	for (size_t end = n; end-- > 1;) {
		struct kgo_chan *t = a[0];

		a[0] = a[end];
		a[end] = t;
		kgo_sift_down(a, 0, end);
	}
}

/* Try case @i with its channel locked; KGO_CH_BLOCK if it is not ready. */
static int kgo_select_try(struct kgo_select_case *sc, struct kgo_g **wake)
{
	if (sc->dir == KGO_SELECT_SEND)
		return kgo_chan_trysend_locked(sc->chan, sc->elem, wake);
	return kgo_chan_tryrecv_locked(sc->chan, sc->elem, wake);
}

struct kgo_selscratch {
	int *order;			/* poll order: indices of usable cases */
	struct kgo_chan **locks;	/* lock order */
	struct kgo_sudog *sgs;		/* one per case */
};

static int kgo_select_locked(struct kgo_select_case *cases, int n, bool block,
			     struct kgo_selscratch *s);

/* The scratch arrays of a select of @n cases, past what fits on the stack. */
static size_t select_heap_bytes(int n)
{
	size_t each = sizeof(int) + sizeof(struct kgo_chan *) + sizeof(struct kgo_sudog);

	return n > KGO_SELECT_STACK ? each * (size_t)n : 0;
}

/* @heap: select_heap_bytes(n) bytes, or NULL when that is 0. */
static int select_in_library(struct kgo_select_case *cases, int n, bool block, void *heap)
{
	int order[KGO_SELECT_STACK];
	struct kgo_chan *locks[KGO_SELECT_STACK];
	struct kgo_sudog sgs[KGO_SELECT_STACK];
	struct kgo_selscratch s = { order, locks, sgs };

	for (int i = 0; i < n; i++)
		if (cases[i].chan &&
		    ((cases[i].dir != KGO_SELECT_SEND && cases[i].dir != KGO_SELECT_RECV) ||
		     (cases[i].dir == KGO_SELECT_SEND && !cases[i].elem &&
		      cases[i].chan->elemsize)))
			return -EINVAL;
	if (heap) {
		s.sgs = heap;
		s.locks = (struct kgo_chan **)(s.sgs + n);
		s.order = (int *)(s.locks + n);
	}
	return kgo_select_locked(cases, n, block, &s);
}

int kgo_select(struct kgo_select_case *cases, int n, bool block)
{
	size_t bytes;
	void *heap = NULL;
	bool entered;
	int r;

	if (n < 0 || (n && !cases))
		return -EINVAL;
	/* Before kgo_enter: malloc must not run in the library (rawmem.c). */
	bytes = select_heap_bytes(n);
	if (bytes) {
		heap = malloc(bytes);
		if (!heap)
			return -ENOMEM;
	}
	entered = kgo_enter(true);
	r = select_in_library(cases, n, block, heap);
	kgo_leave(entered);
	free(heap);
	return r;
}

static int kgo_select_locked(struct kgo_select_case *cases, int n, bool block,
			     struct kgo_selscratch *s)
{
	struct kgo_sellocks l = { s->locks, 0 };
	struct kgo_selstate st;
	struct kgo_sudog *win;
	int nuse = 0, i;

	/* Poll order: a Fisher-Yates shuffle of the usable cases. */
	for (i = 0; i < n; i++) {
		int j;

		if (!cases[i].chan)
			continue;
		j = (int)kgo_fastrandn((uint32_t)nuse + 1);
		s->order[nuse] = s->order[j];
		s->order[j] = i;
		nuse++;
	}
	if (nuse == 0) {
		if (!block)
			return -1;
		kgo_self_or_die("kgo_select");
		for (;;)
			kgo_park(NULL, NULL);	/* select {}: never readied */
	}

	/* Lock order: the distinct channels by address. */
	for (i = 0; i < nuse; i++)
		s->locks[i] = cases[s->order[i]].chan;
	kgo_sort_chans(s->locks, (size_t)nuse);
	for (i = 0; i < nuse; i++)
		if (l.n == 0 || s->locks[l.n - 1] != s->locks[i])
			s->locks[l.n++] = s->locks[i];

	kgo_sellock(&l);
	for (i = 0; i < nuse; i++) {
		struct kgo_select_case *sc = &cases[s->order[i]];
		struct kgo_g *wake;
		int r = kgo_select_try(sc, &wake);

		if (r == KGO_CH_BLOCK)
			continue;
		kgo_selunlock(&l);
		if (wake)
			kgo_ready(wake);
		sc->ok = r == KGO_CH_DONE;
		return s->order[i];
	}
	if (!block) {
		kgo_selunlock(&l);
		return -1;
	}

	/* Wait on every channel at once. */
	atomic_init(&st.done, 0);
	st.winner = NULL;
	for (i = 0; i < nuse; i++) {
		int ci = s->order[i];
		struct kgo_sudog *sg = &s->sgs[i];

		memset(sg, 0, sizeof(*sg));
		sg->g = kgo_self_or_die("kgo_select");
		sg->c = cases[ci].chan;
		sg->elem = cases[ci].elem;
		sg->sel = &st;
		sg->casei = ci;
		kgo_waitq_push(cases[ci].dir == KGO_SELECT_SEND ? &sg->c->sendq : &sg->c->recvq,
			       sg);
	}
	kgo_park(kgo_selparkunlock, &l);

	/* One waker won st and readied us; take our other records back. */
	kgo_sellock(&l);
	win = st.winner;
	for (i = 0; i < nuse; i++) {
		struct kgo_sudog *sg = &s->sgs[i];

		if (sg == win)
			continue;
		kgo_waitq_remove(cases[sg->casei].dir == KGO_SELECT_SEND ?
				 &sg->c->sendq : &sg->c->recvq, sg);
	}
	kgo_selunlock(&l);
	if (!win)
		kgo_fatal("kgo_select: woken without a winning case");
	cases[win->casei].ok = win->success;
	return win->casei;
}
