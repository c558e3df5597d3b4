// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's half of preemption (the library's half, the M slot
 * protocol it keeps, kgo_preempt_disable and the shutdown trampoline, is
 * userlib/src/preempt.c): SET_PREEMPT, and the resume work, how sysmon's
 * decisions reach a thread without signals and without moving its
 * goroutine.  A task_work (TWA_RESUME) queued on the M's thread runs on
 * its next return to user mode, in its own context, before any
 * instruction of the G's:
 *  - its slot says LOST (sysmon took its P while it blocked): the thread
 *    waits for a P, keeping its G (kgo_waitp), then goes on where it was;
 *  - sysmon asked for a preemption and its slot says G: the G stops where
 *    it is, its P goes to another M, and the thread waits the same way
 *    (kgo_preempt_in_place).  A G with preemption off (the slot's
 *    preempt_off), or an M inside the library, gets preempt_req instead:
 *    the library yields at its next safe point;
 *  - the instance is shutting down (SHUTDOWN, or the file's release) and
 *    the thread runs a G's code: the G will never run again, and the
 *    thread is sent to the library's trampoline, which ends the M.
 *
 * No user register is changed but in that last case, so the work is
 * invisible to the G: nothing sees EINTR (TWA_RESUME never interrupts a
 * system call; the kernel has finished the call, and its restart, before
 * the work runs), a signal is taken on the same thread, rseq's critical
 * sections are aborted by the kernel as after any sleep, and a tracer, a
 * single step or a shadow stack see an ordinary sleep.  A thread running
 * in user mode is kicked with an IPI (kick_process) so the work runs at
 * once.
 */
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>

#include "kgo_internal.h"
#include "trace.h"

#define KGO_RED_ZONE	128	/* the SysV ABI's red zone below sp */

/*
 * kgo_ioc_set_preempt - the SET_PREEMPT ioctl.  Owner, process context.
 * -EINVAL for a slice under 1 ms, a trampoline outside the given text, a
 * text range that is not a user range, or non-zero flags or reserved.
 */
int kgo_ioc_set_preempt(struct kgo_inst *inst, const struct kgo_preempt *pc)
{
	if (pc->flags || memchr_inv(pc->reserved, 0, sizeof(pc->reserved)) ||
	    (pc->slice_ns && pc->slice_ns < NSEC_PER_MSEC) ||
	    pc->spare_ms > inst->max_ms)
		return -EINVAL;
	if (pc->trampoline &&
	    (pc->text_start >= pc->text_end || pc->trampoline < pc->text_start ||
	     pc->trampoline >= pc->text_end ||
	     !access_ok((void __user *)(unsigned long)pc->text_start,
			pc->text_end - pc->text_start)))
		return -EINVAL;

	mutex_lock(&inst->setup_lock);
	WRITE_ONCE(inst->preempt.text_start, pc->text_start);
	WRITE_ONCE(inst->preempt.text_end, pc->text_end);
	WRITE_ONCE(inst->preempt.slice_ns, pc->slice_ns);
	WRITE_ONCE(inst->preempt.spare_ms, pc->spare_ms);
	/* Last: the shutdown redirect reads the trampoline first. */
	smp_store_release(&inst->preempt.trampoline, pc->trampoline);
	mutex_unlock(&inst->setup_lock);
	kgo_wantm_kick(inst);
	return 0;
}

/*
 * kgo_m_send_away - the instance is finishing and @m's thread runs a G's
 * code (slot G or LOST): no P will come, so point the thread at the
 * library's trampoline, below the red zone and aligned as right after a
 * call, where the library ends the M.  The G never resumes.  The M's own
 * thread, in its resume work.
 */
static void kgo_m_send_away(struct kgo_inst *inst, struct kgo_km *m, struct pt_regs *regs)
{
	/* Pairs with the store-release in kgo_ioc_set_preempt(). */
	unsigned long tramp = smp_load_acquire(&inst->preempt.trampoline);
	u32 state = READ_ONCE(m->sh->state);

	spin_lock(&inst->lock);
	if (m->lockwait && !m->woken)
		kgo_lockwait_end_locked(m);
	spin_unlock(&inst->lock);
	if (!tramp || (state != KGO_MS_G && state != KGO_MS_LOST) ||
	    cmpxchg(&m->sh->state, state, KGO_MS_LIB) != state)
		return;
	trace_kgo_preempt(inst, m, KGO_STOP_SHUTDOWN, regs->ip);
	regs->sp = ((regs->sp - KGO_RED_ZONE) & ~15UL) - 8;
	regs->ip = tramp;
}

/*
 * kgo_m_resume_exiting - the resume work of a thread that is exiting:
 * no wait, no user context.  A P handed over meanwhile is taken, so that
 * sysmon's abandon (the thread is gone) hands it on.
 */
static void kgo_m_resume_exiting(struct kgo_inst *inst, struct kgo_km *m)
{
	spin_lock(&inst->lock);
	if (m->lockwait && m->woken) {
		struct kgo_p *p = m->nextp;

		m->nextp = NULL;
		m->woken = false;
		kgo_acquirep(m, p);
	}
	kgo_lockwait_end_locked(m);
	spin_unlock(&inst->lock);
}

/* The task_work: runs on the M's own thread, about to return to user mode. */
static void kgo_m_resume_work(struct callback_head *cb)
{
	struct kgo_km *m = container_of(cb, struct kgo_km, twork);
	struct kgo_inst *inst = m->inst;
	struct pt_regs *regs = task_pt_regs(current);
	bool preempt;
	u32 state;

	clear_bit(KGO_TWORK_QUEUED, &m->twork_flags);
	preempt = test_and_clear_bit(KGO_TWORK_PREEMPT, &m->twork_flags);
	/* Not once the instance is released (detached). */
	if (READ_ONCE(m->detached) || !user_mode(regs) || !user_64bit_mode(regs))
		goto out;
	if (current->flags & PF_EXITING) {
		kgo_m_resume_exiting(inst, m);
		goto out;
	}
	/*
	 * A thread that exec'd since it attached (a setuid program, say) is
	 * not the owner's any more: nothing of it is read or written, and
	 * nothing is written to the slot the owner can read.
	 */
	if (!kgo_m_task_is_ours(m))
		goto out;
	if (READ_ONCE(inst->dying)) {
		kgo_m_send_away(inst, m, regs);
		goto out;
	}
	state = READ_ONCE(m->sh->state);
	if (state == KGO_MS_G && preempt) {
		if (READ_ONCE(m->sh->preempt_off)) {
			/* kgo_preempt_enable yields when the count is back to 0. */
			WRITE_ONCE(m->sh->preempt_req, 1);
			atomic64_inc(&inst->stats.preempt_deferrals);
			goto out;
		}
		if (!kgo_preempt_in_place(inst, m, true))
			goto out;
		atomic64_inc(&inst->stats.preempts);
		trace_kgo_preempt(inst, m, KGO_STOP_SLICE, regs->ip);
		state = KGO_MS_LOST;
	} else if (state == KGO_MS_LIB && preempt) {
		WRITE_ONCE(m->sh->preempt_req, 1);
		goto out;
	} else if (state == KGO_MS_LOST) {
		atomic64_inc(&inst->stats.exitsyscalls);
		trace_kgo_preempt(inst, m, KGO_STOP_LOST_P, regs->ip);
	}
	if (state != KGO_MS_LOST)
		goto out;
	switch (kgo_waitp(inst, m)) {
	case 0:
		/*
		 * Release: what the module did with the P is visible to
		 * whoever reads G in the slot (sysmon's next cmpxchg).
		 */
		smp_store_release(&m->sh->state, KGO_MS_G);
		break;
	case -ESHUTDOWN:
		kgo_m_send_away(inst, m, regs);
		break;
	default:
		/*
		 * A signal to take first (the wait goes on: startlockedm
		 * kicks us), a fatal one, or no memory for the token: the
		 * thread goes on without a P, and the library's next entry
		 * finds LOST and asks again.
		 */
		break;
	}
out:
	kgo_m_put(m);
}

/*
 * kgo_m_queue_resume_work - queue the resume work on @m's thread, once.
 * Any context (sysmon under rcu_read_lock(), or under inst->lock).
 * Returns false if one is already queued or the thread is exiting.
 */
bool kgo_m_queue_resume_work(struct kgo_km *m)
{
	if (test_and_set_bit(KGO_TWORK_QUEUED, &m->twork_flags))
		return false;
	/* The M may be on its way out of the table: only a live ref counts. */
	if (!refcount_inc_not_zero(&m->ref)) {
		clear_bit(KGO_TWORK_QUEUED, &m->twork_flags);
		return false;
	}
	init_task_work(&m->twork, kgo_m_resume_work);
	if (task_work_add(m->task, &m->twork, TWA_RESUME)) {
		clear_bit(KGO_TWORK_QUEUED, &m->twork_flags);
		kgo_m_put(m);
		return false;
	}
	return true;
}
