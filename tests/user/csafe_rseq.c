/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rseq in goroutines that sysmon preempts and hands off (issue 16), with
 * the rseq area glibc registers for every thread (__rseq_offset from the
 * thread pointer; skipped, saying so, when glibc registered none):
 *   - sched_getcpu(), which reads the area's cpu_id, in a loop that is
 *     preempted agrees with the getcpu system call made right after it
 *     (a disagreement is retried, as the thread may migrate between the
 *     two reads; five in a row count as wrong).  This one passes on
 *     today's tree: sched_getcpu is one load through the current thread
 *     pointer, and the kernel updates cpu_id after the redirect;
 *   - a restartable sequence is aborted, never committed, when its thread
 *     is preempted or migrates in the middle of it, as the kernel promises.
 *     Today the preemption redirect moves the goroutine out of the
 *     sequence (the kernel then finds nothing to abort) and back into it
 *     later, possibly on another thread.  The sequence (x86-64 assembly
 *     below) reads the thread pointer, cpu_id_start and a per-thread
 *     generation word that every sequence on the thread bumps before it
 *     starts, spins a while, reads the three again and commits: a
 *     committed sequence whose two readings differ ran on two threads, on
 *     two CPUs, or with another goroutine's sequence in its middle.
 *
 * 8 goroutines on 2 Ps with a 1 ms slice alternate 5 ms of sequences,
 * 2 ms of sched_getcpu and a raw 3 ms nanosleep (a handoff).  Two rounds
 * (forked children, csafe_util.h).
 *
 * Results per round: it ended; sched_getcpu agreed with getcpu; no
 * sequence committed across a thread, CPU or goroutine change (with a
 * count of the aborted ones); sysmon preempted and handed off.
 */
#include <sched.h>
#include <sys/rseq.h>

#include "csafe_util.h"

#define ROUNDS		2
#define BURSTS		8		/* per goroutine */
#define SEQ_NS		5000000
#define GETCPU_NS	2000000
#define SPINS		2000		/* loop iterations inside a sequence */

enum { GETCPU_BAD, GETCPU_DONE, NO_RSEQ, SEQ_BROKEN, SEQ_COMMITTED, SEQ_ABORTED, NCOUNT };

static __thread uint64_t seq_gen;

struct seq_seen {
	uint64_t tp, gen;
	uint32_t cpu;
};

/*
 * One restartable sequence; true if it committed (then @a and @b are the
 * readings at its start and its end), false if the kernel aborted it.
 */
__attribute__((noinline)) static bool sequence(struct seq_seen *a, struct seq_seen *b,
						uint64_t *gen_addr)
{
	ptrdiff_t off = __rseq_offset;
	uint64_t tp0, tp1, g0, g1, committed_tp = 0;
	uint32_t c0, c1;
	int committed;

	__asm__ volatile(
		".pushsection __rseq_cs, \"aw\"\n\t"
		".balign 32\n"
		"csafe_cs_desc%=:\n\t"
		".long 0, 0\n\t"
		".quad csafe_cs_start%=, csafe_cs_commit%= - csafe_cs_start%=, csafe_cs_abort%=\n\t"
		".popsection\n\t"
		"leaq csafe_cs_desc%=(%%rip), %%rax\n\t"
		"movq %%rax, %%fs:8(%[off])\n"		/* rseq->rseq_cs */
		"csafe_cs_start%=:\n\t"
		"movl %%fs:(%[off]), %[c0]\n\t"		/* rseq->cpu_id_start */
		"movq %%fs:0, %[tp0]\n\t"		/* the thread pointer */
		"movq (%[gen]), %[g0]\n\t"
		"movq %[spins], %%rcx\n"
		"csafe_cs_loop%=:\n\t"
		"decq %%rcx\n\t"
		"jnz csafe_cs_loop%=\n\t"
		"movl %%fs:4(%[off]), %[c1]\n\t"	/* rseq->cpu_id */
		"movq %%fs:0, %[tp1]\n\t"
		"movq (%[gen]), %[g1]\n\t"
		"movq %[tp0], %[out]\n"			/* the commit */
		"csafe_cs_commit%=:\n\t"
		"movl $1, %[committed]\n\t"
		"jmp csafe_cs_end%=\n\t"
		".long 0x53053053\n"			/* RSEQ_SIG */
		"csafe_cs_abort%=:\n\t"
		"movl $0, %[committed]\n"
		"csafe_cs_end%=:\n\t"
		: [c0] "=&r"(c0), [c1] "=&r"(c1), [tp0] "=&r"(tp0), [tp1] "=&r"(tp1),
		  [g0] "=&r"(g0), [g1] "=&r"(g1), [out] "=m"(committed_tp),
		  [committed] "=&r"(committed)
		: [off] "r"(off), [spins] "r"((uint64_t)SPINS), [gen] "r"(gen_addr)
		: "rax", "rcx", "memory", "cc");
	if (!committed)
		return false;
	a->tp = committed_tp;
	a->cpu = c0;
	a->gen = g0;
	b->tp = tp1;
	b->cpu = c1;
	b->gen = g1;
	(void)tp0;
	return true;
}

