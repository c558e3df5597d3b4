/* SPDX-License-Identifier: MIT */
/*
 * kgo_abandon_tramp: where kgo.ko sends a thread that still runs a
 * goroutine's code when the instance shuts down (x86-64, System V ABI).
 * preempt.c has the C half.
 *
 * It is never called.  The module's resume work set
 *
 *	rsp = ((S - 128) & ~15) - 8,	rip = kgo_abandon_tramp
 *
 * (S the G's stack pointer), so the G's red zone lies above us and the
 * stack is aligned as at a function's entry.  The G never resumes: no
 * register needs saving.  kgo_abandoned() does not return.
 *
 * This is the only place the module changes a thread's registers; a
 * preemption or a handoff stops the thread where it is instead.
 */

	.text

	.globl	kgo_abandon_tramp
	.hidden	kgo_abandon_tramp
	.type	kgo_abandon_tramp, @function
	.p2align 4
kgo_abandon_tramp:
	.cfi_startproc
	.cfi_undefined rip		/* no caller: backtraces end here */
	cld
	call	kgo_abandoned
	ud2
	.cfi_endproc
	.size	kgo_abandon_tramp, .-kgo_abandon_tramp

	.section .note.GNU-stack,"",@progbits
