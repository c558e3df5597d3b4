/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C-safety contract (issue 16): a goroutine changes threads only
 * inside a kgo call; between two kgo calls it behaves as a pthread would.
 *
 * Eight goroutines on 2 Ps with a 1 ms slice each run stretches of their
 * own code with no kgo call in them: a compute loop several slices long
 * (sysmon preempts it) and a raw nanosleep long enough for sysmon to hand
 * the P off.  Around each stretch they check what a pthread may keep:
 *   - gettid(), the thread itself;
 *   - the address of errno and its value after a failing close();
 *   - the address of a __thread variable and the value this goroutine put
 *     in it (another goroutine on the same thread would overwrite it);
 *   - the owner of an ERRORCHECK mutex held across the stretch (unlock
 *     from another thread is EPERM);
 *   - the signal mask set before the stretch;
 *   - malloc/realloc/free of buffers whose contents are checked.
 * Each check is one TAP line counting the stretches that broke it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "clock_util.h"
#include "tap.h"

#define GOROUTINES	8
#define ROUNDS		12
#define COMPUTE_NS	4000000		/* four 1 ms slices */
#define SLEEP_NS	3000000		/* well past sysmon's handoff delay */

enum check { TID, ERRNO, TLS, MUTEX, SIGMASK, HEAP, NCHECKS };
static const char *const check_name[NCHECKS] = {
	[TID] = "gettid() unchanged across each stretch",
	[ERRNO] = "errno's address and value unchanged",
	[TLS] = "a __thread variable's address and value unchanged",
	[MUTEX] = "an ERRORCHECK mutex held across a stretch unlocks (same owner)",
	[SIGMASK] = "the signal mask set before a stretch is still set after it",
	[HEAP] = "malloc/realloc/free buffers keep their contents",
};

static atomic_long broken[NCHECKS];
static atomic_long stretches;
static atomic_int finished;
static __thread uintptr_t tls_owner;
static struct kgo_sema done;

static void compute(void)
{
	volatile unsigned long x = 0;
	int64_t end = now_ns() + COMPUTE_NS;

	while (now_ns() < end)
		x++;
}

static void raw_sleep(void)
{
	struct timespec ts = { 0, SLEEP_NS };

	syscall(SYS_nanosleep, &ts, NULL);
}

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 31);
}

static bool same(const unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 31))
			return false;
	return true;
}

/* One stretch: @work (compute or a raw sleep) bracketed by every check. */
static void stretch(uintptr_t me, void (*work)(void), unsigned int seed)
{
	pid_t tid = gettid();
	int *errno_addr = &errno;
	uintptr_t *tls_addr = &tls_owner;
	pthread_mutex_t mu;
	pthread_mutexattr_t ma;
	sigset_t block, old, now;
	size_t n = 64 + seed % 4000;
	unsigned char *buf = malloc(n);

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&mu, &ma);
	pthread_mutex_lock(&mu);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	tls_owner = me;
	if (buf)
		fill(buf, n, seed);
	close(-1);			/* errno = EBADF */

	work();

	if (gettid() != tid)
		atomic_fetch_add(&broken[TID], 1);
	if (&errno != errno_addr || errno != EBADF)
		atomic_fetch_add(&broken[ERRNO], 1);
	if (&tls_owner != tls_addr || tls_owner != me)
		atomic_fetch_add(&broken[TLS], 1);
	if (pthread_mutex_unlock(&mu) != 0)
		atomic_fetch_add(&broken[MUTEX], 1);
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	if (!sigismember(&now, SIGUSR2))
		atomic_fetch_add(&broken[SIGMASK], 1);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (buf) {
		unsigned char *bigger = realloc(buf, n * 2);

		if (!bigger || !same(bigger, n, seed))
			atomic_fetch_add(&broken[HEAP], 1);
		free(bigger ? bigger : buf);
	}
	pthread_mutex_destroy(&mu);
	pthread_mutexattr_destroy(&ma);
	atomic_fetch_add(&stretches, 1);
}

static void worker(void *arg)
{
	uintptr_t me = (uintptr_t)arg;

	for (unsigned int r = 0; r < ROUNDS; r++) {
		stretch(me, compute, (unsigned int)(me * 1000 + r));
		stretch(me, raw_sleep, (unsigned int)(me * 1000 + r + 500));
		kgo_yield();		/* a kgo call: moving here is allowed */
	}
	atomic_fetch_add(&finished, 1);
	kgo_sema_release(&done);
}

static void main_g(void *arg)
{
	(void)arg;
	for (uintptr_t i = 1; i <= GOROUTINES; i++)
		kgo_go(worker, (void *)i);
	for (int i = 0; i < GOROUTINES; i++)
		kgo_sema_acquire(&done);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2, .slice_ns = KGO_SLICE_MIN };
	int rc;

	tap_watchdog(120);
	tap_plan(NCHECKS + 1);
	kgo_sema_init(&done, 0);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0 && atomic_load(&finished) == GOROUTINES,
		   "kgo_main returned %d with %d of %d goroutines finished", rc,
		   atomic_load(&finished), GOROUTINES);
	for (int c = 0; c < NCHECKS; c++)
		tap_ok_fmt(atomic_load(&broken[c]) == 0, "%s (%ld of %ld stretches broke it)",
			   check_name[c], atomic_load(&broken[c]), atomic_load(&stretches));
	return tap_done();
}
