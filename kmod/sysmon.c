// SPDX-License-Identifier: GPL-2.0
/*
 * sysmon: one kthread watching every instance, as Go's sysmon watches its
 * Ps, with what only the kernel can see: each M's real task state.
 *
 * Every pass looks at each M that holds a P:
 *  - If its thread sleeps in the kernel (any system call, page fault,
 *    futex or sleep; no wrapper needed), and has for KGO_BLOCK_NOTIFY_NS
 *    by the scheduler's own notice (blockwatch.c, which also wakes sysmon
 *    then) or, where that notice is missing, since the previous pass (its
 *    voluntary context-switch count has not moved), the P is
 *    handed to another M (handoffp) when there is work for it, or after
 *    KGO_HANDOFF_ALWAYS_NS regardless.  The library's slot goes G -> LOST
 *    by compare-and-swap, so a P is only ever taken from an M that is in
 *    a G's own code, never from the library.
 *  - If it runs, in a G's own code, a G that has run longer than the
 *    slice while other Gs wait to run (in any ring or the global queue),
 *    the G is preempted.
 * Either way the thread gets its resume work (preempt.c), a task_work that
 * runs on its next return to user mode: for a blocked thread, when its
 * system call finishes (never interrupting it, so never EINTR).  There
 * the thread waits for a P, keeping its G (lockedm.c).
 * sysmon also wakes an idle M when the global queue has work and no M is
 * spinning, so no work is stranded.
 *
 * Backoff, after Go: 20us between passes, doubling after 50 passes in a
 * row with nothing to do, up to 500us while any P is running and 10ms when
 * every P is idle.  Acting takes two passes (a G's run is timed from the
 * pass that first sees it; a block not notified must be seen twice).  A
 * block that could be acted on is looked at again after the minimum
 * delay, so a blocked M's P with work waiting is handed off within one
 * busy period and a bit (about 0.6 ms; 20 us and a pass when notified);
 * a G is preempted within a busy period of the end of its slice.  sysmon
 * is a real-time thread (it must not queue behind the CPU hogs it is
 * there to stop), so it also sleeps at least KGO_SYSMON_DUTY times as long
 * as its passes take: never more than a fifth of a CPU, on however slow a
 * machine.
 */
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>

#include "kgo_internal.h"
#include "trace.h"

/* Ms looked at per RCU read section before a break (kgo_retake). */
#define KGO_SYSMON_MS_PER_RCU	64

DEFINE_MUTEX(kgo_sysmon_lock);	/* the list, and sysmon's passes */
LIST_HEAD(kgo_sysmon_list);
static struct task_struct *kgo_sysmon_task;
/*
 * kgo_sysmon_kicked: blockwatch's timer asks for a pass now; set before
 * the wakeup, cleared by sysmon as a pass begins, so that a kick during a
 * pass is not lost to the sleep that follows it.  kgo_sysmon_next_ok: the
 * earliest time (ktime_get_ns) sysmon's duty rule lets a kick wake it.
 * Both read and written with READ_ONCE/WRITE_ONCE; only hints.
 */
static bool kgo_sysmon_kicked;
static u64 kgo_sysmon_next_ok;
u64 kgo_sysmon_passes, kgo_sysmon_pass_ns, kgo_sysmon_worst_ns;

/*
 * kgo_sysmon_next_delay - sysmon's sleep before its next pass, given the
 * last delay, how many passes in a row found nothing to do, and whether
 * any P is running.  Pure.
 */
u64 kgo_sysmon_next_delay(u64 delay, u32 idle_cycles, bool busy)
{
	u64 max = busy ? KGO_SYSMON_BUSY_MAX_NS : KGO_SYSMON_IDLE_MAX_NS;

	if (idle_cycles == 0 || delay < KGO_SYSMON_MIN_NS)
		delay = KGO_SYSMON_MIN_NS;
	else if (idle_cycles > 50)
		delay *= 2;
	return min(delay, max);
}

