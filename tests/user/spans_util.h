/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interval lists in nanoseconds: built in any order, then sorted and
 * merged into disjoint spans; what part of a window they cover.  Used by
 * timing_util.h (when a CPU was stopped) and sched_trace_util.h (when
 * kgo needed a CPU).
 */
#ifndef KGO_TESTS_SPANS_UTIL_H
#define KGO_TESTS_SPANS_UTIL_H

#include <stdint.h>
#include <stdlib.h>

struct spans {
	int64_t (*v)[2];
	int n, cap;
};

/* [@from, @to) appended as is; spans_merge puts the list in order. */
static inline void spans_push(struct spans *l, int64_t from, int64_t to)
{
	if (to <= from)
		return;
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 64;
		int64_t (*v)[2] = realloc(l->v, (size_t)cap * sizeof(*v));

		if (!v)
			abort();
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n][0] = from;
	l->v[l->n][1] = to;
	l->n++;
}

/* [@from, @to) added to a list kept sorted: @from no earlier than the last's start. */
static inline void spans_add(struct spans *l, int64_t from, int64_t to)
{
	if (l->n && from <= l->v[l->n - 1][1]) {
		if (to > l->v[l->n - 1][1])
			l->v[l->n - 1][1] = to;
		return;
	}
	spans_push(l, from, to);
}

static int spans_cmp(const void *x, const void *y)
{
	const int64_t *a = x, *b = y;

	return (a[0] > b[0]) - (a[0] < b[0]);
}

/* Sorts @l by start and merges what overlaps or touches. */
static inline void spans_merge(struct spans *l)
{
	int out = 0;

	if (l->n < 2)
		return;
	qsort(l->v, (size_t)l->n, sizeof(l->v[0]), spans_cmp);
	for (int i = 1; i < l->n; i++) {
		if (l->v[i][0] <= l->v[out][1]) {
			if (l->v[i][1] > l->v[out][1])
				l->v[out][1] = l->v[i][1];
		} else {
			out++;
			l->v[out][0] = l->v[i][0];
			l->v[out][1] = l->v[i][1];
		}
	}
	l->n = out + 1;
}

/* The first span of merged @l that ends after @t (l->n if none). */
static inline int spans_find(const struct spans *l, int64_t t)
{
	int lo = 0, hi = l->n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (l->v[mid][1] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Each part of merged @l inside [@a, @b) pushed onto @out. */
static inline void spans_clip(const struct spans *l, int64_t a, int64_t b, struct spans *out)
{
	for (int i = spans_find(l, a); i < l->n && l->v[i][0] < b; i++)
		spans_push(out, l->v[i][0] > a ? l->v[i][0] : a, l->v[i][1] < b ? l->v[i][1] : b);
}

/* The total length of merged @l. */
static inline int64_t spans_total(const struct spans *l)
{
	int64_t total = 0;

	for (int i = 0; i < l->n; i++)
		total += l->v[i][1] - l->v[i][0];
	return total;
}

static inline void spans_free(struct spans *l)
{
	free(l->v);
	*l = (struct spans){ 0 };
}

#endif /* KGO_TESTS_SPANS_UTIL_H */
