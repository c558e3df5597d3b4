// SPDX-License-Identifier: GPL-2.0
/*
 * The redirect: how sysmon gets a thread back into the library's
 * scheduler without signals.  A task_work (TWA_RESUME) queued on the M's
 * thread runs on its next return to user mode, in its own context.  If
 * the thread is in a G's own code, the work saves where it was (ip, sp) in
 * the M's shared slot and points the user registers at the library's
 * trampoline, as if the G had called it.  The trampoline saves every
 * register, lets the scheduler run another G (the preempted G goes to the
 * global queue, or exitsyscall for a lost P), and later resumes the G
 * exactly where it was.
 *
 * TWA_RESUME only marks the thread for "notify resume": it never makes a
 * system call fail or restart, so nothing sees EINTR.  A thread running in
 * user mode is kicked with an IPI (kick_process) so the work runs at once.
 * A thread found in the library's own code is never redirected; its slot's
 * preempt_req asks the library to yield at its next schedule point.
 */
#include <linux/ptrace.h>
#include <linux/sched/task_stack.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>

#include "kgo.h"
#include "trace.h"

#define KGO_RED_ZONE	128	/* the SysV ABI's red zone below sp */

/*
 * kgo_set_preempt - the SET_PREEMPT ioctl.  Owner, process context.
 * -EINVAL for a slice under 1 ms, a trampoline outside the given text, a
 * text range that is not a user range, or non-zero flags.
 */
int kgo_set_preempt(struct kgo_inst *inst, const struct kgo_preempt *pc)
{
	if (pc->flags || (pc->slice_ns && pc->slice_ns < NSEC_PER_MSEC) ||
	    pc->spare_ms > inst->max_ms)
		return -EINVAL;
	if (pc->trampoline &&
	    (pc->text_start >= pc->text_end || pc->trampoline < pc->text_start ||
	     pc->trampoline >= pc->text_end ||
	     !access_ok((void __user *)(unsigned long)pc->text_start,
			pc->text_end - pc->text_start)))
		return -EINVAL;
	if (!pc->trampoline && pc->slice_ns)
		return -EINVAL;	/* preemption needs somewhere to go */

	mutex_lock(&inst->setup_lock);
	WRITE_ONCE(inst->preempt.text_start, pc->text_start);
	WRITE_ONCE(inst->preempt.text_end, pc->text_end);
	WRITE_ONCE(inst->preempt.slice_ns, pc->slice_ns);
	WRITE_ONCE(inst->preempt.spare_ms, pc->spare_ms);
	/* Last: the redirect reads the trampoline first. */
	smp_store_release(&inst->preempt.trampoline, pc->trampoline);
	mutex_unlock(&inst->setup_lock);
	kgo_wantm_kick(inst);
	return 0;
}

/* The task_work: runs on the M's own thread, about to return to user mode. */
static void kgo_m_redirect(struct callback_head *cb)
{
	struct kgo_m *m = container_of(cb, struct kgo_m, twork);
	struct kgo_inst *inst = m->inst;
	struct pt_regs *regs = task_pt_regs(current);
	unsigned long tramp, ip, sp;
	u32 state, reason;

	clear_bit(0, &m->twork_pending);
	/* Pairs with the store-release in kgo_set_preempt(). */
	tramp = smp_load_acquire(&inst->preempt.trampoline);
	/*
	 * Not once the instance is released (detached).  After SHUTDOWN it
	 * still is: that is how the library stops a G that keeps running
	 * once the process's scheduler is finishing.
	 */
	if (READ_ONCE(m->detached) || !tramp || !user_mode(regs) || !user_64bit_mode(regs))
		goto out;
	/*
	 * A thread that exec'd since it attached (a setuid program, say) is
	 * not the owner's any more: nothing of it is read or written, and
	 * nothing is written to the slot the owner can read.
	 */
	if (!kgo_m_task_is_ours(m))
		goto out;
	ip = regs->ip;
	if (ip >= READ_ONCE(inst->preempt.text_start) &&
	    ip < READ_ONCE(inst->preempt.text_end)) {
		WRITE_ONCE(m->sh->preempt_req, 1);
		goto out;
	}
	state = READ_ONCE(m->sh->state);
	if (state == KGO_MS_LOST) {
		reason = KGO_PREEMPT_LOST_P;
	} else if (state == KGO_MS_G &&
		   cmpxchg(&m->sh->state, KGO_MS_G, KGO_MS_LIB) == KGO_MS_G) {
		/* Fully ordered: the library sees LIB before it sees the frame. */
		reason = KGO_PREEMPT_SLICE;
		atomic64_inc(&inst->stats.preempts);
	} else {
		goto out;
	}
	sp = regs->sp;
	WRITE_ONCE(m->sh->resume_ip, ip);
	WRITE_ONCE(m->sh->resume_sp, sp);
	WRITE_ONCE(m->sh->reason, reason);
	/* Below the red zone, aligned as right after a call instruction. */
	regs->sp = ((sp - KGO_RED_ZONE) & ~15UL) - 8;
	regs->ip = tramp;
	trace_kgo_preempt(inst, m, reason, ip);
out:
	kgo_m_put(m);
}

/*
 * kgo_m_queue_redirect - queue the redirect on @m's thread, once.
 * sysmon, under rcu_read_lock().  Returns false if one is already queued
 * or the thread is exiting.
 */
bool kgo_m_queue_redirect(struct kgo_m *m)
{
	/* Pairs with the store-release in kgo_set_preempt(). */
	if (!smp_load_acquire(&m->inst->preempt.trampoline))
		return false;
	if (test_and_set_bit(0, &m->twork_pending))
		return false;
	/* The M may be on its way out of the table: only a live ref counts. */
	if (!refcount_inc_not_zero(&m->ref)) {
		clear_bit(0, &m->twork_pending);
		return false;
	}
	init_task_work(&m->twork, kgo_m_redirect);
	if (task_work_add(m->task, &m->twork, TWA_RESUME)) {
		clear_bit(0, &m->twork_pending);
		kgo_m_put(m);
		return false;
	}
	return true;
}