/*
 * kgo_sysmon_sleep_ns - how long sysmon sleeps when its passes take about
 * @cost_ns: the backoff's @delay, but at least KGO_SYSMON_DUTY times a
 * pass, so that sysmon (real-time) never takes more than a fifth of a CPU
 * from the Ms, however slow its passes (many Ms, a slow or emulated
 * machine).  Pure.
 */
u64 kgo_sysmon_sleep_ns(u64 delay, u64 cost_ns)
{
	return max(delay, KGO_SYSMON_DUTY * cost_ns);
}

/*
 * kgo_sysmon_cost_est - what a pass costs, from the last estimate @est and
 * the pass just timed, @cost_ns (wall time).  Down at once, up by at most
 * a quarter per pass: a pass during which the CPU was taken away (an
 * interrupt storm, a hypervisor) must not make sysmon sleep four times as
 * long, while passes that stay slow are soon counted in full.  Pure.
 */
u64 kgo_sysmon_cost_est(u64 est, u64 cost_ns)
{
	if (cost_ns <= est)
		return cost_ns;
	return est + min(cost_ns - est, est / 4 + NSEC_PER_USEC);
}

/*
 * kgo_retake_decide - what to do with one M holding a P.  Pure.
 * A P is taken from a blocked M only if the block has lasted (same_block:
 * KGO_BLOCK_NOTIFY_NS by the scheduler's notice, or two passes in a row
 * without one), and (as in Go's retake) only if someone else could use it:
 * its queue or the global queue has Gs, or there is no idle or spinning
 * capacity elsewhere, or it has been blocked for KGO_HANDOFF_ALWAYS_NS.
 * A block seen for the first time that the second look would act on
 * because someone could use the P asks for that look soon (RECHECK).
 */
enum kgo_retake_action kgo_retake_decide(const struct kgo_retake_sample *s)
{
	bool wanted = s->p_has_work || s->no_spare;

	if (s->m_state != KGO_MS_G)
		return KGO_RETAKE_NONE;
	if (s->blocked) {
		if (!s->same_block)
			return wanted ? KGO_RETAKE_RECHECK : KGO_RETAKE_NONE;
		if (wanted || s->blocked_ns >= KGO_HANDOFF_ALWAYS_NS)
			return KGO_RETAKE_HANDOFF;
		return KGO_RETAKE_NONE;
	}
	/*
	 * A preempted G keeps its thread (lockedm.c): preempting one that
	 * nobody waits behind would only pin a thread.
	 */
	if (s->slice_ns && s->g_ran_ns >= s->slice_ns && s->work_waiting)
		return KGO_RETAKE_PREEMPT;
	return KGO_RETAKE_NONE;
}

/*
 * kgo_handoffp_locked - @m's P @p goes to an idle M if there is work for
 * it, else to an M waiting for a P with its G (lockedm.c), else to the
 * idle list (Go's handoffp).  inst->lock held; @m holds @p and @p is not
 * dead.  Returns whether an M was started.
 */
bool kgo_handoffp_locked(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p)
{
	bool work, started = false;

	lockdep_assert_held(&inst->lock);
	kgo_releasep(m);
	work = !kgo_runqempty(p->sh) || inst->gq.len;
	if (work)
		started = kgo_startm_locked(inst, p, false);
	/* No idle M: an M waiting with its G for a P is work enough. */
	if (!started)
		started = kgo_startlockedm_any_locked(inst, p);
	if (!started) {
		kgo_pidleput(inst, p);
		/* No M to take it now: the next M to park will (stopm). */
		if (work)
			inst->wakep_pending = true;
	}
	kgo_publish_locked(inst);
	return started;
}