static void sequences(void)
{
	int64_t end = now_ns() + SEQ_NS;

	while (now_ns() < end) {
		struct seq_seen a, b;

		seq_gen++;
		if (!sequence(&a, &b, &seq_gen)) {
			csafe_add(SEQ_ABORTED, 1);
			continue;
		}
		csafe_add(SEQ_COMMITTED, 1);
		if (a.tp != b.tp || a.cpu != b.cpu || a.gen != b.gen)
			csafe_add(SEQ_BROKEN, 1);
	}
}

static int getcpu_syscall(void)
{
	unsigned int cpu = 0;

	return syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 ? (int)cpu : -1;
}

static void getcpus(void)
{
	int64_t end = now_ns() + GETCPU_NS;

	while (now_ns() < end) {
		bool agreed = false;

		for (int tries = 0; tries < 5 && !agreed; tries++) {
			int a = sched_getcpu();

			agreed = a >= 0 && a == getcpu_syscall();
		}
		if (!agreed)
			csafe_add(GETCPU_BAD, 1);
		csafe_add(GETCPU_DONE, 1);
	}
}

static void body(int id)
{
	(void)id;
	for (int i = 0; i < BURSTS; i++) {
		const struct rseq *area = (const struct rseq *)
			((char *)__builtin_thread_pointer() + __rseq_offset);

		if ((int32_t)area->cpu_id < 0) {
			csafe_add(NO_RSEQ, 1);	/* this thread has no rseq area */
			return;
		}
		sequences();
		getcpus();
		csafe_raw_sleep(CSAFE_SLEEP_NS);
	}
}

static void child(void)
{
	csafe_round(body, CSAFE_GOROUTINES);
}

int main(void)
{
	int plan = ROUNDS * 4;

	csafe_need_sysmon(plan);
	tap_watchdog(CSAFE_WATCHDOG(ROUNDS));
	tap_plan(plan);
	for (int r = 0; r < ROUNDS; r++) {
		const char *died;

		if (__rseq_size == 0) {
			/* glibc.pthread.rseq=0, or a kernel without rseq. */
			const char *why = "glibc registered no rseq area (__rseq_size is 0)";

			tap_skip_case("the round ended", why);
			tap_skip_case("sched_getcpu() agreed with getcpu", why);
			tap_skip_case("no restartable sequence committed across a change", why);
			tap_skip_case("sysmon preempted and handed off", why);
			continue;
		}
		died = csafe_fork_run(child, CSAFE_ROUND_S);
		csafe_result_ended(died, r + 1, CSAFE_GOROUTINES);
		csafe_result(died, csafe_get(GETCPU_BAD) == 0 && csafe_get(GETCPU_DONE) > 0 &&
			     csafe_get(NO_RSEQ) == 0,
			     "round %d: sched_getcpu() agreed with getcpu (%ld of %ld wrong; %ld goroutines on threads without rseq)",
			     r + 1, csafe_get(GETCPU_BAD), csafe_get(GETCPU_DONE), csafe_get(NO_RSEQ));
		csafe_result(died, csafe_get(SEQ_BROKEN) == 0 && csafe_get(SEQ_COMMITTED) > 0,
			     "round %d: no restartable sequence committed across a thread, CPU or goroutine change (%ld of %ld committed did; %ld aborted)",
			     r + 1, csafe_get(SEQ_BROKEN), csafe_get(SEQ_COMMITTED),
			     csafe_get(SEQ_ABORTED));
		csafe_result_exercised(died, true);
	}
	return tap_done();
}
