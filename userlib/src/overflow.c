/* SPDX-License-Identifier: MIT */
/*
 * The run-queue overflow: where a runnable G goes when both its P's ring
 * and kgo.ko's global queue are full (KGO_IOC_READY or RUNQPUTSLOW said
 * -ENOSPC; the global queue's limit is the module's gq_limit parameter).
 * Go's queues have no limit, so a goroutine made runnable is never lost
 * there; here it waits in this list instead of aborting the program.
 *
 * A LIFO list of Gs linked through schedlink (a runnable G is on no free
 * list), under a spinlock; n is read without the lock as a hint, so the
 * scheduler's look costs one load while the list is empty.  An M looks
 * here before it would sleep in the module (kgo_schedule), and the global
 * queue being full when a G was put here means Ms are busy with it, so
 * one of them comes back through kgo_schedule and finds it.
 */
#include "block.h"

static struct {
	uint32_t lock;
	_Atomic uint32_t n;
	struct kgo_g *head;
} kgo_overflow;

/* Queue runnable @g here, and have an idle P look.  Any thread. */
void kgo_overflow_put(struct kgo_g *g)
{
	kgo_spin_lock(&kgo_overflow.lock);
	g->schedlink = kgo_overflow.head;
	kgo_overflow.head = g;
	atomic_fetch_add_explicit(&kgo_overflow.n, 1, memory_order_relaxed);
	kgo_spin_unlock(&kgo_overflow.lock);
	kgo_wakep();
}

/* A G from the overflow, or NULL.  Any thread. */
struct kgo_g *kgo_overflow_get(void)
{
	struct kgo_g *g;

	if (!atomic_load_explicit(&kgo_overflow.n, memory_order_relaxed))
		return NULL;
	kgo_spin_lock(&kgo_overflow.lock);
	g = kgo_overflow.head;
	if (g) {
		kgo_overflow.head = g->schedlink;
		g->schedlink = NULL;
		atomic_fetch_sub_explicit(&kgo_overflow.n, 1, memory_order_relaxed);
	}
	kgo_spin_unlock(&kgo_overflow.lock);
	return g;
}

/* A fork's child: the Gs are the parent's. */
void kgo_overflow_forget_after_fork(void)
{
	kgo_overflow.lock = 0;
	kgo_overflow.head = NULL;
	atomic_store_explicit(&kgo_overflow.n, 0, memory_order_relaxed);
}

/* Forget whatever is left (abandoned Gs, freed with the instance). */
void kgo_overflow_reset(void)
{
	kgo_spin_lock(&kgo_overflow.lock);
	kgo_overflow.head = NULL;
	atomic_store_explicit(&kgo_overflow.n, 0, memory_order_relaxed);
	kgo_spin_unlock(&kgo_overflow.lock);
}
