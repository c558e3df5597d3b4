/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The worst cost one user can impose on another through sysmon, the one
 * kernel thread every instance shares (the threat model, docs/design.md).
 *
 * A "hostile" child becomes uid 65534 (unprivileged: the per-user limit
 * applies to it) and opens instances, each with a 1 ms slice
 * (SET_PREEMPT) and Ms that hold Ps (ATTACH_ACQUIRE_P) and spin forever
 * in state G, at SCHED_IDLE and in an idle cgroup (CG below: so that the
 * CPU they burn is no cost to the victim; what is measured is sysmon's),
 * plus Ms without a P, asleep.
 * A spinning M is sysmon's most expensive: running, over its slice, so
 * every pass looks at every ring of its instance for waiting work (there
 * is none, so it is never preempted and costs the same on every pass).
 * Two layouts (SPREAD_*, DENSE_*): every instance the limit allows (until
 * EMFILE), with a few Ps each; and two instances with max_procs Ps each.
 *
 * The "victim" is this process (root: another user) running kgo on 1 P:
 * a spinner and a 1 ms sleeper with the default 10 ms slice (as
 * sysmon_spin: the sleeper's lateness), and a ticker beside a G that
 * naps 5 ms at a time in a raw nanosleep (as sysmon_block: the longest
 * the ticker waits for a handoff).  Both first without the hostile load,
 * then with it; sysmon's passes (debugfs kgo/sysmon_*) are timed in each.
 *
 * Bounds: without the load, sysmon_spin's and sysmon_block's own; with
 * either layout, the same plus LOAD_NS (what PER_M_MAX_NS per hostile M
 * holding a P makes of sysmon's period); and what the load added to
 * sysmon's mean pass, per such M, at most PER_M_MAX_NS.  It prints each
 * phase's passes (count, mean, worst: the worst is wall time, and under
 * TCG a stopped vCPU makes it tens of ms even without a load).  Timing is judged against what the machine allowed
 * (timing_util.h).  Needs root (to open the device to uid 65534, and for
 * debugfs).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "dev_util.h"
#include "sysmon_util.h"
#include "timing_util.h"

#define HOSTILE_UID	65534
#define MAX_INSTS	256
/*
 * The hostile threads a 1 GiB, 2-vCPU guest holds with room to spare:
 * 512 (64 KiB stacks, 16 KiB kernel stacks).  Two layouts of about that
 * many: spread, max_instances_per_user x (4 Ps held + 4 Ms without);
 * dense, two instances of max_procs Ps (at most 256), every one held.
 * For a given number of threads dense is sysmon's worst: a running M
 * over its slice has every ring of its instance looked at.
 */
#define SPREAD_NP	4
#define SPREAD_IDLE	4
#define DENSE_INSTS	2
#define DENSE_NP_MAX	256
#define SPIN_LATE_NS	2000000		/* sysmon_spin's bound past the slice */
#define STALL_MAX_NS	6000000		/* sysmon_block's bound */
/*
 * sysmon's cost, per M holding a P, added to a pass (its mean), at most:
 * linear in those Ms, however they are spread over instances.  Measured
 * under TCG (stock 6.12, 2 vCPUs): 3.9 us (4.8 on a busier host) with 4
 * Ps per instance, 2.1 us with 256; 18 us with 256 before each pass
 * looked at the instance's rings once (it was once per M: quadratic).
 * Natively some 10-15x less.
 */
#define PER_M_MAX_NS	10000
/*
 * What the load may add to the victim's bounds: sysmon sleeps at least
 * KGO_SYSMON_DUTY (4) passes' time after a pass, and acting takes two
 * passes, so two periods of (1 + 4) passes of PER_M_MAX_NS per hostile M.
 */
#define LOAD_NS(nms)	(2 * 5 * (int64_t)(nms) * PER_M_MAX_NS)
#define RUN_NS		500000000	/* each victim run */
#define NAP_NS		50000000	/* as sysmon_block's napper */
#define DBG		"/sys/kernel/debug/kgo/"
/*
 * The hostile child's cgroup.  Its Ms spin at SCHED_IDLE so that the CPU
 * they burn is no cost to the victim, but a SCHED_IDLE thread is only a
 * weight of 3 (a nice-0 thread's is 1,024): 256 spinners on a CPU weigh
 * 768 together, and each takes its turn of up to a tick (4 ms) from the
 * victim's threads.  On stock 6.1 under TCG that made the dense layout's
 * worst victim latency 70-300 ms in about 1 run in 3, sysmon having
 * nothing to do with it.  In a cgroup marked idle (cpu.idle, Linux 5.15)
 * all the hostile threads together weigh what one SCHED_IDLE thread does.
 */
#define CG		"/tmp/kgo-cg-cost"
#define CG_HOSTILE	CG "/hostile"

/* What the hostile child reports once every M is in place. */
struct hostile_report {
	int opened, open_errno, setup_fails, ms_ok, ms_fail;
};

struct hostile_m {
	struct inst *in;
	bool hold_p;
};

static atomic_int hostile_ready, hostile_ok, hostile_fail;

static void *hostile_m_main(void *arg)
{
	struct hostile_m *hm = arg;
	struct kgo_attach a;

	if (attach(hm->in, hm->hold_p ? KGO_ATTACH_ACQUIRE_P : 0, &a)) {
		atomic_fetch_add(&hostile_fail, 1);
		atomic_fetch_add(&hostile_ready, 1);
		return NULL;
	}
	atomic_fetch_add(&hostile_ok, 1);
	if (hm->hold_p) {
		struct kgo_shared_m *slot = (struct kgo_shared_m *)
			((char *)hm->in->map + hm->in->s.m_off + (size_t)a.m * hm->in->s.m_stride);
		struct sched_param sp = { 0 };

		pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
		/* "In a G's own code": sysmon watches it as it would a G. */
		__atomic_store_n(&slot->state, KGO_MS_G, __ATOMIC_SEQ_CST);
		atomic_fetch_add(&hostile_ready, 1);
		for (volatile unsigned long n = 0;; n++)
			;
	}
	atomic_fetch_add(&hostile_ready, 1);
	for (;;)
		pause();
	return NULL;
}

/* One hostile instance: set up, a 1 ms slice, its Ms started. */
static int hostile_inst(struct inst *in, int fd, struct hostile_m *hms, int np, int nidle,
			int *nthreads)
{
	uintptr_t text = (uintptr_t)&hostile_inst & ~(uintptr_t)4095;
	struct kgo_preempt pc = {
		.size = sizeof(pc), .text_start = text, .text_end = text + 4096,
		.slice_ns = 1000000,
	};
	pthread_attr_t attr;

	memset(in, 0, sizeof(*in));
	in->fd = fd;
	in->s.size = sizeof(in->s);
	in->s.nprocs = (uint32_t)np;
	in->s.max_ms = (uint32_t)(np + nidle);
	if (xioctl(fd, KGO_IOC_SETUP, &in->s))
		return -1;
	in->map = mmap(NULL, in->s.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (in->map == MAP_FAILED || xioctl(fd, KGO_IOC_SET_PREEMPT, &pc))
		return -1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 65536);
	for (int i = 0; i < np + nidle; i++) {
		pthread_t t;

		hms[i] = (struct hostile_m){ in, i < np };
		if (pthread_create(&t, &attr, hostile_m_main, &hms[i]) == 0)
			++*nthreads;
	}
	pthread_attr_destroy(&attr);
	return 0;
}

/*
 * The hostile child: up to @ninst instances (one past the limit, to see
 * the EMFILE) of @np Ps held and @nidle Ms without.  Never returns:
 * killed by the parent.
 */
static void hostile_main(int ninst, int np, int nidle, int out)
{
	static struct inst ins[MAX_INSTS];
	static struct hostile_m hms[MAX_INSTS * 8];
	struct hostile_report r = { 0 };
	int nthreads = 0;

	if (setgid(HOSTILE_UID) || setuid(HOSTILE_UID))
		_exit(2);
	while (r.opened < ninst && r.opened < MAX_INSTS &&
	       (size_t)(r.opened + 1) * (size_t)(np + nidle) <= sizeof(hms) / sizeof(hms[0])) {
		int fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			r.open_errno = errno;
			break;
		}
		if (hostile_inst(&ins[r.opened], fd, &hms[r.opened * (np + nidle)], np, nidle,
				 &nthreads))
			r.setup_fails++;
		r.opened++;
	}
	while (atomic_load(&hostile_ready) < nthreads)
		usleep(10000);
	r.ms_ok = atomic_load(&hostile_ok);
	r.ms_fail = atomic_load(&hostile_fail) + (r.opened * (np + nidle) - nthreads);
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(3);
	for (;;)
		pause();
}

static int64_t read_u64(const char *name)
{
	char path[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), DBG "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* sysmon's passes over one phase. */
struct passes {
	int64_t n0, ns0, n, ns, worst;
};

static void passes_start(struct passes *p)
{
	file_write(DBG "sysmon_worst_pass_ns", "0");
	p->n0 = read_u64("sysmon_passes");
	p->ns0 = read_u64("sysmon_pass_ns");
}

static void passes_end(struct passes *p, const char *phase)
{
	p->n = read_u64("sysmon_passes") - p->n0;
	p->ns = read_u64("sysmon_pass_ns") - p->ns0;
	p->worst = read_u64("sysmon_worst_pass_ns");
	printf("# %s: sysmon made %lld passes, mean %.1f us, worst %.1f us\n", phase,
	       (long long)p->n, p->n > 0 ? p->ns / 1e3 / (double)p->n : 0.0, p->worst / 1e3);
}

/* The victim: a spinner and a 1 ms sleeper (sysmon_spin). */
static struct timing late, stall;
static struct spin_beside sb = { .late = &late, .run_ns = RUN_NS };

/* The victim: a ticker beside a G napping in raw nanosleep (sysmon_block). */
static atomic_bool stop;
static uint64_t handoffs;
static struct kgo_stats_user ticker_st;	/* at the ticker run's end */
static struct kgo_sema napped;

static void napper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct timespec ts = { 0, NAP_NS };

		syscall(SYS_nanosleep, &ts, NULL);
	}
	kgo_sema_release(&napped);
}

