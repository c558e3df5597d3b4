/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Register state survives preemption.  GOMAXPROCS=2, a 1 ms slice, and
 * four goroutines that spin on computations keeping everything they can
 * live across the whole loop, so that a preemption lands in the middle of
 * them hundreds of times (the module's preempts counter says how often):
 *   - gpr: all fourteen free general registers, the carry flag chained
 *     from one instruction to the next, and words in the red zone below
 *     the stack pointer (assembly, a leaf function);
 *   - sse: the sixteen XMM registers, and four values on the x87 stack;
 *   - avx2: the sixteen YMM registers, upper halves included (skipped on a
 *     CPU without AVX2);
 *   - c: a floating-point series and twelve integer generators in C.
 * Each runs until the module has counted 400 preemptions in all (and at
 * least a few rounds each); then a plain thread (never preempted: it is
 * not an M) runs as many rounds from the same start, and the two must end
 * with exactly the same bits.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sysmon_util.h"

/* An assembly function: the symbol's directives around @body. */
#define ASM_FUNC(name, body)						\
	"	.text\n"						\
	"	.globl " #name "\n"					\
	"	.type " #name ", @function\n"				\
	#name ":\n"							\
	body								\
	"	.size " #name ", .-" #name "\n"

/*
 * void torture_gpr(uint64_t st[17], uint64_t n): st[0..13] in rax, rbx,
 * rdx, rsi, rbp, r8-r15, rdi; st[14..15] in the red zone; st[16] the
 * carry.  The loop counter is rcx, driven by `loop`, which leaves the
 * flags alone.
 */
__asm__(ASM_FUNC(torture_gpr,
	"	pushq %rbx\n pushq %rbp\n pushq %r12\n pushq %r13\n pushq %r14\n pushq %r15\n"
	"	movq %rdi, -8(%rsp)\n"
	"	movq %rsi, %rcx\n"
	"	movq 112(%rdi), %rax\n movq %rax, -16(%rsp)\n"
	"	movq 120(%rdi), %rax\n movq %rax, -24(%rsp)\n"
	"	movq 128(%rdi), %rax\n shrq $1, %rax\n"	/* CF = st[16] & 1 */
	"	movq 0(%rdi), %rax\n movq 8(%rdi), %rbx\n movq 16(%rdi), %rdx\n"
	"	movq 24(%rdi), %rsi\n movq 32(%rdi), %rbp\n movq 40(%rdi), %r8\n"
	"	movq 48(%rdi), %r9\n movq 56(%rdi), %r10\n movq 64(%rdi), %r11\n"
	"	movq 72(%rdi), %r12\n movq 80(%rdi), %r13\n movq 88(%rdi), %r14\n"
	"	movq 96(%rdi), %r15\n movq 104(%rdi), %rdi\n"
	"1:	adcq %rbx, %rax\n"
	"	xorq %rax, %rdx\n"
	"	adcq %rdx, %rsi\n"
	"	rolq $13, %rsi\n"
	"	adcq %rsi, %rdi\n"
	"	addq %rdi, %rbp\n"
	"	adcq %rbp, %r8\n"
	"	xorq %r8, %r9\n"
	"	adcq %r9, %r10\n"
	"	rolq $17, %r10\n"
	"	adcq %r10, %r11\n"
	"	addq %r11, %r12\n"
	"	adcq %r12, %r13\n"
	"	xorq %r13, %r14\n"
	"	adcq %r14, %r15\n"
	"	rolq $5, %r15\n"
	"	adcq %r15, %rbx\n"
	"	adcq %rax, -16(%rsp)\n"
	"	rolq $3, %rdx\n"
	"	adcq -16(%rsp), %rdx\n"
	"	adcq %rdx, -24(%rsp)\n"
	"	rcrq $1, %rbp\n"
	"	loop 1b\n"
	"	setc %cl\n"
	"	xchgq %rdi, -8(%rsp)\n"
	"	movq %rax, 0(%rdi)\n movq %rbx, 8(%rdi)\n movq %rdx, 16(%rdi)\n"
	"	movq %rsi, 24(%rdi)\n movq %rbp, 32(%rdi)\n movq %r8, 40(%rdi)\n"
	"	movq %r9, 48(%rdi)\n movq %r10, 56(%rdi)\n movq %r11, 64(%rdi)\n"
	"	movq %r12, 72(%rdi)\n movq %r13, 80(%rdi)\n movq %r14, 88(%rdi)\n"
	"	movq %r15, 96(%rdi)\n"
	"	movq -8(%rsp), %rax\n movq %rax, 104(%rdi)\n"
	"	movq -16(%rsp), %rax\n movq %rax, 112(%rdi)\n"
	"	movq -24(%rsp), %rax\n movq %rax, 120(%rdi)\n"
	"	movzbq %cl, %rax\n movq %rax, 128(%rdi)\n"
	"	popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rbp\n popq %rbx\n"
	"	ret\n"));

/*
 * The two vector tortures share their shape: load st into the sixteen
 * registers, run the same chain over them (ADD and XOR fold register a
 * into b, PERM shuffles r's lanes by imm), store them back.
 */
#define EACH_VREG(op)							\
	op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7)			\
	op(8) op(9) op(10) op(11) op(12) op(13) op(14) op(15)
