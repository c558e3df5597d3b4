/* SPDX-License-Identifier: MIT */
/*
 * kgo_preempt_tramp: where kgo.ko redirects a goroutine that sysmon
 * preempted (its slice is over) or whose M lost its P while blocked in the
 * kernel (x86-64, System V ABI).  preempt.c has the C half and the story.
 *
 * It is never called.  The module's task_work, on the thread's return to
 * user mode, saved the G's rip and rsp (S) in the M's slot and set
 *
 *	rsp = E = ((S - 128) & ~15) - 8,	rip = kgo_preempt_tramp
 *
 * so the G's red zone [S - 128, S) lies above us, untouched, and the stack
 * is aligned as at a function's entry, though (%rsp) holds no return
 * address.  Every other register, the flags and the extended state are
 * still the G's.  The frame, downwards from E:
 *
 *	E - 8		A: the last stack pointer (see the way out)
 *	E - 16		rflags
 *	E - 24 ...	rax, rbx, rcx, rdx, rsi, rdi, rbp, r8 ... r15
 *	E - 136		(r15; rbx points here from now on)
 *	...		padding, then the XSAVE (or FXSAVE) area, 64-byte
 *			aligned, kgo_xsave_size bytes (r12 points to it)
 *	r12 - 32	struct kgo_pframe: ip, sp, entry_sp, reason
 *
 * The way out must restore every register and land on the G's rip with
 * rsp = S, writing nothing in the red zone.  kgo_preempted() returns the
 * G's rip and S in the pframe.  Before the registers come back, rip is
 * stored at B = S - 136 (above the frame: E <= S - 136, and B + 8 is the
 * red zone's lower end) and B at A.  Then, with every register the G's:
 *
 *	movq (%rsp), %rsp	rsp = B, read from A
 *	ret $128		rip = *B, rsp = B + 8 + 128 = S
 *
 * Neither touches the flags.  A signal arriving in between builds its
 * frame below rsp less 128, so below A and B.  Nothing here needs the
 * thread: the G may have come back on another M.
 *
 * All of this is in kgo_text (userlib/kgo_text.lds), where the module
 * never redirects, so it cannot be entered twice.
 */

#define FRAME_GPRS	136	/* E - rbx */
#define A_OFF		128	/* A - rbx */
#define RED_ZONE	128
#define B_OFF		(RED_ZONE + 8)	/* S - B */

/* A register of the G saved at rbx + off, in DWARF for debuggers. */
.macro KGO_CFI_SAVED reg, off
.if \off < 64
	.cfi_escape 0x10, \reg, 0x02, 0x73, \off
.else
	.cfi_escape 0x10, \reg, 0x03, 0x73, (\off & 0x7f) | 0x80, \off >> 7
.endif
.endm

	.text

	.globl	kgo_preempt_tramp
	.hidden	kgo_preempt_tramp
	.type	kgo_preempt_tramp, @function
	.p2align 4
kgo_preempt_tramp:
	.cfi_startproc
	/* No caller here, until the pframe names the G's frame (below). */
	.cfi_undefined rip
	leaq	-8(%rsp), %rsp		/* room for A; lea leaves the flags */
	pushfq
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld				/* the ABI's direction flag for C */
	movq	%rsp, %rbx

	/* The extended state: x87, SSE, AVX, ... */
	subq	kgo_xsave_size(%rip), %rsp
	andq	$-64, %rsp
	movq	%rsp, %r12
	cmpb	$0, kgo_xsave_use(%rip)
	je	1f
	/* XRSTOR refuses a header with stray bits: start from zeroes. */
	xorl	%eax, %eax
	movq	%rax, 512(%r12)
	movq	%rax, 520(%r12)
	movq	%rax, 528(%r12)
	movq	%rax, 536(%r12)
	movq	%rax, 544(%r12)
	movq	%rax, 552(%r12)
	movq	%rax, 560(%r12)
	movq	%rax, 568(%r12)
	movl	kgo_xsave_mask(%rip), %eax
	movl	kgo_xsave_mask+4(%rip), %edx
	xsave64	(%r12)
	cmpb	$0, kgo_xsave_avx(%rip)
	je	2f
	vzeroupper			/* clean upper halves for the C code */
	jmp	2f
1:	fxsave64 (%r12)
	/* An empty x87 stack, as the ABI has it at a call (and for other Gs). */
2:	fninit

	subq	$32, %rsp		/* struct kgo_pframe, 16-byte aligned */
	movq	$0, 0(%rsp)		/* ip: 0 ends a backtrace until it is set */
	movq	$0, 8(%rsp)		/* sp */
	leaq	FRAME_GPRS(%rbx), %rax
	movq	%rax, 16(%rsp)		/* entry_sp = E */
	movq	$0, 24(%rsp)		/* reason */
	movq	%rsp, %rdi

	/*
	 * For debuggers, while kgo_preempted runs: the caller is the G, at
	 * pframe.ip with rsp = pframe.sp, its registers in the GPR block.
	 */
	.cfi_remember_state
	.cfi_escape 0x0f, 0x03, 0x7c, 0x68, 0x06	/* CFA = *(r12 - 24) */
	.cfi_escape 0x10, 0x10, 0x02, 0x7c, 0x60	/* rip at r12 - 32 */
	KGO_CFI_SAVED 15, 0
	KGO_CFI_SAVED 14, 8
	KGO_CFI_SAVED 13, 16
	KGO_CFI_SAVED 12, 24
	KGO_CFI_SAVED 11, 32
	KGO_CFI_SAVED 10, 40
	KGO_CFI_SAVED 9, 48
	KGO_CFI_SAVED 8, 56
	KGO_CFI_SAVED 6, 64
	KGO_CFI_SAVED 5, 72
	KGO_CFI_SAVED 4, 80
	KGO_CFI_SAVED 1, 88
	KGO_CFI_SAVED 2, 96
	KGO_CFI_SAVED 3, 104
	KGO_CFI_SAVED 0, 112
	KGO_CFI_SAVED 49, 120
	call	kgo_preempted
	.cfi_restore_state

	/* Running again, on some M, in state G.  B = S - 136 gets rip; A gets B. */
	movq	8(%rsp), %rax
	leaq	-B_OFF(%rax), %rax
	movq	0(%rsp), %rcx
	movq	%rcx, (%rax)
	movq	%rax, A_OFF(%rbx)

	cmpb	$0, kgo_xsave_use(%rip)
	je	3f
	movl	kgo_xsave_mask(%rip), %eax
	movl	kgo_xsave_mask+4(%rip), %edx
	xrstor64 (%r12)
	jmp	4f
3:	fxrstor64 (%r12)
4:	movq	%rbx, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	popfq
	movq	(%rsp), %rsp		/* B */
	ret	$RED_ZONE		/* to the G's rip, rsp = S */
	.cfi_endproc
	.size	kgo_preempt_tramp, .-kgo_preempt_tramp

	.section .note.GNU-stack,"",@progbits