/*
 * kgo_handoffp - take @m's P while its thread is blocked in a G's code.
 * sysmon only.  The slot's state only asks: the kernel decides, under
 * inst->lock, that @m still holds @p, that @m is not inside one of its
 * ioctls (where it uses its P without the lock), and that @p is not dead
 * (procresize removed it: its M drains it when it comes back, and a dead
 * P must never be started or idled).  Returns false if it did nothing.
 */
bool kgo_handoffp(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p)
{
	bool started;

	spin_lock(&inst->lock);
	if (m->p != p || inst->dying || m->in_ioctl || m->abandoned ||
	    p->status == KGO_P_DEAD ||
	    cmpxchg(&m->sh->state, KGO_MS_G, KGO_MS_LOST) != KGO_MS_G) {
		spin_unlock(&inst->lock);
		return false;
	}
	m->oldp = p;
	started = kgo_handoffp_locked(inst, m, p);
	trace_kgo_handoff(inst, m, p, started);
	spin_unlock(&inst->lock);
	atomic64_inc(&inst->stats.handoffs);
	kgo_wantm_kick(inst);
	return true;
}

/*
 * kgo_m_abandon - @m's thread exec'd or exited (kgo_m_task_is_ours): it
 * will never use the module again, so it holds nothing from now on.  Its P
 * is handed off (a dead one is only let go of: the next SET_NPROCS drains
 * it), and it is never redirected again.  The M stays in the table, an
 * unused slot, until the instance is released.  sysmon only.
 */
void kgo_m_abandon(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p)
{
	spin_lock(&inst->lock);
	if (!m->abandoned && m->p == p && !m->in_ioctl) {
		m->abandoned = true;
		if (p->status == KGO_P_DEAD)
			kgo_releasep(m);
		else
			kgo_handoffp_locked(inst, m, p);
		if (m->spinning) {
			m->spinning = false;
			atomic_dec(kgo_nmspinning(inst));
		}
		kgo_publish_locked(inst);
	}
	spin_unlock(&inst->lock);
	kgo_wantm_kick(inst);
}

/*
 * What one pass saw, beyond what it did: whether any P was held (sysmon
 * then backs off to the busy maximum, not the idle one), and whether an M
 * was seen blocked for the first time with work waiting for its P (the
 * next pass, which may hand the P off, then comes at the minimum delay).
 */
struct kgo_retake_seen {
	bool busy;
	bool recheck;
};

