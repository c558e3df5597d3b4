/* SPDX-License-Identifier: MIT */
/*
 * The context switch between goroutine stacks (x86-64, System V ABI), and
 * the two frames at the bottom of every goroutine stack.
 *
 * A switched-out context is just a stack pointer.  At that address:
 *
 *   sp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
 *   sp+8   r15, r14, r13, r12, rbx, rbp
 *   sp+56  return address
 *
 * Those are the callee-saved registers (plus the two control registers the
 * ABI says are callee-saved); everything else the C caller of
 * kgo_ctx_switch already assumes clobbered.  proc.c builds the same frame
 * by hand for a new goroutine, with kgo_gostart as the return address,
 * fn in r12 and arg in r13, and kgo_goexit_frame above it as the return
 * address fn will return to (Go's goexit frame).
 */
	.text

/* void kgo_ctx_switch(void **save_sp, void *load_sp) */
	.globl	kgo_ctx_switch
	.hidden	kgo_ctx_switch
	.type	kgo_ctx_switch, @function
	.p2align 4
kgo_ctx_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movl	(%rsp), %eax		/* rax, rcx: caller-saved scratch */
	movzwl	4(%rsp), %ecx
	movq	%rsp, (%rdi)		/* the old context is complete */
	movq	%rsi, %rsp		/* now on the new stack */
	/*
	 * Loading MXCSR or the control word is skipped when it would not
	 * change them (nearly always): both are slow to load on some CPUs,
	 * and each is a helper call under an emulator.
	 */
	cmpl	(%rsp), %eax
	jne	1f
	cmpw	4(%rsp), %cx
	je	2f
1:	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
2:	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	kgo_ctx_switch, .-kgo_ctx_switch

/*
 * A new goroutine's first instruction: leave the library (the M slot's
 * state becomes G, preempt.c), then call fn(arg) with kgo_goexit_frame as
 * its return address (already on the stack, 16-byte aligned as at any
 * function entry).  The return address of this frame is undefined: it is
 * the outermost frame for debuggers and unwinders.
 */
	.globl	kgo_gostart
	.hidden	kgo_gostart
	.type	kgo_gostart, @function
	.p2align 4
kgo_gostart:
	.cfi_startproc
	.cfi_undefined rip
	subq	$8, %rsp		/* aligned for the call; r12, r13 survive it */
	call	kgo_leave_g
	addq	$8, %rsp
	movq	%r13, %rdi
	xorl	%ebp, %ebp
	jmpq	*%r12
	.cfi_endproc
	.size	kgo_gostart, .-kgo_gostart

/*
 * Where a goroutine's function returns to: end the goroutine.  The nop
 * makes the return address minus one (what unwinders look up) fall inside
 * this function.  The stack is 16-byte aligned here, as a call needs.
 */
	.globl	kgo_goexit_frame_start
	.hidden	kgo_goexit_frame_start
	.type	kgo_goexit_frame_start, @function
	.p2align 4
kgo_goexit_frame_start:
	.cfi_startproc
	.cfi_undefined rip
	nop
	.globl	kgo_goexit_frame
	.hidden	kgo_goexit_frame
kgo_goexit_frame:
	call	kgo_goexit0
	ud2
	.cfi_endproc
	.size	kgo_goexit_frame_start, .-kgo_goexit_frame_start

	.section .note.GNU-stack,"",@progbits
