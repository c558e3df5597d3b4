/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out of threads (issue 17): a failed M start must not strand a P, hang
 * the program or shrink the spare-M pool for good.
 *
 * A child becomes uid 65534 (RLIMIT_NPROC binds only without privilege)
 * and runs kgo_main on 2 Ps.  Once started, it lowers its RLIMIT_NPROC
 * soft limit to the threads it has, so no thread can start:
 *   - 4 goroutines make 10 raw 5 ms sleeps each while 2 others yield in
 *     a loop; every blocking call wants a spare M for its P, and the
 *     spawner's starts fail;
 * then raises it again, while the 2 yielders hold both Ps and 4 more
 * goroutines sleep raw in a loop, each keeping its thread:
 *   - the spawner starts Ms again, and once the 4 sleep, within 2 s the
 *     module has the pool's 2 idle Ms beside those 6.  (Before WANTM forgot the Ms it
 *     had asked for and never got, the pool stayed short for good.)
 * Results: kgo_main returned; the sleeps all ended with threads short
 * (and the limit did bind: no thread was started meanwhile); the pool
 * came back.  Each round runs in a child killed after CSAFE_ROUND_S.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include "csafe_util.h"
#include "sysmon_util.h"

#define UNPRIV_UID	65534
#define SLEEPERS	4
#define SLEEPS		10
#define YIELDERS	2

enum {
	SLEEPS_DONE, THREADS_BEFORE, THREADS_AFTER, STARVED_OK, BLOCKERS_IN, POOL_IDLE, POOL_MS,
	POOL_MS_WAIT
};

#define BLOCKERS	4

static int stop_yielders, stop_blockers;
static struct kgo_waitgroup sleepers_wg;

static bool set_nproc(rlim_t soft)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NPROC, &rl))
		return false;
	rl.rlim_cur = soft;
	return setrlimit(RLIMIT_NPROC, &rl) == 0;
}

static void sleeper(void *arg)
{
	(void)arg;
	for (int i = 0; i < SLEEPS; i++) {
		csafe_raw_sleep(5000000);
		csafe_add(SLEEPS_DONE, 1);
	}
	kgo_waitgroup_done(&sleepers_wg);
}

static void blocker(void *arg)
{
	(void)arg;
	csafe_raw_sleep(10000000);
	csafe_add(BLOCKERS_IN, 1);
	while (!__atomic_load_n(&stop_blockers, __ATOMIC_RELAXED))
		csafe_raw_sleep(10000000);
}

static void yielder(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_yielders, __ATOMIC_RELAXED))
		kgo_yield();
}

static void main_g(void *arg)
{
	struct kgo_stats_user st;
	int threads, waited;

	(void)arg;
	kgo_sleep(50000000);		/* start-up and the first spares done */
	threads = count_threads();
	if (threads <= 0 || !set_nproc((rlim_t)threads))
		return;
	kgo_sleep(20000000);		/* a start under way when it was set */
	csafe_add(THREADS_BEFORE, count_threads());
	kgo_waitgroup_add(&sleepers_wg, SLEEPERS);
	for (int i = 0; i < YIELDERS; i++)
		kgo_go(yielder, NULL);
	for (int i = 0; i < SLEEPERS; i++)
		kgo_go(sleeper, NULL);
	kgo_waitgroup_wait(&sleepers_wg);
	csafe_add(THREADS_AFTER, count_threads());
	csafe_add(STARVED_OK, 1);

	/* Threads again; the yielders still hold both Ps. */
	if (!set_nproc(4096))
		return;
	for (int i = 0; i < BLOCKERS; i++)
		kgo_go(blocker, NULL);
	/* From the blockers' first sleeps on, 6 threads are taken. */
	for (waited = 0; waited < 2000 && csafe_get(BLOCKERS_IN) < BLOCKERS; waited += 10)
		kgo_sleep(10000000);
	for (; waited < 4000; waited += 10) {
		st = stats_now();
		if (st.nmidle >= SPARE_MS)
			break;
		kgo_sleep(10000000);
	}
	csafe_add(POOL_MS_WAIT, waited);
	csafe_add(POOL_IDLE, st.nmidle);
	csafe_add(POOL_MS, st.nms);
	__atomic_store_n(&stop_blockers, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&stop_yielders, 1, __ATOMIC_RELAXED);
}

static void child(void)
{
	struct kgo_config cfg;
	struct rlimit rl = { 4096, 4096 };

	if (setrlimit(RLIMIT_NPROC, &rl) || setgid(UNPRIV_UID) || setuid(UNPRIV_UID))
		_exit(3);
	memset(&cfg, 0, sizeof(cfg));
	cfg.nprocs = 2;
	cfg.slice_ns = KGO_SLICE_MIN;
	csafe_sh->main_rc = kgo_main(main_g, NULL, &cfg);
}

#define PLAN	4

int main(void)
{
	const char *died;
	struct stat st;

	csafe_need_sysmon(PLAN);
	tap_watchdog(CSAFE_ROUND_S + 30);
	tap_plan(PLAN);
	if (geteuid() != 0 || stat(KGO_DEVICE, &st)) {
		for (int i = 0; i < PLAN; i++)
			tap_missing("out of threads", "root (to become uid 65534 with a thread limit)");
		return tap_done();
	}
	chmod(KGO_DEVICE, 0666);
	died = csafe_fork_run(child, CSAFE_ROUND_S);
	chmod(KGO_DEVICE, st.st_mode & 07777);

	csafe_result(died, csafe_sh->main_rc == 0, "kgo_main as uid %d returned %d",
		     UNPRIV_UID, csafe_sh->main_rc);
	csafe_result(died, csafe_get(STARVED_OK) == 1 &&
		     csafe_get(SLEEPS_DONE) == SLEEPERS * SLEEPS,
		     "no thread could start: %ld of %d blocking calls beside %d yielders returned",
		     csafe_get(SLEEPS_DONE), SLEEPERS * SLEEPS, YIELDERS);
	csafe_result(died, csafe_get(THREADS_BEFORE) > 0 &&
		     csafe_get(THREADS_AFTER) <= csafe_get(THREADS_BEFORE),
		     "the limit held: %ld threads before, %ld after",
		     csafe_get(THREADS_BEFORE), csafe_get(THREADS_AFTER));
	csafe_result(died, csafe_get(POOL_IDLE) >= SPARE_MS,
		     "threads back: %ld idle Ms of %ld after %ld ms beside %d busy (the pool keeps %d)",
		     csafe_get(POOL_IDLE), csafe_get(POOL_MS), csafe_get(POOL_MS_WAIT),
		     YIELDERS + BLOCKERS, SPARE_MS);
	return tap_done();
}