/* One pass over one instance; returns how many Ms it acted on. */
static int kgo_retake(struct kgo_inst *inst, u64 now, struct kgo_retake_seen *seen)
{
	u64 slice = READ_ONCE(inst->preempt.slice_ns);
	unsigned long id;
	struct kgo_km *m;
	int acted = 0;
	u32 looked = 0;
	/*
	 * Whether any ring or the global queue has work (kgo_anywork), looked
	 * at once per pass, by the first M over its slice: per M it would make
	 * a pass quadratic in the instance's Ps (sysmon_cost's dense layout).
	 * A G queued later in the pass is seen by the next one.  -1: not yet.
	 */
	int anywork = -1;

	rcu_read_lock();
	xa_for_each(&inst->ms, id, m) {
		struct kgo_p *p = READ_ONCE(m->p);
		struct kgo_retake_sample s = {};
		unsigned long nvcsw;
		u64 switches, at;

		/*
		 * Bounded work per RCU section: every KGO_SYSMON_MS_PER_RCU
		 * Ms, the read section ends and sysmon may be rescheduled.
		 * Only @id carries over (xa_for_each restarts after it); the
		 * M just loaded is not used after the break.
		 */
		if (++looked % KGO_SYSMON_MS_PER_RCU == 0) {
			rcu_read_unlock();
			cond_resched();
			rcu_read_lock();
			m = xa_load(&inst->ms, id);
			if (!m)
				continue;
			p = READ_ONCE(m->p);
		}
		if (!p || READ_ONCE(m->detached))
			continue;
		if (!kgo_m_task_is_ours(m)) {
			kgo_m_abandon(inst, m, p);
			acted++;
			continue;
		}
		seen->busy = true;
		switches = READ_ONCE(m->sh->switches);
		if (switches != m->last_switches) {
			m->last_switches = switches;
			m->g_since_ns = now;
		}
		nvcsw = READ_ONCE(m->task->nvcsw);
		s.blocked = READ_ONCE(m->task->__state) != TASK_RUNNING;
		if (s.blocked && kgo_blockwatch_since(m, nvcsw, &at)) {
			/*
			 * The scheduler told us when this block began
			 * (blockwatch.c): one look is enough once it has
			 * lasted KGO_BLOCK_NOTIFY_NS.
			 */
			m->blocked_since_ns = min(at, now);
			s.blocked_ns = now - m->blocked_since_ns;
			s.same_block = s.blocked_ns >= KGO_BLOCK_NOTIFY_NS;
			s.notified = true;
		} else if (s.blocked) {
			s.same_block = m->saw_blocked && nvcsw == m->last_nvcsw;
			if (!s.same_block)
				m->blocked_since_ns = now;
			s.blocked_ns = now - m->blocked_since_ns;
		}
		m->saw_blocked = s.blocked;
		m->last_nvcsw = nvcsw;
		s.p_has_work = !kgo_runqempty(p->sh) || READ_ONCE(inst->gq.len);
		s.no_spare = !READ_ONCE(inst->npidle) &&
			     !atomic_read(kgo_nmspinning(inst));
		s.m_state = READ_ONCE(m->sh->state);
		s.g_ran_ns = now - m->g_since_ns;
		s.slice_ns = slice;
		/*
		 * Only once the slice is over: it looks at every ring.  After
		 * SHUTDOWN a G still running is stopped for good.
		 */
		if (!s.blocked && slice && s.g_ran_ns >= slice) {
			if (anywork < 0)
				anywork = kgo_anywork(inst);
			s.work_waiting = anywork || !kgo_runqempty(p->sh) ||
					 READ_ONCE(inst->dying);
		}

		switch (kgo_retake_decide(&s)) {
		case KGO_RETAKE_RECHECK:
			seen->recheck = true;
			break;
		case KGO_RETAKE_HANDOFF:
			if (kgo_handoffp(inst, m, p)) {
				/* Runs when the call returns: no kick. */
				kgo_m_queue_resume_work(m);
				m->saw_blocked = false;
				if (s.notified)
					atomic64_inc(&inst->stats.handoffs_notified);
				acted++;
			}
			break;
		case KGO_RETAKE_PREEMPT:
			/* Counts from now, so a refused preemption retries a slice later. */
			m->g_since_ns = now;
			/* Set before queueing: a work already queued sees it too. */
			set_bit(KGO_TWORK_PREEMPT, &m->twork_flags);
			if (kgo_m_queue_resume_work(m)) {
				kick_process(m->task);
				acted++;
			}
			break;
		default:
			break;
		}
	}
	rcu_read_unlock();

	/* Work in the global queue, an idle P, and nobody looking: wake one. */
	if (READ_ONCE(inst->gq.len) && READ_ONCE(inst->npidle) &&
	    !atomic_read(kgo_nmspinning(inst))) {
		atomic64_inc(&inst->stats.sysmon_wakeps);
		kgo_ioc_wakep(inst);
		acted++;
	}
	return acted;
}

