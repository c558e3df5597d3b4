/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out of threads (issue 17): a failed M start must not strand a P, hang
 * the program or shrink the spare-M pool for good, whatever stopped the
 * thread.  Three limits, each in a round of its own:
 *   nproc     the child becomes uid 65534 (RLIMIT_NPROC binds only without
 *             privilege) and lowers its soft RLIMIT_NPROC;
 *   pids      the child runs in a cgroup whose pids.max it lowers (the
 *             limit a container or a systemd unit's TasksMax sets; binds
 *             root too);
 *   maps      vm.max_map_count is lowered below the child's memory areas,
 *             so that no thread stack can be mapped (see maps_bind).
 * Each round runs kgo_main on 2 Ps.  Once started, the child sets its
 * limit to the threads (or areas) it has, so no thread can start:
 *   - 4 goroutines make 10 raw 5 ms sleeps each while 2 others yield in
 *     a loop; every blocking call wants a spare M for its P, and the
 *     spawner's starts fail;
 * then lifts it, while the 2 yielders hold both Ps and 4 more goroutines
 * sleep raw in a loop, each keeping its thread:
 *   - the spawner starts Ms again, and once the 4 sleep, within 2 s the
 *     module has the pool's 2 idle Ms beside those 6.
 * Results per round: kgo_main returned; the sleeps all ended with threads
 * short (and the limit did bind: no thread was started meanwhile); the
 * pool came back.  Each round runs in a child killed after CSAFE_ROUND_S.
 */
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "csafe_util.h"
#include "file_util.h"
#include "mem_util.h"
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

#define CG		"/tmp/kgo-cg-threads"
#define CG_CHILD	CG "/child"
#define MAP_COUNT	"/proc/sys/vm/max_map_count"

/*
 * One way of running out of threads: enter() runs in the child before
 * kgo_main; bind() makes it unable to start one more thread, given the
 * threads it has; lift() undoes that.
 */
struct limiter {
	const char *name;
	bool (*enter)(void);
	bool (*bind)(int threads);
	bool (*lift)(void);
};

static bool set_nproc(rlim_t soft)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NPROC, &rl))
		return false;
	rl.rlim_cur = soft;
	return setrlimit(RLIMIT_NPROC, &rl) == 0;
}

static bool nproc_enter(void)
{
	struct rlimit rl = { 4096, 4096 };

	return !setrlimit(RLIMIT_NPROC, &rl) && !setgid(UNPRIV_UID) && !setuid(UNPRIV_UID);
}

static bool nproc_bind(int threads)
{
	return set_nproc((rlim_t)threads);
}

static bool nproc_lift(void)
{
	return set_nproc(4096);
}

static bool pids_enter(void)
{
	return !file_write(CG_CHILD "/cgroup.procs", "0");
}

static bool pids_bind(int threads)
{
	(void)threads;
	return !file_write_long(CG_CHILD "/pids.max", file_long(CG_CHILD "/pids.current"));
}

static bool pids_lift(void)
{
	return !file_write(CG_CHILD "/pids.max", "max");
}

static long map_count_before;	/* the sysctl's value before the round */

static bool maps_enter(void)
{
	return true;
}

/*
 * Below the areas the child has, so that mmap fails, and with it
 * pthread_create.  Some areas below: /proc/self/maps also lists
 * [vsyscall], which the kernel does not count; it refuses a mapping only
 * once the count is over the limit; and a new thread's stack, once made
 * writable, can merge with a writable neighbour, so that a mapping made at
 * the limit costs one area, its guard (seen on the debug kernel).
 */
static bool maps_bind(int threads)
{
	(void)threads;
	return !file_write_long(MAP_COUNT, count_maps() - 4);
}

static bool maps_lift(void)
{
	return !file_write_long(MAP_COUNT, map_count_before);
}

static const struct limiter limiters[] = {
	{ "RLIMIT_NPROC", nproc_enter, nproc_bind, nproc_lift },
	{ "pids.max", pids_enter, pids_bind, pids_lift },
	{ "vm.max_map_count", maps_enter, maps_bind, maps_lift },
};

