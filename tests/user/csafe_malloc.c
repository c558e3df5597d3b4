/* SPDX-License-Identifier: GPL-2.0 */
/*
 * malloc, realloc and free from goroutines that sysmon preempts and hands
 * off (issue 16): glibc's malloc keeps per-thread state (its tcache, the
 * arena a thread is attached to) that a goroutine moved to another thread
 * in the middle of a call corrupts.
 *
 * 20 rounds in a row, each one kgo_main (in a forked child, csafe_util.h)
 * with 8 goroutines on 2 Ps and a 1 ms slice.  Each goroutine keeps 32
 * buffers and for about a second reallocates, frees and allocates them at
 * random sizes (mostly 24 to 64 bytes, the same few tcache bins for all;
 * a few of some kilobytes, and a few above a lowered mmap threshold, so
 * that malloc makes system calls inside its locks), checking every word of
 * a buffer's contents before it changes it, and every 2048 steps sleeps in
 * a raw nanosleep long enough for a handoff.  The buffers are small and
 * checked a word at a time, so much of the time is spent inside malloc,
 * where the 1 ms preemptions then land.
 *
 * One result per round: it ended (no crash, no hang: a round gets 15 s)
 * and no buffer lost a word.  One more: sysmon preempted and handed off in
 * the rounds.
 */
#include <malloc.h>
#include <stdlib.h>

#include "csafe_util.h"

#define ROUNDS		20
#define SLOTS		32
#define ROUND_NS	1000000000	/* each goroutine's work in a round */
#define SLEEP_EVERY	2048
#define MALLOC_ROUND_S	15		/* a round's time limit (it takes 1-2 s) */

enum { BAD_WORDS, STEPS, NCOUNT };

static uint64_t total_preempts, total_handoffs;

static unsigned int next_rand(unsigned int *s)
{
	*s = *s * 1103515245 + 12345;
	return *s >> 8;
}

/*
 * Mostly a few small sizes, so that every goroutine works the same tcache
 * bins (where a goroutine moved in the middle of tcache_get or tcache_put
 * hands a chunk out twice or loses one); now and then some kilobytes (the
 * arena) or more than the lowered mmap threshold.  In 8-byte words: the
 * contents are checked a word at a time, to keep the time outside malloc
 * short.
 */
static size_t pick_words(unsigned int *s)
{
	unsigned int r = next_rand(s);

	if (r % 256 == 0)
		return (64 * 1024 + r % (32 * 1024)) / 8;	/* mmap'd */
	if (r % 32 == 0)
		return (1024 + r % 4096) / 8;
	return 3 + r % 6;
}

static uint64_t pattern(unsigned int seed, size_t i)
{
	return (seed + 1) * 0x9e3779b97f4a7c15ULL + i;
}

static void fill(uint64_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

/* Words of @p's first @n that are not @seed's pattern. */
static long bad_words(const uint64_t *p, size_t n, unsigned int seed)
{
	long bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += p[i] != pattern(seed, i);
	return bad;
}

static void churn(int id)
{
	uint64_t *buf[SLOTS] = { 0 };
	size_t len[SLOTS] = { 0 };
	unsigned int seed[SLOTS] = { 0 };
	unsigned int s = (unsigned int)id * 7919 + 1;
	int64_t end = now_ns() + ROUND_NS;
	long steps = 0, bad = 0;

	while (steps % 64 || now_ns() < end) {
		unsigned int k = next_rand(&s) % SLOTS, op = next_rand(&s) % 3;
		size_t n = pick_words(&s);

		if (buf[k])
			bad += bad_words(buf[k], len[k], seed[k]);
		if (buf[k] && op == 0) {
			free(buf[k]);
			buf[k] = NULL;
		} else if (buf[k] && op == 1) {
			uint64_t *p = realloc(buf[k], n * 8);

			if (p) {
				size_t kept = n < len[k] ? n : len[k];

				bad += bad_words(p, kept, seed[k]);
				buf[k] = p;
				len[k] = n;
			}
		} else {
			free(buf[k]);
			buf[k] = malloc(n * 8);
			len[k] = buf[k] ? n : 0;
		}
		if (buf[k]) {
			seed[k] = next_rand(&s);
			fill(buf[k], len[k], seed[k]);
		}
		if (++steps % SLEEP_EVERY == 0)
			csafe_raw_sleep(CSAFE_SLEEP_NS);
	}
	for (int k = 0; k < SLOTS; k++) {
		if (buf[k])
			bad += bad_words(buf[k], len[k], seed[k]);
		free(buf[k]);
	}
	csafe_add(BAD_WORDS, bad);
	csafe_add(STEPS, steps);
}

static void child(void)
{
	/* malloc makes system calls (mmap, munmap, trim) inside its locks. */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	csafe_round(churn, CSAFE_GOROUTINES);
}

int main(void)
{
	csafe_need_sysmon(ROUNDS + 1);
	tap_watchdog(ROUNDS * (MALLOC_ROUND_S + 5) + 30);
	tap_plan(ROUNDS + 1);
	for (int r = 0; r < ROUNDS; r++) {
		const char *died = csafe_fork_run(child, MALLOC_ROUND_S);

		csafe_result(died, csafe_sh->main_rc == 0 &&
			     csafe_sh->finished == CSAFE_GOROUTINES && csafe_get(BAD_WORDS) == 0,
			     "round %d: ended (kgo_main %d, %d of %d goroutines), %ld corrupt words in %ld steps",
			     r + 1, csafe_sh->main_rc, csafe_sh->finished, CSAFE_GOROUTINES,
			     csafe_get(BAD_WORDS), csafe_get(STEPS));
		total_preempts += csafe_sh->preempts;
		total_handoffs += csafe_sh->handoffs;
	}
	tap_ok_fmt(total_preempts > 0 && total_handoffs > 0,
		   "sysmon preempted (%llu) and handed off (%llu) in the rounds",
		   (unsigned long long)total_preempts, (unsigned long long)total_handoffs);
	return tap_done();
}