static void ticker(void *arg)
{
	struct kgo_stats_user st0;

	(void)arg;
	kgo_go(napper, NULL);
	kgo_yield();
	st0 = stats_now();
	tick_for(&stall, RUN_NS, NULL, NULL);
	ticker_st = stats_now();
	handoffs = ticker_st.handoffs - st0.handoffs;
	atomic_store(&stop, true);
	kgo_sema_acquire(&napped);
}

/* What a victim run's instance counted, for when a bound is missed. */
static void print_victim_stats(const char *phase, const char *run,
			       const struct kgo_stats_user *st)
{
	printf("# %s: %s run's instance: %u Ms (%u idle), %llu deferred preemptions, "
	       "%llu waits of a locked M (%llu started), %llu exitsyscalls, "
	       "%llu sysmon wakeps, %llu parks\n", phase, run, st->nms, st->nmidle,
	       (unsigned long long)st->preempt_deferrals,
	       (unsigned long long)st->lockedm_waits,
	       (unsigned long long)st->lockedm_starts,
	       (unsigned long long)st->exitsyscalls,
	       (unsigned long long)st->sysmon_wakeps, (unsigned long long)st->parks);
}

/* Both victim runs; whether they ran as they should. */
static bool victim(const char *phase, int64_t extra)
{
	struct kgo_config cfg = { .nprocs = 1 };
	uint64_t preempts;
	char what[160];
	int rc1, rc2;

	atomic_store(&sb.stop, false);
	sb.spins = 0;
	timing_init(&late, (int64_t)KGO_SLICE_DEFAULT + SPIN_LATE_NS + extra);
	probes_start();
	rc1 = kgo_main(spin_beside_main, &sb, &cfg);
	probes_stop();
	preempts = sb.end.preempts - sb.start.preempts;
	snprintf(what, sizeof(what), "%s: lateness of a 1 ms sleeper beside a spinner", phase);
	timing_verdict(&late, what);

	atomic_store(&stop, false);
	timing_init(&stall, STALL_MAX_NS + extra);
	probes_start();
	rc2 = kgo_main(ticker, NULL, &cfg);
	probes_stop();
	snprintf(what, sizeof(what), "%s: stall of a ticker by a G blocked in nanosleep", phase);
	timing_verdict(&stall, what);
	printf("# %s: kgo_main %d and %d, %llu preemptions, %llu handoffs\n", phase, rc1, rc2,
	       (unsigned long long)preempts, (unsigned long long)handoffs);
	print_victim_stats(phase, "sleeper", &sb.end);
	print_victim_stats(phase, "ticker", &ticker_st);
	return rc1 == 0 && rc2 == 0 && sb.spins > 0 && preempts > 0 && handoffs > 0;
}