static const struct limiter *lim;	/* this round's */

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
	/* Start-up done: the spare pool full, so the spawner starts nothing. */
	for (waited = 0; waited < 2000; waited += 10) {
		kgo_sleep(10000000);
		if (waited >= 50 && stats_now().nmidle >= SPARE_MS)
			break;
	}
	threads = count_threads();
	if (threads <= 0 || !lim->bind(threads))
		return;
	/*
	 * A start under way when it was set may still finish: under
	 * vm.max_map_count, one whose stack was mapped before.  The count
	 * must hold still for 3 looks 20 ms apart (at most 2 s).
	 */
	for (int same = 0, looked = 0; same < 3 && looked < 100; looked++) {
		int now;

		kgo_sleep(20000000);
		now = count_threads();
		same = now == threads ? same + 1 : 0;
		threads = now;
	}
	csafe_add(THREADS_BEFORE, threads);
	kgo_waitgroup_add(&sleepers_wg, SLEEPERS);
	for (int i = 0; i < YIELDERS; i++)
		kgo_go(yielder, NULL);
	for (int i = 0; i < SLEEPERS; i++)
		kgo_go(sleeper, NULL);
	kgo_waitgroup_wait(&sleepers_wg);
	csafe_add(THREADS_AFTER, count_threads());
	if (csafe_get(THREADS_AFTER) > csafe_get(THREADS_BEFORE))
		fprintf(stderr, "# %ld memory areas now; vm.max_map_count %ld\n", count_maps(),
			file_long(MAP_COUNT));
	csafe_add(STARVED_OK, 1);

	/* Threads again; the yielders still hold both Ps. */
	if (!lim->lift())
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

	if (!lim->enter())
		_exit(3);
	memset(&cfg, 0, sizeof(cfg));
	cfg.nprocs = 2;
	cfg.slice_ns = KGO_SLICE_MIN;
	csafe_sh->main_rc = kgo_main(main_g, NULL, &cfg);
}

#define CHECKS	4
#define PLAN	(CHECKS * (int)(sizeof(limiters) / sizeof(limiters[0])))

static bool cgroup_make(void)
{
	mkdir(CG, 0755);
	if (mount("cgroup2", CG, "cgroup2", 0, NULL) && errno != EBUSY)
		return false;
	file_write(CG "/cgroup.subtree_control", "+pids");
	mkdir(CG_CHILD, 0755);
	return access(CG_CHILD "/pids.max", W_OK) == 0;
}

static void cgroup_remove(void)
{
	rmdir(CG_CHILD);
	umount(CG);
	rmdir(CG);
}

static void round_of(const struct limiter *l)
{
	const char *died;

	lim = l;
	printf("# ---- threads limited by %s\n", l->name);
	died = csafe_fork_run(child, CSAFE_ROUND_S);
	csafe_result(died, csafe_sh->main_rc == 0, "%s: kgo_main returned %d", l->name,
		     csafe_sh->main_rc);
	csafe_result(died, csafe_get(STARVED_OK) == 1 &&
		     csafe_get(SLEEPS_DONE) == SLEEPERS * SLEEPS,
		     "%s: no thread could start: %ld of %d blocking calls beside %d yielders "
		     "returned", l->name, csafe_get(SLEEPS_DONE), SLEEPERS * SLEEPS, YIELDERS);
	csafe_result(died, csafe_get(THREADS_BEFORE) > 0 && csafe_get(THREADS_AFTER) > 0 &&
		     csafe_get(THREADS_AFTER) <= csafe_get(THREADS_BEFORE),
		     "%s: the limit held: %ld threads before, %ld after", l->name,
		     csafe_get(THREADS_BEFORE), csafe_get(THREADS_AFTER));
	csafe_result(died, csafe_get(POOL_IDLE) >= SPARE_MS,
		     "%s: threads back: %ld idle Ms of %ld after %ld ms beside %d busy "
		     "(the pool keeps %d)", l->name, csafe_get(POOL_IDLE), csafe_get(POOL_MS),
		     csafe_get(POOL_MS_WAIT), YIELDERS + BLOCKERS, SPARE_MS);
}

static void missing(const char *name, const char *why)
{
	for (int i = 0; i < CHECKS; i++)
		tap_missing(name, why);
}

int main(void)
{
	struct stat st;

	csafe_need_sysmon(PLAN);
	tap_watchdog(3 * (CSAFE_ROUND_S + 30));
	tap_plan(PLAN);
	if (geteuid() != 0 || stat(KGO_DEVICE, &st)) {
		for (size_t i = 0; i < sizeof(limiters) / sizeof(limiters[0]); i++)
			missing("out of threads", "root (to set the limits)");
		return tap_done();
	}

	chmod(KGO_DEVICE, 0666);
	round_of(&limiters[0]);
	chmod(KGO_DEVICE, st.st_mode & 07777);

	if (cgroup_make())
		round_of(&limiters[1]);
	else
		missing("out of threads: pids.max", "a cgroup2 with the pids controller");
	cgroup_remove();

	map_count_before = file_long(MAP_COUNT);
	if (map_count_before > 0) {
		round_of(&limiters[2]);
		file_write_long(MAP_COUNT, map_count_before);	/* the child may have died */
	} else {
		missing("out of threads: vm.max_map_count", "a readable " MAP_COUNT);
	}
	return tap_done();
}
