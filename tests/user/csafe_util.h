/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the csafe_* tests, which check issue 16's C-safety contract: a
 * goroutine changes threads only inside a kgo call; between two kgo calls
 * it behaves exactly as a pthread would.
 *
 * Every csafe test runs its goroutines with 2 Ps and a 1 ms slice, and puts
 * two kinds of stretch of goroutine code, with no kgo call in them, between
 * the steps it checks:
 *   - csafe_compute: a busy loop three slices long, which sysmon preempts;
 *   - csafe_raw_sleep: a raw nanosleep (no libkgo wrapper) of 3 ms, far
 *     past sysmon's handoff delay, while other goroutines want the P, so
 *     the P is handed off while the goroutine's M sleeps.
 *
 * With CSAFE_COOPERATIVE=1 in the environment the rounds run with
 * KGO_COOPERATIVE (no sysmon: no preemption, no handoff), where every
 * result but "sysmon preempted and handed off" must pass: a check of the
 * tests themselves.
 *
 * csafe_fork_run runs one round of goroutines (one kgo_main) in a child
 * process, so that a round that crashes or hangs (both are what the hazard
 * does) costs that round's results, reported as failures with the cause,
 * and never the plan.  The child and the parent share struct csafe_shared;
 * the parent prints every TAP line.
 *
 * The header is C and C++ (csafe_cxx.cc): no <stdatomic.h>, GCC's __atomic
 * builtins instead.
 */
#ifndef KGO_TESTS_CSAFE_UTIL_H
#define KGO_TESTS_CSAFE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>
#include <linux/kgo.h>

#include "clock_util.h"
#include "tap.h"

#define CSAFE_NPROCS		2
#define CSAFE_GOROUTINES	8
#define CSAFE_COMPUTE_NS	3000000		/* three 1 ms slices */
#define CSAFE_SLEEP_NS		3000000		/* far past the handoff delay */
#define CSAFE_ROUND_S		25		/* a round's time limit; one takes
						   1-3 s in a TCG guest */
#define CSAFE_WATCHDOG(rounds)	((rounds) * (CSAFE_ROUND_S + 5) + 30)

/* What a child's round reports to the parent (MAP_SHARED). */
struct csafe_shared {
	int main_rc;			/* kgo_main's result */
	int finished;			/* goroutines that ran to their end */
	uint64_t preempts;		/* kgo_stats deltas over the round */
	uint64_t handoffs;
	long count[32];			/* the test's own counters */
};

static struct csafe_shared *csafe_sh;

static inline void csafe_add(int i, long n)
{
	__atomic_fetch_add(&csafe_sh->count[i], n, __ATOMIC_RELAXED);
}

static inline long csafe_get(int i)
{
	return __atomic_load_n(&csafe_sh->count[i], __ATOMIC_RELAXED);
}

/* A stretch sysmon preempts: @ns of computing, no call that could yield. */
static inline void csafe_compute(int64_t ns)
{
	volatile unsigned long spins = 0;
	int64_t end = now_ns() + ns;

	while (now_ns() < end)
		spins = spins + 1;
}

/* A stretch sysmon hands the P off in: a raw system call that sleeps. */
static inline void csafe_raw_sleep(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

	syscall(SYS_nanosleep, &ts, NULL);
}

/* The thread's id, from the kernel every time. */
static inline pid_t csafe_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Stretch @kind: 0 computes (a preemption), 1 sleeps raw (a handoff). */
enum { CSAFE_PREEMPT, CSAFE_HANDOFF, CSAFE_NKINDS };
static const char *const csafe_kind_name[CSAFE_NKINDS] = {
	"across a preemption", "across a handoff",
};

static inline void csafe_stretch(int kind)
{
	if (kind == CSAFE_PREEMPT)
		csafe_compute(CSAFE_COMPUTE_NS);
	else
		csafe_raw_sleep(CSAFE_SLEEP_NS);
}

/* Whether /dev/kgo has sysmon; exits with the TAP skip status if not. */
static inline void csafe_need_sysmon(int plan)
{
	struct kgo_version v;
	int fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	bool ok;

	memset(&v, 0, sizeof(v));	/* C++ too: no designated initializers */
	v.size = sizeof(v);
	ok = fd >= 0 && ioctl(fd, KGO_IOC_VERSION, &v) == 0 &&
	     (v.features & KGO_FEAT_SYSMON);

	if (fd >= 0)
		close(fd);
	if (ok)
		return;
	tap_plan(plan);
	for (int i = 0; i < plan; i++)
		tap_skip_case("csafe", "kgo.ko without sysmon (or no /dev/kgo)");
	exit(tap_done());
}

