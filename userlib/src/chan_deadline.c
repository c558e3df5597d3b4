/* SPDX-License-Identifier: MIT */
/*
 * Deadlines and cancellation for channel operations, the Go way: a
 * select with two more cases, a timer's channel (time.After) and the
 * done channel of the calling goroutine's context (ctx.Done()).
 * kgo_select_deadline, kgo_chan_send_deadline, kgo_chan_recv_deadline.
 *
 * The extra cases are receives, tried like any other; a case of the
 * caller's that is ready wins over an expired deadline only by the
 * select's random pick, as in Go.  The timer is made only when the
 * select has to wait, and freed after it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

#define KGO_SELDL_STACK	8	/* cases handled without malloc */

int kgo_select_deadline(struct kgo_select_case *cases, int n, uint64_t deadline)
{
	struct kgo_select_case stack[KGO_SELDL_STACK + 2], *all = stack;
	struct kgo_ctx *ctx = kgo_ctx_current();
	struct kgo_timer *t = NULL;
	uint64_t when;
	int r, k = n;

	if (!deadline && !ctx)
		return kgo_select(cases, n, true);
	if (n < 0 || (n && !cases))
		return -EINVAL;
	r = kgo_ctx_err(ctx);
	if (r)
		return r;
	r = kgo_select(cases, n, false);
	if (r != -1)
		return r;	/* a case was ready, or an error */
	when = kgo_nanotime();
	if (deadline && when >= deadline)
		return -ETIMEDOUT;
	if (n > KGO_SELDL_STACK) {
		all = malloc(((size_t)n + 2) * sizeof(*all));
		if (!all)
			return -ENOMEM;
	}
	if (n)
		memcpy(all, cases, (size_t)n * sizeof(*all));
	if (deadline) {
		t = kgo_timer_new(deadline - when, NULL, NULL);
		if (!t) {
			r = -errno;
			goto out;
		}
		all[k++] = (struct kgo_select_case){ .chan = kgo_timer_chan(t),
						     .dir = KGO_SELECT_RECV };
	}
	if (ctx)
		all[k++] = (struct kgo_select_case){ .chan = kgo_ctx_done(ctx),
						     .dir = KGO_SELECT_RECV };
	r = kgo_select(all, k, true);
	if (r >= 0 && r < n) {
		cases[r].ok = all[r].ok;
	} else if (r >= n) {
		/* The timer fired, or the context's done channel closed. */
		r = t && all[r].chan == kgo_timer_chan(t) ? -ETIMEDOUT : kgo_ctx_err(ctx);
		if (!r)
			r = -ECANCELED;
	}
out:
	kgo_timer_free(t);
	if (all != stack)
		free(all);
	return r;
}

int kgo_chan_send_deadline(struct kgo_chan *c, const void *elem, uint64_t deadline)
{
	struct kgo_select_case sc = { .chan = c, .dir = KGO_SELECT_SEND, .elem = (void *)elem };
	int r;

	if (!c)
		return -EINVAL;
	r = kgo_select_deadline(&sc, 1, deadline);
	return r == 0 ? (sc.ok ? 0 : -EPIPE) : r;
}

int kgo_chan_recv_deadline(struct kgo_chan *c, void *elem, uint64_t deadline)
{
	struct kgo_select_case sc = { .chan = c, .dir = KGO_SELECT_RECV, .elem = elem };
	int r;

	if (!c)
		return -EINVAL;
	r = kgo_select_deadline(&sc, 1, deadline);
	return r == 0 ? (sc.ok ? 1 : 0) : r;
}