#define VCHAIN(ADD, XOR, PERM)						\
	ADD(0, 1) XOR(1, 2) ADD(2, 3) PERM(0x39, 3)			\
	ADD(3, 4) XOR(4, 5) ADD(5, 6) PERM(0x93, 6)			\
	ADD(6, 7) XOR(7, 8) ADD(8, 9) PERM(0x4e, 9)			\
	ADD(9, 10) XOR(10, 11) ADD(11, 12) PERM(0x39, 12)		\
	ADD(12, 13) XOR(13, 14) ADD(14, 15) ADD(15, 0) PERM(0x93, 0)

/*
 * void torture_sse(uint64_t st[36], uint64_t n): st[0..31] in xmm0-15,
 * st[32..35] four doubles on the x87 stack.
 */
#define XMM_LOAD(i) "	movdqu " #i "*16(%rdi), %xmm" #i "\n"
#define XMM_STORE(i) "	movdqu %xmm" #i ", " #i "*16(%rdi)\n"
#define XMM_ADD(a, b) "	paddq %xmm" #a ", %xmm" #b "\n"
#define XMM_XOR(a, b) "	pxor %xmm" #a ", %xmm" #b "\n"
#define XMM_PERM(imm, r) "	pshufd $" #imm ", %xmm" #r ", %xmm" #r "\n"
__asm__(ASM_FUNC(torture_sse,
	EACH_VREG(XMM_LOAD)
	"	fldl 280(%rdi)\n fldl 272(%rdi)\n fldl 264(%rdi)\n fldl 256(%rdi)\n"
	"	movq %rsi, %rcx\n"
	"1:\n"
	VCHAIN(XMM_ADD, XMM_XOR, XMM_PERM)
	"	fadd %st(1), %st\n fsub %st(3), %st\n fxch %st(2)\n"
	"	fadd %st(3), %st\n fxch %st(1)\n"
	"	loop 1b\n"
	EACH_VREG(XMM_STORE)
	"	fstpl 256(%rdi)\n fstpl 264(%rdi)\n fstpl 272(%rdi)\n fstpl 280(%rdi)\n"
	"	ret\n"));

/* void torture_avx2(uint64_t st[64], uint64_t n): st in ymm0-15. */
#define YMM_LOAD(i) "	vmovdqu " #i "*32(%rdi), %ymm" #i "\n"
#define YMM_STORE(i) "	vmovdqu %ymm" #i ", " #i "*32(%rdi)\n"
#define YMM_ADD(a, b) "	vpaddq %ymm" #a ", %ymm" #b ", %ymm" #b "\n"
#define YMM_XOR(a, b) "	vpxor %ymm" #a ", %ymm" #b ", %ymm" #b "\n"
#define YMM_PERM(imm, r) "	vpermq $" #imm ", %ymm" #r ", %ymm" #r "\n"
__asm__(ASM_FUNC(torture_avx2,
	EACH_VREG(YMM_LOAD)
	"	movq %rsi, %rcx\n"
	"1:\n"
	VCHAIN(YMM_ADD, YMM_XOR, YMM_PERM)
	"	loop 1b\n"
	EACH_VREG(YMM_STORE)
	"	vzeroupper\n"
	"	ret\n"));

void torture_gpr(uint64_t *st, uint64_t n);
void torture_sse(uint64_t *st, uint64_t n);
void torture_avx2(uint64_t *st, uint64_t n);

/* The C one: a series in doubles and twelve generators, all live. */
static void torture_c(uint64_t *st, uint64_t n)
{
	double s, t = 0;
	uint64_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5];
	uint64_t g = st[6], h = st[7], i = st[8], j = st[9], k = st[10], l = st[11];

	memcpy(&s, &st[12], sizeof(s));
	for (uint64_t x = 1; x <= n; x++) {
		double q = (double)((a ^ x) & 0xffff) + 1.0;

		s += 1.0 / (q * q);
		t += s * 1e-9;
		a = a * 6364136223846793005ULL + b;
		b = b * 6364136223846793005ULL + c + (a >> 33);
		c = (c ^ d) * 0x9e3779b97f4a7c15ULL;
		d = d + e * 3 + (c >> 29);
		e = (e << 7 | e >> 57) ^ f;
		f = f * 0x2545f4914f6cdd1dULL + g;
		g = g ^ (h >> 11) ^ a;
		h = h + i * 5;
		i = (i ^ j) + (k << 3);
		j = j * 2862933555777941757ULL + 3037000493ULL;
		k = k + (l ^ (j >> 17));
		l = (l << 13 | l >> 51) + a;
	}
	st[0] = a; st[1] = b; st[2] = c; st[3] = d; st[4] = e; st[5] = f;
	st[6] = g; st[7] = h; st[8] = i; st[9] = j; st[10] = k; st[11] = l;
	s += t;
	memcpy(&st[12], &s, sizeof(s));
}

