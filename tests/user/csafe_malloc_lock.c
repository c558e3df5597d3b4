/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A goroutine that holds malloc's lock and waits for a P must get one:
 * the library never calls malloc or free while it holds a P that sysmon
 * cannot take (docs/design.md, "No malloc or free in the library").
 *
 * This program is linked with malloc, calloc, realloc and free wrapped
 * (ld --wrap, the Makefile): every call, the library's and libc's, goes
 * to glibc's behind one mutex of the test's own, "malloc's lock", which
 * the test controls.
 * In each round, on 2 Ps, goroutine 0 calls malloc once with that lock
 * held across a raw 200 ms sleep, far past the handoff delay, so that its
 * P is handed off and it must wait for one when the sleep ends; 7 others
 * meanwhile repeat one kind of library call that needs memory:
 *   - a channel timer made and freed (kgo_timer_new, kgo_timer_free);
 *   - a select of 12 cases, more than fit on the stack;
 *   - a context with a deadline, made and released;
 *   - a goroutine started with a context of its own, which dies with it
 *     (the last reference goes at the goroutine's exit, on g0).
 * Had the library allocated with its P held, every P would end up waiting
 * for the lock goroutine 0 holds, and goroutine 0 for a P: the round
 * hangs (each runs in a child killed after CSAFE_ROUND_S).
 *
 * Per round: it ended, goroutine 0 got its P back, and the workers' calls
 * did wait for the held lock.  Once: sysmon handed Ps off.
 */
#include <pthread.h>
#include <stdlib.h>

#include "csafe_util.h"

#define WORKERS		7
#define HOLD_NS		200000000	/* malloc's lock held across a raw sleep */
#define SELECT_CASES	12		/* past the select's 8 on the stack */

enum { OP_TIMER, OP_SELECT, OP_CTX, OP_CTX_EXIT, NOPS };
static const char *const op_name[NOPS] = {
	"a channel timer made and freed",
	"a select of 12 cases",
	"a context with a deadline made and released",
	"a goroutine whose context dies with it",
};

/* ---- malloc's lock ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);

static pthread_mutex_t malloc_lock = PTHREAD_MUTEX_INITIALIZER;
static int hold_next;		/* the next malloc holds the lock HOLD_NS */

/* csafe_sh->count: [0] the hold (1 in it, 2 after), [1 + id] calls, [WAITS] */
#define WAITS	16

/* Counts the calls that found the lock taken during the hold. */
static void lock_malloc(void)
{
	if (pthread_mutex_trylock(&malloc_lock) == 0)
		return;
	if (csafe_sh && csafe_get(0) == 1)
		csafe_add(WAITS, 1);
	pthread_mutex_lock(&malloc_lock);
}

void *__wrap_malloc(size_t size)
{
	void *p;

	lock_malloc();
	if (__atomic_exchange_n(&hold_next, 0, __ATOMIC_ACQ_REL))
		csafe_raw_sleep(HOLD_NS);
	p = __real_malloc(size);
	pthread_mutex_unlock(&malloc_lock);
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p;

	lock_malloc();
	p = __real_calloc(n, size);
	pthread_mutex_unlock(&malloc_lock);
	return p;
}

void *__wrap_realloc(void *old, size_t size)
{
	void *p;

	lock_malloc();
	p = __real_realloc(old, size);
	pthread_mutex_unlock(&malloc_lock);
	return p;
}

void __wrap_free(void *p)
{
	if (!p)
		return;		/* as glibc's: no lock */
	lock_malloc();
	__real_free(p);
	pthread_mutex_unlock(&malloc_lock);
}

/* ---- one round ---- */

static int op;

static void ctx_goroutine(void *arg)
{
	(void)arg;
	/* The creator let go: this goroutine's reference is the last. */
}

static void do_op(struct kgo_chan **chans)
{
	switch (op) {
	case OP_TIMER:
		kgo_timer_free(kgo_timer_new(1000000000, NULL, NULL));
		break;
	case OP_SELECT: {
		struct kgo_select_case cases[SELECT_CASES];
		int v;

		for (int i = 0; i < SELECT_CASES; i++)
			cases[i] = (struct kgo_select_case){ .chan = chans[i],
							     .dir = KGO_SELECT_RECV, .elem = &v };
		if (kgo_select(cases, SELECT_CASES, false) >= 0)
			kgo_chan_send(chans[0], &v);	/* back, for the next one */
		break;
	}
	case OP_CTX:
		kgo_ctx_release(kgo_ctx_with_deadline(NULL, kgo_nanotime() + 1000000000));
		break;
	case OP_CTX_EXIT: {
		struct kgo_ctx *c = kgo_ctx_new(NULL);

		kgo_ctx_set(c);
		kgo_go(ctx_goroutine, NULL);	/* inherits c */
		kgo_ctx_set(NULL);
		kgo_ctx_release(c);
		kgo_yield();
		break;
	}
	}
}

static void body(int id)
{
	struct kgo_chan *chans[SELECT_CASES];
	void *volatile p;	/* not optimised away with its free */
	int v = 1;

	if (id == 0) {
		csafe_raw_sleep(20000000);	/* the workers get going */
		__atomic_store_n(&hold_next, 1, __ATOMIC_RELEASE);
		csafe_add(0, 1);
		p = malloc(64);		/* holds the lock, loses the P */
		free(p);
		csafe_add(0, 1);
		return;
	}
	for (int i = 0; i < SELECT_CASES; i++)
		chans[i] = kgo_chan_new(sizeof(int), 1);
	kgo_chan_send(chans[id % SELECT_CASES], &v);
	/* Until goroutine 0 is through, then 20 more calls. */
	for (int after = 0; after < 20;) {
		bool done = csafe_get(0) == 2;

		do_op(chans);
		csafe_add(1 + id, 1);
		after += done;
	}
	for (int i = 0; i < SELECT_CASES; i++)
		kgo_chan_free(chans[i]);
}

static void child(void)
{
	csafe_round(body, 1 + WORKERS);
}

int main(void)
{
	uint64_t handoffs = 0;

	csafe_need_sysmon(3 * NOPS + 1);
	tap_watchdog(CSAFE_WATCHDOG(NOPS));
	tap_plan(3 * NOPS + 1);
	for (op = 0; op < NOPS; op++) {
		const char *died = csafe_fork_run(child, CSAFE_ROUND_S);
		long total = 0;

		for (int id = 1; id <= WORKERS; id++)
			total += csafe_sh->count[1 + id];
		csafe_result_ended(died, op, 1 + WORKERS);
		csafe_result(died, csafe_sh->count[0] == 2,
			     "%s: the goroutine that held malloc's lock got a P back", op_name[op]);
		csafe_result(died, total >= 20 * WORKERS && csafe_sh->count[WAITS] > 0,
			     "%s: %ld calls by %d goroutines; %ld allocations waited for the held lock",
			     op_name[op], total, WORKERS, csafe_sh->count[WAITS]);
		handoffs += csafe_sh->handoffs;
	}
	tap_ok_fmt(handoffs > 0 || getenv("CSAFE_COOPERATIVE"),
		   "sysmon handed off %llu Ps in the rounds", (unsigned long long)handoffs);
	return tap_done();
}
