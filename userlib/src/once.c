/* SPDX-License-Identifier: MIT */
/*
 * kgo_once: run a function exactly once (Go's sync.Once).  done is set,
 * with release order, only after the function has returned, and read
 * with acquire order; so a caller that sees it set also sees everything
 * the function did.  Callers that find it unset serialise on the mutex,
 * and those that lose wait there until the function is done: none of them
 * returns before it has run, as Go's Do promises.
 */
#include "block.h"

void kgo_once_do(struct kgo_once *o, void (*fn)(void *), void *arg)
{
	/* Acquire: pairs with the release store below. */
	if (__atomic_load_n(&o->done, __ATOMIC_ACQUIRE))
		return;
	kgo_mutex_lock(&o->mu);
	if (!__atomic_load_n(&o->done, __ATOMIC_RELAXED)) {
		fn(arg);
		__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
	}
	kgo_mutex_unlock(&o->mu);
}
