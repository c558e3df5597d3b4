/* SPDX-License-Identifier: MIT */
/*
 * ThreadSanitizer's view of goroutines, for the TSan flavour that
 * scripts/check builds (-DKGO_TSAN); empty otherwise.
 *
 * TSan keeps a shadow call stack and a vector clock per thread.  A G is
 * not a thread: kgo_ctx_switch moves a thread from g0's stack to a G's and
 * back, and a G resumes on whichever M runs it next.  So each G is a TSan
 * fiber (created the first time the G's struct runs, kept with it when it
 * is reused from the free list), and each switch tells TSan which fiber
 * the thread now runs: a G's own code is then one sequence wherever it
 * runs.  docs/sanitizers.md says what TSan still cannot see (orderings
 * that the kernel makes, and standalone fences).
 */
#ifndef KGO_TSAN_H
#define KGO_TSAN_H

#include "internal.h"

#ifdef KGO_TSAN
#include <sanitizer/tsan_interface.h>

/* On @m's g0, just before switching to @g. */
static inline void kgo_tsan_to_g(struct kgo_m *m, struct kgo_g *g)
{
	m->tsan_g0 = __tsan_get_current_fiber();
	if (!g->tsan_fiber)
		g->tsan_fiber = __tsan_create_fiber(0);
	__tsan_switch_to_fiber(g->tsan_fiber, 0);
}

/* On a G, just before switching to @m's g0. */
static inline void kgo_tsan_to_g0(struct kgo_m *m)
{
	__tsan_switch_to_fiber(m->tsan_g0, 0);
}

/* @g's struct is about to be unmapped (a stack of its own); not on @g. */
static inline void kgo_tsan_gone(struct kgo_g *g)
{
	if (g->tsan_fiber)
		__tsan_destroy_fiber(g->tsan_fiber);
	g->tsan_fiber = NULL;
}
#else
static inline void kgo_tsan_to_g(struct kgo_m *m, struct kgo_g *g)
{
	(void)m;
	(void)g;
}

static inline void kgo_tsan_to_g0(struct kgo_m *m)
{
	(void)m;
}

static inline void kgo_tsan_gone(struct kgo_g *g)
{
	(void)g;
}
#endif

#endif /* KGO_TSAN_H */