/* ---- one round: n goroutines under one kgo_main */

static void (*csafe_body)(int id);
static int csafe_n;
static struct kgo_sema csafe_done;

static void csafe_worker(void *arg)
{
	csafe_body((int)(intptr_t)arg);
	__atomic_fetch_add(&csafe_sh->finished, 1, __ATOMIC_RELAXED);
	kgo_sema_release(&csafe_done);
}

static void csafe_main_g(void *arg)
{
	struct kgo_stats_user st0, st1;

	(void)arg;
	memset(&st0, 0, sizeof(st0));
	memset(&st1, 0, sizeof(st1));
	kgo_stats(&st0);
	for (int i = 0; i < csafe_n; i++)
		kgo_go(csafe_worker, (void *)(intptr_t)i);
	for (int i = 0; i < csafe_n; i++)
		kgo_sema_acquire(&csafe_done);
	kgo_stats(&st1);
	csafe_sh->preempts = st1.preempts - st0.preempts;
	csafe_sh->handoffs = st1.handoffs - st0.handoffs;
}

/* In the child: @n goroutines run @body(0..n-1) under one kgo_main. */
static inline int csafe_round(void (*body)(int id), int n)
{
	struct kgo_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nprocs = CSAFE_NPROCS;
	cfg.slice_ns = KGO_SLICE_MIN;
	if (getenv("CSAFE_COOPERATIVE"))
		cfg.flags = KGO_COOPERATIVE;
	csafe_body = body;
	csafe_n = n;
	kgo_sema_init(&csafe_done, 0);
	csafe_sh->main_rc = kgo_main(csafe_main_g, NULL, &cfg);
	return csafe_sh->main_rc;
}

/*
 * Runs @child in a forked child (which should call csafe_round) and waits
 * at most @timeout_s seconds for it.  Returns NULL if it exited with status
 * 0, else why not (a static string, for the TAP lines).  csafe_sh is zeroed
 * before and holds the child's reports after.
 */
static inline const char *csafe_fork_run(void (*child)(void), int timeout_s)
{
	static char why[96];
	int64_t end = now_ns() + (int64_t)timeout_s * 1000000000;
	int status = 0;
	pid_t pid;

	if (!csafe_sh) {
		void *p = mmap(NULL, sizeof(*csafe_sh), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return "mmap failed";
		csafe_sh = (struct csafe_shared *)p;
	}
	memset(csafe_sh, 0, sizeof(*csafe_sh));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		alarm(0);
		child();
		fflush(stdout);
		_exit(0);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return "waitpid failed";
		if (now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, sizeof(why), "the round hung (killed after %d s)", timeout_s);
			return why;
		}
		usleep(20000);
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, sizeof(why), "the round died of signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
		return why;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(why, sizeof(why), "the round exited with status %d", WEXITSTATUS(status));
		return why;
	}
	return NULL;
}

/* A result that also fails, saying why, when its round did not end well. */
static inline void csafe_result(const char *died, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void csafe_result(const char *died, bool ok, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (died)
		tap_ok_fmt(false, "%s (%s)", line, died);
	else
		tap_ok_fmt(ok, "%s", line);
}

/* Round @r ended: kgo_main returned 0 and every goroutine finished. */
static inline void csafe_result_ended(const char *died, int r, int n)
{
	csafe_result(died, csafe_sh->main_rc == 0 && csafe_sh->finished == n,
		     "round %d ended: kgo_main returned %d, %d of %d goroutines finished",
		     r, csafe_sh->main_rc, csafe_sh->finished, n);
}

/*
 * The stretches did what they are there for: sysmon preempted goroutines
 * and handed Ps off (else the other results prove nothing).  @need_handoffs
 * false for a test with no raw sleeps.
 */
static inline void csafe_result_exercised(const char *died, bool need_handoffs)
{
	csafe_result(died, csafe_sh->preempts > 0 && (!need_handoffs || csafe_sh->handoffs > 0),
		     "sysmon preempted (%llu) and handed off (%llu) during the round",
		     (unsigned long long)csafe_sh->preempts,
		     (unsigned long long)csafe_sh->handoffs);
}

#endif /* KGO_TESTS_CSAFE_UTIL_H */