static int read_param(const char *name)
{
	char path[128];
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "/sys/module/kgo/parameters/%s", name);
	f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/*
 * hostile_cgroup_make - the idle cgroup for the hostile child (CG_HOSTILE);
 * whether it is there.  Needs the cpu controller (CONFIG_CGROUP_SCHED).
 */
static bool hostile_cgroup_make(void)
{
	int err;

	mkdir(CG, 0755);
	if (mount("cgroup2", CG, "cgroup2", 0, NULL) && errno != EBUSY) {
		printf("# no cgroup2 (%s): the hostile threads compete for CPU at SCHED_IDLE's weight\n",
		       strerror(errno));
		return false;
	}
	file_write(CG "/cgroup.subtree_control", "+cpu");
	mkdir(CG_HOSTILE, 0755);
	err = file_write(CG_HOSTILE "/cpu.idle", "1");
	if (err) {
		printf("# no cpu.idle (%s): the hostile threads compete for CPU at SCHED_IDLE's weight\n",
		       strerror(-err));
		return false;
	}
	printf("# the hostile child runs in an idle cgroup (cpu.idle 1)\n");
	return true;
}

static void hostile_cgroup_remove(void)
{
	rmdir(CG_HOSTILE);
	umount(CG);
	rmdir(CG);
}

