// SPDX-License-Identifier: GPL-2.0
/* Per-instance counters, for the STATS ioctl. */
#include <linux/string.h>

#include "kgo_internal.h"

/*
 * kgo_ioc_stats - the STATS ioctl's counters (debugfs shows them too).
 * Any thread of the owner.  A snapshot: counters move while it is taken.
 */
void kgo_ioc_stats(struct kgo_inst *inst, struct kgo_stats *st)
{
	memset(st, 0, sizeof(*st));
	spin_lock(&inst->lock);
	st->nprocs = inst->nprocs;
	st->npidle = inst->npidle;
	st->nmidle = inst->nmidle;
	st->gq_len = inst->gq.len;
	spin_unlock(&inst->lock);
	st->nms = READ_ONCE(inst->nms);
	st->nmspinning = atomic_read(kgo_nmspinning(inst));
	st->parks = atomic64_read(&inst->stats.parks);
	st->wakeups = atomic64_read(&inst->stats.wakeups);
	st->steals = atomic64_read(&inst->stats.steals);
	st->stolen = atomic64_read(&inst->stats.stolen);
	st->gq_puts = atomic64_read(&inst->stats.gq_puts);
	st->gq_gets = atomic64_read(&inst->stats.gq_gets);
	st->readies = atomic64_read(&inst->stats.readies);
	st->ioctls = atomic64_read(&inst->stats.ioctls);
	st->handoffs = atomic64_read(&inst->stats.handoffs);
	st->preempts = atomic64_read(&inst->stats.preempts);
	st->exitsyscalls = atomic64_read(&inst->stats.exitsyscalls);
	st->sysmon_wakeps = atomic64_read(&inst->stats.sysmon_wakeps);
	st->preempt_deferrals = atomic64_read(&inst->stats.preempt_deferrals);
	st->lockedm_waits = atomic64_read(&inst->stats.lockedm_waits);
	st->lockedm_starts = atomic64_read(&inst->stats.lockedm_starts);
	st->handoffs_notified = atomic64_read(&inst->stats.handoffs_notified);
}
