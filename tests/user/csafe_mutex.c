/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ERRORCHECK and RECURSIVE pthread mutexes held across a preemption and a
 * handoff (issue 16): both kinds belong to the thread that locked them.  A
 * goroutine that changes threads while holding one cannot unlock it
 * (EPERM), and a goroutine that runs meanwhile on the old thread takes a
 * RECURSIVE one it should wait for.
 *
 * 8 goroutines on 2 Ps with a 1 ms slice.  Around each stretch with no
 * kgo call in it (three 1 ms slices of computing, or a raw 3 ms nanosleep
 * while the others want the P) a goroutine holds, in turn:
 *   - its own ERRORCHECK mutex: after the stretch the mutex's owner is
 *     still the thread that locked it, and unlock returns 0;
 *   - its own RECURSIVE mutex, locked twice: both unlocks return 0;
 *   - a RECURSIVE mutex all 8 share, with a "holder" word it guards: no
 *     one else is inside when it enters, and no one else came in by the
 *     end.  It is taken with trylock and kgo_yield (a kgo call) between
 *     tries, so that a mutex the hazard leaves locked for ever fails the
 *     check after 2 s (and every later hold of it at once) instead of
 *     hanging the round.
 * Two rounds (forked children, csafe_util.h).
 *
 * Results per round: it ended; the three holds across the compute
 * stretches; the three across the handoffs; sysmon preempted and handed off.
 */
#include <pthread.h>

#include "csafe_util.h"

#define ROUNDS		2
#define STRETCHES	6		/* of each kind and hold, per goroutine */
#define STUCK_NS	2000000000LL

enum check { ERRORCHECK, RECURSIVE, SHARED, NCHECKS };
static const char *const check_name[NCHECKS] = {
	[ERRORCHECK] = "an ERRORCHECK mutex unlocks, owned by the same thread,",
	[RECURSIVE] = "a RECURSIVE mutex locked twice unlocks twice",
	[SHARED] = "a shared RECURSIVE mutex excludes the other goroutines",
};
#define BAD(kind, check)	((kind) * NCHECKS + (check))
#define DONE(kind, check)	(CSAFE_NKINDS * NCHECKS + (kind) * NCHECKS + (check))

static pthread_mutex_t shared;
static int holder;		/* who is inside shared: id + 1, or 0 */
static bool shared_stuck;	/* someone waited STUCK_NS for shared */

static void init_mutex(pthread_mutex_t *mu, int type)
{
	pthread_mutexattr_t ma;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, type);
	pthread_mutex_init(mu, &ma);
	pthread_mutexattr_destroy(&ma);
}

static bool hold_errorcheck(int kind)
{
	pthread_mutex_t mu;
	pid_t tid = csafe_tid();
	bool ok;

	init_mutex(&mu, PTHREAD_MUTEX_ERRORCHECK);
	if (pthread_mutex_lock(&mu) != 0)
		return false;
	csafe_stretch(kind);
	ok = mu.__data.__owner == tid && csafe_tid() == tid;
	ok &= pthread_mutex_unlock(&mu) == 0;
	pthread_mutex_destroy(&mu);
	return ok;
}

static bool hold_recursive(int kind)
{
	pthread_mutex_t mu;
	bool ok;

	init_mutex(&mu, PTHREAD_MUTEX_RECURSIVE);
	if (pthread_mutex_lock(&mu) != 0 || pthread_mutex_lock(&mu) != 0)
		return false;
	csafe_stretch(kind);
	ok = pthread_mutex_unlock(&mu) == 0;
	ok &= pthread_mutex_unlock(&mu) == 0;
	pthread_mutex_destroy(&mu);
	return ok;
}

static bool hold_shared(int id, int kind)
{
	int64_t give_up = now_ns() + STUCK_NS;
	bool ok;

	while (pthread_mutex_trylock(&shared) != 0) {
		if (__atomic_load_n(&shared_stuck, __ATOMIC_RELAXED) || now_ns() > give_up) {
			__atomic_store_n(&shared_stuck, true, __ATOMIC_RELAXED);
			return false;
		}
		kgo_yield();
	}
	ok = __atomic_exchange_n(&holder, id + 1, __ATOMIC_SEQ_CST) == 0;
	csafe_stretch(kind);
	ok &= __atomic_exchange_n(&holder, 0, __ATOMIC_SEQ_CST) == id + 1;
	ok &= pthread_mutex_unlock(&shared) == 0;
	return ok;
}

static void body(int id)
{
	for (int i = 0; i < STRETCHES * CSAFE_NKINDS * NCHECKS; i++) {
		int kind = i % CSAFE_NKINDS, check = (i / CSAFE_NKINDS) % NCHECKS;
		bool ok;

		if (check == ERRORCHECK)
			ok = hold_errorcheck(kind);
		else if (check == RECURSIVE)
			ok = hold_recursive(kind);
		else
			ok = hold_shared(id, kind);
		if (!ok)
			csafe_add(BAD(kind, check), 1);
		csafe_add(DONE(kind, check), 1);
		kgo_yield();
	}
}

static void child(void)
{
	init_mutex(&shared, PTHREAD_MUTEX_RECURSIVE);
	csafe_round(body, CSAFE_GOROUTINES);
}

int main(void)
{
	int plan = ROUNDS * (2 + CSAFE_NKINDS * NCHECKS);

	csafe_need_sysmon(plan);
	tap_watchdog(CSAFE_WATCHDOG(ROUNDS));
	tap_plan(plan);
	for (int r = 0; r < ROUNDS; r++) {
		const char *died = csafe_fork_run(child, CSAFE_ROUND_S);

		csafe_result_ended(died, r + 1, CSAFE_GOROUTINES);
		for (int k = 0; k < CSAFE_NKINDS; k++)
			for (int c = 0; c < NCHECKS; c++)
				csafe_result(died, csafe_get(BAD(k, c)) == 0 && csafe_get(DONE(k, c)) > 0,
					     "round %d: %s %s (%ld of %ld holds broke it)", r + 1,
					     check_name[c], csafe_kind_name[k], csafe_get(BAD(k, c)),
					     csafe_get(DONE(k, c)));
		csafe_result_exercised(died, true);
	}
	return tap_done();
}