#define WORDS		64
#define CHUNK		100000		/* iterations per call */
#define PREEMPTS	400		/* preemptions wanted, in all */
#define MIN_CHUNKS	4
#define MAX_NS		60000000000LL	/* give up waiting for preemptions */

struct variant {
	const char *name;
	void (*fn)(uint64_t *st, uint64_t n);
	bool skip;
	uint64_t start[WORDS], want[WORDS], got[WORDS];
	int chunks;		/* run under kgo, and then as the reference */
	int moved;		/* chunks that ended on another M than they began */
	int64_t ns;
};

static struct variant vs[] = {
	{ .name = "gpr", .fn = torture_gpr },
	{ .name = "sse", .fn = torture_sse },
	{ .name = "avx2", .fn = torture_avx2 },
	{ .name = "c", .fn = torture_c },
};
#define NV	(int)(sizeof(vs) / sizeof(vs[0]))

static struct kgo_sema done;
static struct kgo_stats_user st;
static int64_t run_ns;

/* The reference, on a plain thread: as many chunks as the goroutine ran. */
static void *reference(void *arg)
{
	struct variant *v = arg;

	memcpy(v->want, v->start, sizeof(v->want));
	for (int i = 0; i < v->chunks; i++)
		v->fn(v->want, CHUNK);
	return NULL;
}

static uint64_t preempts0;

static void spin(void *arg)
{
	struct variant *v = arg;
	int64_t t0 = now_ns();

	memcpy(v->got, v->start, sizeof(v->got));
	while (v->chunks < MIN_CHUNKS ||
	       (stats_now().preempts - preempts0 < PREEMPTS && now_ns() - t0 < MAX_NS)) {
		int m = kgo_m_id();

		v->fn(v->got, CHUNK);
		v->chunks++;
		if (kgo_m_id() != m)
			v->moved++;
	}
	v->ns = now_ns() - t0;
	kgo_sema_release(&done);
}

static void main_fn(void *arg)
{
	struct kgo_stats_user st0 = stats_now();
	int64_t t0 = now_ns();
	int n = 0;

	(void)arg;
	preempts0 = st0.preempts;
	for (int i = 0; i < NV; i++)
		if (!vs[i].skip && kgo_go(spin, &vs[i]) == 0)
			n++;
	for (int i = 0; i < n; i++)
		kgo_sema_acquire(&done);
	st = stats_now();
	st.preempts -= st0.preempts;
	run_ns = now_ns() - t0;
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2, .slice_ns = 1000000 };
	uint64_t seed = 0x243f6a8885a308d3ULL;
	int rc;

	need_sysmon(2 + NV);
	tap_watchdog(600);
	tap_plan(2 + NV);
	__builtin_cpu_init();
	vs[2].skip = !__builtin_cpu_supports("avx2");
	for (int i = 0; i < NV; i++) {
		for (int w = 0; w < WORDS; w++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			vs[i].start[w] = seed ^ (seed >> 29);
		}
		if (vs[i].fn == torture_sse) {
			double x87[4] = { 1.0, 0.5, 0.25, -0.125 };

			memcpy(&vs[i].start[32], x87, sizeof(x87));
		} else if (vs[i].fn == torture_c) {
			double s = 0.5;

			memcpy(&vs[i].start[12], &s, sizeof(s));
		}
	}
	rc = kgo_main(main_fn, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	tap_ok_fmt(st.preempts >= PREEMPTS,
		   "the goroutines were preempted %llu times (>= %d), %.0f a second",
		   (unsigned long long)st.preempts, PREEMPTS, st.preempts / (run_ns / 1e9));
	for (int i = 0; i < NV; i++) {
		struct variant *v = &vs[i];
		pthread_t t;

		if (!v->skip) {
			pthread_create(&t, NULL, reference, v);
			pthread_join(t, NULL);
		}
		if (v->skip) {
			tap_skip_case(v->name, "no AVX2 here");
			continue;
		}
		printf("# %s: %d chunks of %d, %.0f ms under kgo, %d chunks resumed on another M\n",
		       v->name, v->chunks, CHUNK, v->ns / 1e6, v->moved);
		tap_ok_fmt(!memcmp(v->got, v->want, sizeof(v->got)),
			   "%s: the preempted computation ended with exactly the expected state",
			   v->name);
	}
	return tap_done();
}