static bool hostile_in_cgroup;

/* The hostile child started; how it went, as the TAP line says. */
static pid_t hostile_start(const char *layout, int ninst, int np, int nidle, int want,
			   struct hostile_report *r)
{
	int fds[2], want_ms = want * (np + nidle);
	struct stat st;
	bool got;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(fds) || stat(KGO_DEVICE, &st))
		return -1;
	chmod(KGO_DEVICE, 0666);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		/* "0": the writer itself; before it gives up root. */
		if (hostile_in_cgroup && file_write(CG_HOSTILE "/cgroup.procs", "0"))
			_exit(4);
		hostile_main(ninst, np, nidle, fds[1]);
	}
	got = pid > 0 && read(fds[0], r, sizeof(*r)) == sizeof(*r);
	chmod(KGO_DEVICE, st.st_mode & 07777);
	close(fds[0]);
	close(fds[1]);
	tap_ok_fmt(got && r->opened == want && (ninst == want || r->open_errno == EMFILE) &&
		   !r->setup_fails && r->ms_ok == want_ms && !r->ms_fail,
		   "%s: uid %d has %d instances (wanted %d; then errno %d), %d Ms (%d of them"
		   " holding Ps, spinning), %d failed",
		   layout, HOSTILE_UID, r->opened, want, r->open_errno, r->ms_ok, r->opened * np,
		   r->ms_fail + r->setup_fails);
	usleep(200000);		/* every hostile M seen running past its slice */
	return pid;
}

static void hostile_stop(pid_t pid)
{
	int status;

	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	usleep(200000);		/* the instances' release is asynchronous */
}

/* Under one hostile layout: the victim, and sysmon's passes. */
static bool loaded_phase(const char *layout, int ninst, int np, int nidle, int want,
			 const struct passes *quiet)
{
	int64_t per_m_max = debug_kernel() ? PER_M_MAX_NS * DEBUG_WIDEN : PER_M_MAX_NS;
	struct hostile_report r;
	double per_m = 1e18;	/* no passes counted: fails */
	struct passes pa;
	pid_t pid = hostile_start(layout, ninst, np, nidle, want, &r);
	bool ran;

	passes_start(&pa);
	ran = victim(layout, LOAD_NS(want * np));
	passes_end(&pa, layout);
	hostile_stop(pid);
	if (quiet->n > 0 && pa.n > 0 && r.opened > 0) {
		double extra = pa.ns / (double)pa.n - quiet->ns / (double)quiet->n;

		per_m = extra / (r.opened * np);
		printf("# %s: the load added %.1f us to a pass\n", layout, extra / 1e3);
	}
	tap_ok_fmt(per_m <= (double)per_m_max,
		   "%s: sysmon's passes grew by %.0f ns per M holding a P (<= %.0f ns)",
		   layout, per_m, (double)per_m_max);
	return ran;
}

#define PLAN	12

int main(void)
{
	int limit = read_param("max_instances_per_user"), max_procs = read_param("max_procs");
	int dense_np = max_procs < DENSE_NP_MAX ? max_procs : DENSE_NP_MAX;
	struct passes quiet;
	bool ran = true;

	need_sysmon(PLAN);
	tap_watchdog(900);
	tap_plan(PLAN);
	if (geteuid() != 0 || limit < 1 || limit > MAX_INSTS - 1 || max_procs < 1 ||
	    read_u64("sysmon_passes") < 0) {
		for (int i = 0; i < PLAN; i++)
			tap_missing("sysmon's cost",
				    "root, max_instances_per_user in 1..255 and debugfs kgo/sysmon_*");
		return tap_done();
	}
	printf("# max_instances_per_user %d, max_procs %d\n", limit, max_procs);
	hostile_in_cgroup = hostile_cgroup_make();

	passes_start(&quiet);
	ran &= victim("no load", 0);
	passes_end(&quiet, "no load");
	tap_ok_fmt(quiet.n > 0 && quiet.ns > 0 && quiet.worst > 0,
		   "debugfs counted sysmon's passes while the victim ran alone (%lld, %lld ns)",
		   (long long)quiet.n, (long long)quiet.ns);
	ran &= loaded_phase("spread", limit + 1, SPREAD_NP, SPREAD_IDLE, limit, &quiet);
	ran &= loaded_phase("dense", DENSE_INSTS, dense_np, 0, DENSE_INSTS, &quiet);
	tap_ok(ran, "the victim's runs returned 0, with preemptions and handoffs");
	hostile_cgroup_remove();
	return tap_done();
}