static int kgo_sysmon(void *unused)
{
	u64 delay = KGO_SYSMON_MIN_NS, cost = 0;
	u32 idle = 0;

	while (!kthread_should_stop()) {
		u64 start = ktime_get_ns(), sleep, took;
		struct kgo_retake_seen seen = {};
		struct kgo_inst *inst;
		int acted = 0;
		ktime_t t;

		WRITE_ONCE(kgo_sysmon_kicked, false);
		mutex_lock(&kgo_sysmon_lock);
		list_for_each_entry(inst, &kgo_sysmon_list, sysmon_link) {
			acted += kgo_retake(inst, ktime_get_ns(), &seen);
			/* No RCU section is open between instances. */
			cond_resched();
		}
		mutex_unlock(&kgo_sysmon_lock);
		idle = acted ? 0 : idle + 1;
		delay = kgo_sysmon_next_delay(delay, idle, seen.busy);
		took = ktime_get_ns() - start;
		cost = kgo_sysmon_cost_est(cost, took);
		/* Only this thread writes them (kgo_internal.h). */
		WRITE_ONCE(kgo_sysmon_passes, kgo_sysmon_passes + 1);
		WRITE_ONCE(kgo_sysmon_pass_ns, kgo_sysmon_pass_ns + took);
		if (took > READ_ONCE(kgo_sysmon_worst_ns))
			WRITE_ONCE(kgo_sysmon_worst_ns, took);
		/*
		 * A block seen once is looked at again soon, without
		 * resetting the backoff: most blocks are short and the
		 * second look finds the M running again.
		 */
		sleep = kgo_sysmon_sleep_ns(seen.recheck ? KGO_SYSMON_MIN_NS : delay, cost);
		WRITE_ONCE(kgo_sysmon_next_ok,
			   start + took + kgo_sysmon_sleep_ns(0, cost));

		t = ns_to_ktime(sleep);
		set_current_state(TASK_IDLE);
		/* Pairs with the wakeup in kgo_sysmon_kick (set_current_state's barrier). */
		if (!kthread_should_stop() && !READ_ONCE(kgo_sysmon_kicked))
			schedule_hrtimeout_range(&t, sleep / 8, HRTIMER_MODE_REL);
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

/*
 * kgo_sysmon_kick - a pass now, not at the end of the backoff: an M has
 * been blocked for KGO_BLOCK_NOTIFY_NS (blockwatch.c).  Hard interrupt
 * context (blockwatch's timer), or any context that may wake a task.
 * Never before kgo_sysmon_next_ok_ns(): blockwatch arms its timer for
 * that time at the earliest, so sysmon keeps its duty bound.
 */
void kgo_sysmon_kick(void)
{
	struct task_struct *t = READ_ONCE(kgo_sysmon_task);

	WRITE_ONCE(kgo_sysmon_kicked, true);
	if (t)
		wake_up_process(t);
}

u64 kgo_sysmon_next_ok_ns(void)
{
	return READ_ONCE(kgo_sysmon_next_ok);
}

/* SETUP: sysmon starts watching @inst.  Process context. */
void kgo_sysmon_register(struct kgo_inst *inst)
{
	mutex_lock(&kgo_sysmon_lock);
	list_add_tail(&inst->sysmon_link, &kgo_sysmon_list);
	mutex_unlock(&kgo_sysmon_lock);
	if (kgo_sysmon_task)
		wake_up_process(kgo_sysmon_task);
}

/* Teardown: after this returns sysmon no longer looks at @inst. */
void kgo_sysmon_unregister(struct kgo_inst *inst)
{
	mutex_lock(&kgo_sysmon_lock);
	list_del_init(&inst->sysmon_link);
	mutex_unlock(&kgo_sysmon_lock);
}

/*
 * sysmon is there to stop threads that hog their CPUs; as an ordinary task
 * it would queue behind them when every CPU is busy, the very case it must
 * handle.  So it is real-time, at the lowest priority: it wakes at once and
 * runs for microseconds per pass.
 */
int kgo_sysmon_start(void)
{
	struct task_struct *t = kthread_create(kgo_sysmon, NULL, "kgo_sysmon");

	if (IS_ERR(t))
		return PTR_ERR(t);
	sched_set_fifo_low(t);
	wake_up_process(t);
	kgo_sysmon_task = t;
	return 0;
}

void kgo_sysmon_stop(void)
{
	kthread_stop(kgo_sysmon_task);
	kgo_sysmon_task = NULL;
}
