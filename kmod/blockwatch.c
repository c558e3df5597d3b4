// SPDX-License-Identifier: GPL-2.0
/*
 * blockwatch: the scheduler tells sysmon the moment an M blocks.
 *
 * A probe on the sched_switch tracepoint sees every thread the kernel
 * switches out.  When it is an M that holds a P, in a G's own code, and it
 * goes to sleep (not a preemption), the probe stamps the block on the M
 * (when, and the thread's switch counts, which name this very block) and
 * arms a timer for KGO_BLOCK_NOTIFY_NS later.  The timer wakes
 * sysmon, whose pass then hands the P off at once if the M is still in
 * that block (sysmon.c): a block is acted on about 20 us after it began,
 * instead of on sysmon's second look.  Go's rule is kept: a block shorter
 * than that keeps its P, since a handoff costs more.
 *
 * Which threads are Ms: a hash table from task to M, with an entry for
 * every attached M (kgo_blockwatch_add at ATTACH, kgo_blockwatch_del when
 * the M leaves the instance's table).  Entries hold nothing of their own:
 * the M holds its task and its instance, and is freed an RCU grace period
 * after its last reference is dropped, which is after it left this table;
 * the probe runs with preemption off, inside the tracepoint's RCU read
 * section, so an M it finds stays valid while it looks.  A thread that
 * exits or execs keeps its entry until its M is unlinked, harmlessly: a
 * task that is not running is never switched out, and a task that is
 * running under another mm fails the state check below (sysmon abandons
 * such an M).
 *
 * The probe is registered once, at module load, and removed at unload
 * (tracepoint_synchronize_unregister, then the timer is cancelled).  The
 * tracepoint is not exported to modules; it is found by name.  Where it
 * cannot be registered (block_notify=0, or a kernel without it), sysmon
 * polls as before and KGO_FEAT_BLOCK_NOTIFY is not reported.
 */
#include <linux/hashtable.h>
#include <linux/hrtimer.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>

#include "kgo_internal.h"

static bool kgo_block_notify = true;
module_param_named(block_notify, kgo_block_notify, bool, 0444);
MODULE_PARM_DESC(block_notify,
		 "Hand a blocked M's P off on the scheduler's notice, not on sysmon's second look (default Y)");

#define KGO_BLOCKWATCH_HASH_BITS	10

/*
 * The Ms, by task.  Writers (attach, unlink) take kgo_blockwatch_lock;
 * the probe reads under RCU.  kgo_blockwatch_nms counts the entries so
 * that the probe costs one load on a machine with no M at all.
 */
static DEFINE_HASHTABLE(kgo_blockwatch_ms, KGO_BLOCKWATCH_HASH_BITS);
static DEFINE_SPINLOCK(kgo_blockwatch_lock);
static atomic_t kgo_blockwatch_nms = ATOMIC_INIT(0);

static struct tracepoint *kgo_blockwatch_tp;
/* Set once the probe is in; read by VERSION (kgo_blockwatch_active). */
static bool kgo_blockwatch_on;
/*
 * The timer that wakes sysmon KGO_BLOCK_NOTIFY_NS after a block.  Armed by
 * the probe (any CPU, runqueue locked, interrupts off: hrtimer_start takes
 * only the timer base's raw lock, as the scheduler's own hrtick does) and
 * only when not already pending, so at most one wakeup per period.
 */
static struct hrtimer kgo_blockwatch_timer;

static enum hrtimer_restart kgo_blockwatch_fire(struct hrtimer *t)
{
	kgo_sysmon_kick();
	return HRTIMER_NORESTART;
}

/*
 * The probe, the sched_switch tracepoint's signature (the same from 5.18
 * to 6.12 at least).  The scheduler's context: @prev's runqueue locked,
 * interrupts off; must not sleep, take a sleeping lock or wake a task.
 */
