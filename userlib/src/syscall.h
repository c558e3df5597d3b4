/* SPDX-License-Identifier: MIT */
/*
 * A system call that may block, made by the library on behalf of a
 * goroutine (Go's entersyscall/exitsyscall): kgo_entersyscall and
 * kgo_exitsyscall bracket it (netio.c's I/O, netpoll.c's close).
 *
 * The library runs in state KGO_MS_LIB (internal.h), where sysmon leaves
 * the M's P alone.  A call that blocks there (a read of a blocking fd or
 * of a regular file on a slow disk, a connect on a blocking socket, a
 * close(2) that lingers) would hold the P for as long as it blocks, and
 * every goroutine queued on that P would wait with it.  So the call is
 * made in state KGO_MS_G, like a goroutine's own system call: sysmon may
 * hand the P to another M while it blocks, and kgo_exitsyscall's
 * kgo_enter gets one back (exitsyscall) before the library goes on.
 *
 * Rules for the caller:
 *   - @entered is what the caller's own kgo_enter returned.  Only an
 *     entry that moved the state out of G may move it back: a nested
 *     entry (false) runs its system call in the library, as the outer
 *     library code may rely on keeping its P;
 *   - no library lock (a spinlock, kgo_tm.lock) may be held across the
 *     bracket: in state G the goroutine may be preempted, or wait for a
 *     P, and the poller must never spin behind it;
 *   - nothing read from the M (kgo_getm(), m->p) before the bracket is
 *     used after it: the P may have changed (the M does not: a goroutine
 *     keeps its thread between two switches);
 *   - only code that may run in state G goes inside: the system call and
 *     the reading of errno, nothing that touches the P.
 */
#ifndef KGO_SYSCALL_H
#define KGO_SYSCALL_H

#include "internal.h"

static inline void kgo_entersyscall(bool entered)
{
	if (entered)
		kgo_leave_g();
}

static inline void kgo_exitsyscall(bool entered)
{
	/*
	 * Not a safe point: the caller is in the middle of its work.  Back
	 * from G (or from LOST, after an exitsyscall) the entry always moves
	 * the state, so the caller's kgo_leave(entered) still matches it.
	 */
	if (entered)
		(void)kgo_enter(false);
}

#endif /* KGO_SYSCALL_H */
