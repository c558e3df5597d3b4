/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo's tracepoints, one per scheduler event: an M parking and being
 * woken, a READY, a steal, a global-queue batch in either direction, a
 * handoff and a preemption.  `perf record -e 'kgo:*'`, or tracefs's
 * events/kgo/.  Each carries the instance id (as in debugfs) and the
 * owning process.
 */
#undef TRACE_SYSTEM
#ifdef KGO_KUNIT_BUILD
#define TRACE_SYSTEM kgo_kunit
#else
#define TRACE_SYSTEM kgo
#endif

#if !defined(KGO_KMOD_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KGO_KMOD_TRACE_H

#include <linux/tracepoint.h>

#include "kgo_internal.h"

TRACE_EVENT(kgo_park,
	    TP_PROTO(struct kgo_inst *inst, struct kgo_km *m),
	    TP_ARGS(inst, m),
	    TP_STRUCT__entry(__field(u32, inst)
			     __field(pid_t, tgid)
			     __field(u32, m)
			     __field(u32, npidle)
			     __field(u32, nmidle)),
	    TP_fast_assign(__entry->inst = inst->id;
			   __entry->tgid = inst->owner_tgid;
			   __entry->m = m->id;
			   __entry->npidle = inst->npidle;
			   __entry->nmidle = inst->nmidle;),
	    TP_printk("inst=%u tgid=%d m=%u npidle=%u nmidle=%u",
		      __entry->inst, __entry->tgid, __entry->m, __entry->npidle,
		      __entry->nmidle)
);

TRACE_EVENT(kgo_unpark,
	    TP_PROTO(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p),
	    TP_ARGS(inst, m, p),
	    TP_STRUCT__entry(__field(u32, inst)
			     __field(pid_t, tgid)
			     __field(u32, m)
			     __field(u32, p)),
	    TP_fast_assign(__entry->inst = inst->id;
			   __entry->tgid = inst->owner_tgid;
			   __entry->m = m->id;
			   __entry->p = p->id;),
	    TP_printk("inst=%u tgid=%d m=%u p=%u", __entry->inst, __entry->tgid,
		      __entry->m, __entry->p)
);

TRACE_EVENT(kgo_ready,
	    TP_PROTO(struct kgo_inst *inst, u64 g),
	    TP_ARGS(inst, g),
	    TP_STRUCT__entry(__field(u32, inst)
			     __field(pid_t, tgid)
			     __field(u64, g)
			     __field(u32, gq_len)),
	    TP_fast_assign(__entry->inst = inst->id;
			   __entry->tgid = inst->owner_tgid;
			   __entry->g = g;
			   __entry->gq_len = READ_ONCE(inst->gq.len);),
	    TP_printk("inst=%u tgid=%d g=0x%llx gq_len=%u", __entry->inst,
		      __entry->tgid, __entry->g, __entry->gq_len)
);

TRACE_EVENT(kgo_steal,
	    TP_PROTO(struct kgo_inst *inst, struct kgo_p *p, struct kgo_p *victim, u32 n, u64 g),
	    TP_ARGS(inst, p, victim, n, g),
	    TP_STRUCT__entry(__field(u32, inst)
			     __field(pid_t, tgid)
			     __field(u32, p)
			     __field(u32, victim)
			     __field(u32, n)
			     __field(u64, g)),
	    TP_fast_assign(__entry->inst = inst->id;
			   __entry->tgid = inst->owner_tgid;
			   __entry->p = p->id;
			   __entry->victim = victim->id;
			   __entry->n = n;
			   __entry->g = g;),
	    TP_printk("inst=%u tgid=%d p=%u victim=%u n=%u g=0x%llx", __entry->inst,
		      __entry->tgid, __entry->p, __entry->victim, __entry->n, __entry->g)
);

/* A batch between the global queue and a P: out (globrunqget) or in (runqputslow). */
TRACE_EVENT(kgo_global_batch,
	    TP_PROTO(struct kgo_inst *inst, struct kgo_p *p, bool in, u32 n),
	    TP_ARGS(inst, p, in, n),
	    TP_STRUCT__entry(__field(u32, inst)
			     __field(pid_t, tgid)
			     __field(u32, p)
			     __field(bool, in)
			     __field(u32, n)
			     __field(u32, gq_len)),
	    TP_fast_assign(__entry->inst = inst->id;
			   __entry->tgid = inst->owner_tgid;
			   __entry->p = p->id;
			   __entry->in = in;
			   __entry->n = n;
			   __entry->gq_len = READ_ONCE(inst->gq.len);),
	    TP_printk("inst=%u tgid=%d p=%u dir=%s n=%u gq_len=%u", __entry->inst,
		      __entry->tgid, __entry->p, __entry->in ? "put" : "get", __entry->n,
		      __entry->gq_len)
);

TRACE_EVENT(kgo_handoff,
	    TP_PROTO(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p, bool started),
	    TP_ARGS(inst, m, p, started),
	    TP_STRUCT__entry(__field(u32, inst)
			     __field(pid_t, tgid)
			     __field(u32, m)
			     __field(pid_t, tid)
			     __field(u32, p)
			     __field(bool, started)),
	    TP_fast_assign(__entry->inst = inst->id;
			   __entry->tgid = inst->owner_tgid;
			   __entry->m = m->id;
			   __entry->tid = task_pid_nr(m->task);
			   __entry->p = p->id;
			   __entry->started = started;),
	    TP_printk("inst=%u tgid=%d m=%u tid=%d p=%u to=%s", __entry->inst,
		      __entry->tgid, __entry->m, __entry->tid, __entry->p,
		      __entry->started ? "idle-m" : "pidle")
);

TRACE_EVENT(kgo_preempt,
	    TP_PROTO(struct kgo_inst *inst, struct kgo_km *m, u32 reason, unsigned long ip),
	    TP_ARGS(inst, m, reason, ip),
	    TP_STRUCT__entry(__field(u32, inst)
			     __field(pid_t, tgid)
			     __field(u32, m)
			     __field(u64, g)
			     __field(u32, reason)
			     __field(unsigned long, ip)),
	    TP_fast_assign(__entry->inst = inst->id;
			   __entry->tgid = inst->owner_tgid;
			   __entry->m = m->id;
			   __entry->g = READ_ONCE(m->sh->g);
			   __entry->reason = reason;
			   __entry->ip = ip;),
	    TP_printk("inst=%u tgid=%d m=%u g=0x%llx reason=%s ip=0x%lx", __entry->inst,
		      __entry->tgid, __entry->m, __entry->g,
		      __print_symbolic(__entry->reason, { KGO_STOP_SLICE, "slice" },
				       { KGO_STOP_LOST_P, "lost-p" },
				       { KGO_STOP_SHUTDOWN, "shutdown" }), __entry->ip)
);

#endif /* KGO_KMOD_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