static void kgo_blockwatch_switch(void *data, bool preempt,
				  struct task_struct *prev,
				  struct task_struct *next,
				  unsigned int prev_state)
{
	struct kgo_km *m;
	u64 now, at;

	/* A preemption, or a thread that stays runnable: not a block. */
	if (preempt || prev_state == TASK_RUNNING ||
	    !atomic_read(&kgo_blockwatch_nms))
		return;
	hash_for_each_possible_rcu_notrace(kgo_blockwatch_ms, m, watch_link,
					   (unsigned long)prev) {
		if (m->task != prev)
			continue;
		/*
		 * Only an M in a G's own code matters: the library's own
		 * sleeps (PARK) hold no P.  The slot is the process's to
		 * write; a lie here only wakes sysmon early, and sysmon
		 * checks everything again under inst->lock.
		 */
		if (!READ_ONCE(m->p) || READ_ONCE(m->sh->state) != KGO_MS_G)
			return;
		now = ktime_get_mono_fast_ns();
		/* One writer: the CPU switching @prev out. */
		WRITE_ONCE(m->notify_at_ns, now);
		/*
		 * Pairs with the smp_rmb() in kgo_blockwatch_since: a reader
		 * that sees these counts sees this time or a later one.
		 */
		smp_wmb();
		WRITE_ONCE(m->notify_nivcsw, prev->nivcsw);
		WRITE_ONCE(m->notify_nvcsw, prev->nvcsw);
		if (!hrtimer_active(&kgo_blockwatch_timer)) {
			at = max(now + KGO_BLOCK_NOTIFY_NS, kgo_sysmon_next_ok_ns());
			hrtimer_start(&kgo_blockwatch_timer, ns_to_ktime(at - now),
				      HRTIMER_MODE_REL_HARD);
		}
		return;
	}
}

/*
 * kgo_blockwatch_since - if @m's thread, whose voluntary switch count is
 * now @nvcsw, is still in the block the probe stamped, when that block
 * began.  sysmon, under RCU.  The probe runs after __schedule has counted
 * the block's own switch.  Since then, any run of the thread began with a
 * switch in, and could only have ended (off the CPU again) with a switch
 * out, voluntary or not, which the counts would show.  So: off the CPU,
 * and both counts as stamped, means it has not run since.  (A thread on
 * its way to sleep has set its state before it leaves the CPU: on_cpu
 * tells that one apart, since its counts are still the last block's.)
 */
bool kgo_blockwatch_since(struct kgo_km *m, unsigned long nvcsw, u64 *at)
{
	struct task_struct *t = m->task;
	unsigned long seen = READ_ONCE(m->notify_nvcsw);
	unsigned long seen_iv = READ_ONCE(m->notify_nivcsw);

	/* Pairs with the smp_wmb() in the probe. */
	smp_rmb();
	*at = READ_ONCE(m->notify_at_ns);
	return *at && seen == nvcsw && seen_iv == READ_ONCE(t->nivcsw) &&
	       !READ_ONCE(t->on_cpu);
}

/* ATTACH: @m's thread becomes known to the probe.  Process context. */
void kgo_blockwatch_add(struct kgo_km *m)
{
	spin_lock(&kgo_blockwatch_lock);
	hash_add_rcu(kgo_blockwatch_ms, &m->watch_link, (unsigned long)m->task);
	atomic_inc(&kgo_blockwatch_nms);
	spin_unlock(&kgo_blockwatch_lock);
}

/*
 * The M leaves its instance's table.  Its memory goes an RCU grace period
 * after its last put (m.c), and the probe's read section is such a
 * section, so no probe still looks at it then.
 */
void kgo_blockwatch_del(struct kgo_km *m)
{
	spin_lock(&kgo_blockwatch_lock);
	hash_del_rcu(&m->watch_link);
	atomic_dec(&kgo_blockwatch_nms);
	spin_unlock(&kgo_blockwatch_lock);
}

bool kgo_blockwatch_active(void)
{
	return READ_ONCE(kgo_blockwatch_on);
}

static void kgo_blockwatch_find(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_switch"))
		kgo_blockwatch_tp = tp;
}

/* Module load.  Failing to hook the scheduler is not fatal: sysmon polls. */
void kgo_blockwatch_init(void)
{
	int err;

	hrtimer_init(&kgo_blockwatch_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	kgo_blockwatch_timer.function = kgo_blockwatch_fire;
	if (!kgo_block_notify)
		return;
	for_each_kernel_tracepoint(kgo_blockwatch_find, NULL);
	if (!kgo_blockwatch_tp) {
		pr_info("no sched_switch tracepoint: blocked Ms are found by polling\n");
		return;
	}
	err = tracepoint_probe_register(kgo_blockwatch_tp, kgo_blockwatch_switch, NULL);
	if (err) {
		pr_info("sched_switch probe: error %d: blocked Ms are found by polling\n", err);
		return;
	}
	WRITE_ONCE(kgo_blockwatch_on, true);
}

/*
 * Module unload, before sysmon stops (the timer wakes it): no instance is
 * left, so the table is empty; no probe runs after the synchronisation,
 * and then no timer can be armed again.
 */
void kgo_blockwatch_exit(void)
{
	if (READ_ONCE(kgo_blockwatch_on)) {
		tracepoint_probe_unregister(kgo_blockwatch_tp, kgo_blockwatch_switch, NULL);
		tracepoint_synchronize_unregister();
		WRITE_ONCE(kgo_blockwatch_on, false);
	}
	hrtimer_cancel(&kgo_blockwatch_timer);
}
