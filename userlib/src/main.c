/* SPDX-License-Identifier: MIT */
/*
 * Start-up and teardown of a scheduler instance (Go's rt0_go and the end
 * of runtime.main), and the calls about the instance as a whole:
 * kgo_main, kgo_nprocs, kgo_set_nprocs, kgo_stats.
 *
 * kgo_main: open the device, check its features, SETUP nprocs Ps
 * (max_procs = max(nprocs, online CPUs) so that kgo_set_nprocs can grow)
 * and up to KGO_MAX_MS M slots, mmap the shared region where SETUP says,
 * tell sysmon where the preemption trampoline and the library's code are
 * and the time slice (SET_PREEMPT), make the calling thread M0 holding
 * P0, put the main G in P0's runnext, start nprocs more Ms (idle, asleep
 * in the module: an idle P always finds an M, with one to spare) and the
 * spare-M spawner, and run M0's g0 loop.  When the main G ends, every M
 * stops (SHUTDOWN wakes the sleeping ones and the spawner), M0 joins them
 * and frees everything.  An M blocked in a system call is joined when the
 * call returns: kgo_main waits for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* The most Ms (threads) an instance asks for; kgo.ko's max_ms may say fewer. */
#define KGO_MAX_MS	1024

/*
 * kgo_rt.lock guards the global free list of Gs, which Ms on different Ps
 * take from and give to in batches of 32 while goroutines are created and
 * end: held for a few dozen instructions, often contended.  An adaptive
 * mutex spins briefly before sleeping in futex(2).
 */
struct kgo_rt kgo_rt = {
	.fd = -1,
	.lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
	.mlock = PTHREAD_MUTEX_INITIALIZER,
};

/* Only one kgo_main at a time in a process. */
static pthread_mutex_t kgo_main_lock = PTHREAD_MUTEX_INITIALIZER;
static bool kgo_main_busy;

static int kgo_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

/* @err, after saying why on stderr if $KGO_DEBUG asks. */
static int kgo_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int kgo_err(int err, const char *fmt, ...)
{
	va_list ap;

	if (!kgo_debug())
		return err;
	fputs("kgo: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return err;
}

/* GOMAXPROCS: the config, else $KGO_MAXPROCS, else the online CPUs. */
static int kgo_pick_nprocs(const struct kgo_config *cfg, int *nprocs)
{
	const char *env = getenv("KGO_MAXPROCS");

	if (cfg && cfg->nprocs < 0)
		return kgo_err(-EINVAL, "nprocs %d is negative", cfg->nprocs);
	if (cfg && cfg->nprocs > 0) {
		*nprocs = cfg->nprocs;
	} else if (env && *env) {
		char *end;
		long n;

		errno = 0;
		n = strtol(env, &end, 10);
		if (errno || *end || n < 1 || n > 65536)
			return kgo_err(-EINVAL, "KGO_MAXPROCS=%s is not a number of Ps", env);
		*nprocs = (int)n;
	} else {
		*nprocs = kgo_online_cpus();
	}
	return 0;
}

/*
 * The time slice: the config, else $KGO_SLICE_MS (milliseconds, or "off"),
 * else KGO_SLICE_DEFAULT.  *slice_ns = 0 means no slice preemption.
 */
static int kgo_pick_slice(const struct kgo_config *cfg, uint64_t *slice_ns)
{
	const char *env = getenv("KGO_SLICE_MS");
	uint64_t v = cfg ? cfg->slice_ns : 0;

	if (!v && env && *env) {
		char *end;
		long ms;

		errno = 0;
		ms = strtol(env, &end, 10);
		if (!strcmp(env, "off"))
			v = KGO_SLICE_OFF;
		else if (errno || *end || ms < 1 || ms > 3600 * 1000)
			return kgo_err(-EINVAL, "KGO_SLICE_MS=%s is not a number of milliseconds (or off)",
				       env);
		else
			v = (uint64_t)ms * 1000000;
	}
	if (!v)
		v = KGO_SLICE_DEFAULT;
	if (v == KGO_SLICE_OFF) {
		*slice_ns = 0;
		return 0;
	}
	if (v < KGO_SLICE_MIN)
		return kgo_err(-EINVAL, "a time slice of %llu ns is shorter than the %llu ns minimum",
			       (unsigned long long)v, (unsigned long long)KGO_SLICE_MIN);
	*slice_ns = v;
	return 0;
}

/*
 * kgo_join - wait for @m's thread to end.  After a few seconds, say once
 * why kgo_main is not returning: most likely a goroutine blocked in a
 * system call that nothing will end.
 */
static void kgo_join(struct kgo_m *m)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	if (pthread_timedjoin_np(m->thread, NULL, &ts) == 0)
		return;
	kgo_warn("kgo_main is waiting for M %u: a goroutine blocked in a system call?", m->id);
	pthread_join(m->thread, NULL);
}

/* kgo_rt's per-instance fields back to "no instance" (nothing freed). */
static void kgo_rt_clear(void)
{
	kgo_rt.fd = -1;
	kgo_rt.region = NULL;
	kgo_rt.ss = NULL;
	kgo_rt.pbase = NULL;
	kgo_rt.ps = NULL;
	kgo_rt.ms = NULL;
	kgo_rt.nms = kgo_rt.ms_cap = 0;
	atomic_store_explicit(&kgo_rt.ms_attaching, 0, memory_order_relaxed);
	kgo_rt.mbase = NULL;
	kgo_rt.mstride = 0;
	kgo_rt.max_ms = 0;
	kgo_rt.sysmon = false;
	kgo_rt.slice_ns = 0;
	kgo_rt.allg = NULL;
	kgo_rt.gfree = NULL;
	atomic_store(&kgo_rt.ngfree, 0);
	kgo_rt.main_g = NULL;
	atomic_store(&kgo_rt.goidgen, 0);
	atomic_store(&kgo_rt.ngoroutines, 0);
	atomic_store(&kgo_rt.exiting, false);
}

/* Frees whatever start-up got to, in reverse.  M0's thread, no M running. */
static void kgo_teardown(struct kgo_m *m0, const stack_t *old_ss)
{
	uint32_t i;

	kgo_schedtrace_stop();
	atomic_store(&kgo_rt.active, false);
	/* First the spawner, which starts no M once exiting is set. */
	kgo_spawner_join();
	/*
	 * Every other M has seen exiting or -ESHUTDOWN by now, or will at
	 * its next schedule; one blocked in a system call when the call
	 * returns.
	 */
	for (i = 1;; i++) {
		struct kgo_m *m;

		pthread_mutex_lock(&kgo_rt.mlock);
		m = i < kgo_rt.nms ? kgo_rt.ms[i] : NULL;
		pthread_mutex_unlock(&kgo_rt.mlock);
		if (!m)
			break;
		kgo_join(m);
		free(m);
	}
	/* No goroutine runs now; the poller may still hold their records. */
	kgo_poller_stop();
	kgo_overflow_reset();
	kgo_ctx_graveyard_drain();
	if (m0) {
		kgo_altstack_off(m0);
		if (old_ss && !(old_ss->ss_flags & SS_DISABLE))
			sigaltstack(old_ss, NULL);
		free(m0);
	}
	kgo_setm(NULL);
	kgo_signals_restore();
	kgo_scavenger_stop();
	kgo_stacks_free();
	free(kgo_rt.ps);
	free(kgo_rt.ms);
	if (kgo_rt.region)
		munmap(kgo_rt.region, kgo_rt.region_size);
	if (kgo_rt.fd >= 0)
		close(kgo_rt.fd);
	kgo_rt_clear();
}

/*
 * What libkgo cannot do without; KGO_FEAT_SYSMON and KGO_FEAT_STACKMAP it
 * uses when they are there.  SET_NPROCS (KGO_FEAT_PROCRESIZE) is only
 * for kgo_set_nprocs.
 */
#define KGO_FEAT_NEEDED	(KGO_FEAT_SHARED_RUNQ | KGO_FEAT_SIZED_ARGS)

/*
 * VERSION as kgo.ko answered it before sized arguments: a 32-byte _IOR,
 * major, minor and patch first.  Asked only when the sized VERSION is
 * ENOTTY, to tell an older kgo.ko (which lacks KGO_FEAT_SIZED_ARGS) from
 * a device that is not kgo's at all; a newer module refuses it (ENOTTY).
 */
#define KGO_IOC_VERSION_UNSIZED	_IOR(KGO_IOC_MAGIC, 0x00, uint32_t[8])

/*
 * Open the device and check that it has the features libkgo needs: by
 * feature bits, never by version number.
 */
static int kgo_open(const struct kgo_config *cfg, struct kgo_version *v)
{
	const char *dev = cfg && cfg->device ? cfg->device : getenv("KGO_DEVICE");
	int err;

	if (!dev || !*dev)
		dev = KGO_DEVICE;
	kgo_rt.fd = open(dev, O_RDWR | O_CLOEXEC);
	if (kgo_rt.fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return kgo_err(err, "%s not found: is kgo.ko loaded?", dev);
		return kgo_err(err, "cannot open %s: %s", dev, strerror(-err));
	}
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	err = kgo_ioctl(KGO_IOC_VERSION, v);
	if (err == -ENOTTY) {
		uint32_t old[8] = { 0 };

		if (!kgo_ioctl(KGO_IOC_VERSION_UNSIZED, old))
			return kgo_err(-EPROTO, "%s is kgo.ko %u.%u.%u, which lacks sized ioctl "
				       "arguments (KGO_FEAT_SIZED_ARGS): libkgo needs a newer one",
				       dev, old[0], old[1], old[2]);
	}
	if (err)
		return kgo_err(err, "%s: VERSION failed: %s (is it kgo.ko's device?)",
			       dev, strerror(-err));
	if ((v->features & KGO_FEAT_NEEDED) != KGO_FEAT_NEEDED)
		return kgo_err(-EPROTO, "%s (kgo.ko %u.%u.%u) lacks features %#x libkgo needs",
			       dev, v->major, v->minor, v->patch,
			       KGO_FEAT_NEEDED & ~v->features);
	if (v->ring_size != KGO_RING_SIZE)
		return kgo_err(-EPROTO, "%s has %u-slot rings, libkgo %u", dev, v->ring_size,
			       KGO_RING_SIZE);
	kgo_rt.features = v->features;
	return 0;
}

/* SETUP and mmap. */
static int kgo_setup(int nprocs, const struct kgo_version *v)
{
	int online = kgo_online_cpus();
	struct kgo_setup s = { .size = sizeof(s) };
	uint32_t max;
	void *region;
	int err;

	if ((uint32_t)nprocs > v->max_procs)
		return kgo_err(-EINVAL, "%d Ps asked for, kgo.ko allows %u (its max_procs parameter)",
			       nprocs, v->max_procs);
	if ((uint32_t)nprocs + 1 > v->max_ms)
		return kgo_err(-EINVAL, "%d Ps need %d Ms, kgo.ko allows %u (its max_ms parameter)",
			       nprocs, nprocs + 1, v->max_ms);
	max = (uint32_t)(nprocs > online ? nprocs : online);
	if (max > v->max_procs)
		max = v->max_procs;
	if (max + 1 > v->max_ms)
		max = v->max_ms - 1;
	s.nprocs = (uint32_t)nprocs;
	s.max_procs = max;
	if (kgo_rt.sysmon)
		s.max_ms = v->max_ms < KGO_MAX_MS ? v->max_ms : KGO_MAX_MS;
	err = kgo_ioctl(KGO_IOC_SETUP, &s);
	if (err)
		return kgo_err(err, "SETUP of %d Ps failed: %s", nprocs, strerror(-err));
	if (s.ring_size != KGO_RING_SIZE || s.p_stride < sizeof(struct kgo_shared_p) ||
	    s.sched_off + sizeof(struct kgo_shared_sched) > s.map_size ||
	    s.p_off + (uint64_t)s.max_procs * s.p_stride > s.map_size ||
	    s.sched_off % 64 || s.p_off % 64 || s.p_stride % 64 ||
	    (kgo_rt.sysmon && (s.max_ms < max + 1 || s.m_stride < sizeof(struct kgo_shared_m) ||
			       s.m_off % 8 || s.m_stride % 8 ||
			       s.m_off + (uint64_t)s.max_ms * s.m_stride > s.map_size)))
		return kgo_err(-EPROTO, "SETUP returned a layout libkgo does not understand");
	region = mmap(NULL, s.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, kgo_rt.fd, 0);
	if (region == MAP_FAILED) {
		err = -errno;
		return kgo_err(err, "mmap of the shared region failed: %s", strerror(-err));
	}
	kgo_rt.region = region;
	kgo_rt.region_size = s.map_size;
	kgo_rt.ss = (struct kgo_shared_sched *)((char *)region + s.sched_off);
	kgo_rt.pbase = (char *)region + s.p_off;
	kgo_rt.pstride = s.p_stride;
	kgo_rt.max_procs = s.max_procs;
	if (kgo_rt.sysmon) {
		kgo_rt.mbase = (char *)region + s.m_off;
		kgo_rt.mstride = s.m_stride;
		kgo_rt.max_ms = s.max_ms;
	} else {
		/* Ms only for the Ps and one spare, as nothing blocks them out. */
		kgo_rt.max_ms = s.max_procs + 1;
	}
	kgo_rt.ps = aligned_alloc(64, sizeof(struct kgo_pstate) * s.max_procs);
	kgo_rt.ms = calloc(kgo_rt.max_ms, sizeof(*kgo_rt.ms));
	if (!kgo_rt.ps || !kgo_rt.ms)
		return kgo_err(-ENOMEM, "out of memory");
	memset(kgo_rt.ps, 0, sizeof(struct kgo_pstate) * s.max_procs);
	kgo_rt.ms_cap = kgo_rt.max_ms;
	return 0;
}

static int kgo_check_config(const struct kgo_config *cfg)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = cfg && cfg->stack_size ? cfg->stack_size : KGO_STACK_DEFAULT;
	unsigned int i;

	if (page <= 0)
		page = 4096;
	for (i = 0; cfg && i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return kgo_err(-EINVAL, "kgo_config.reserved must be zero");
	if (cfg && (cfg->flags & ~KGO_COOPERATIVE))
		return kgo_err(-EINVAL, "kgo_config.flags %#lx has unknown bits", cfg->flags);
	if (size < KGO_STACK_MIN || size > KGO_STACK_MAX)
		return kgo_err(-EINVAL, "stack size %zu is outside %d..%zu bytes",
			       size, KGO_STACK_MIN, KGO_STACK_MAX);
	kgo_rt.guard_size = (size_t)page * KGO_GUARD_PAGES;
	kgo_rt.stack_asked = size;
	kgo_rt.stack_size = kgo_stack_round(size);
	return 0;
}

/* Start-up up to running M0's loop; undone by kgo_teardown. */
static int kgo_start(void (*fn)(void *), void *arg, const struct kgo_config *cfg,
		     struct kgo_m **m0p)
{
	struct kgo_attach a = { .size = sizeof(a), .flags = KGO_ATTACH_ACQUIRE_P };
	struct kgo_version v;
	struct kgo_m *m0;
	int nprocs = 0, err, i;

	if (!fn)
		return kgo_err(-EINVAL, "kgo_main needs a function");
	err = kgo_check_config(cfg);
	if (!err)
		err = kgo_pick_nprocs(cfg, &nprocs);
	if (!err)
		err = kgo_pick_slice(cfg, &kgo_rt.slice_ns);
	if (!err)
		err = kgo_open(cfg, &v);
	if (!err) {
		kgo_rt.sysmon = (v.features & KGO_FEAT_SYSMON) &&
				!(cfg && (cfg->flags & KGO_COOPERATIVE));
		err = kgo_setup(nprocs, &v);
	}
	if (!err && kgo_rt.sysmon)
		err = kgo_preempt_setup();
	if (err)
		return err;

	err = kgo_poller_start();
	if (err)
		return kgo_err(err, "cannot start the poller thread: %s", strerror(-err));
	err = kgo_scavenger_start();
	if (err)
		return kgo_err(err, "cannot start the stack scavenger: %s", strerror(-err));
	err = kgo_signals_install();
	if (err)
		return kgo_err(err, "cannot install the SIGSEGV handler: %s", strerror(-err));
	m0 = kgo_allocm();
	if (!m0)
		return kgo_err(-ENOMEM, "out of memory");
	*m0p = m0;
	m0->is_m0 = true;
	m0->thread = pthread_self();
	kgo_rt.ms[kgo_rt.nms++] = m0;
	err = kgo_altstack_on(m0);
	if (err)
		return kgo_err(err, "cannot set up a signal stack: %s", strerror(-err));
	kgo_setm(m0);
	err = kgo_ioctl(KGO_IOC_ATTACH, &a);
	if (err)
		return kgo_err(err, "ATTACH of the first M failed: %s", strerror(-err));
	if (a.p >= kgo_rt.max_procs)
		return kgo_err(-EPROTO, "ATTACH gave the first M no P");
	m0->id = a.m;
	m0->attached = true;
	kgo_bind_slot(m0);
	m0->pid = a.p;
	m0->p = kgo_shared_p(a.p);

	atomic_store_explicit(&kgo_rt.active, true, memory_order_release);
	kgo_rt.main_g = kgo_newg(m0, fn, arg, NULL, 0, 0, &err);
	if (!kgo_rt.main_g)
		return kgo_err(err, "cannot allocate the main goroutine's stack: %s",
			       strerror(-err));
	err = kgo_runqput_m(m0, kgo_rt.main_g, true, NULL);
	if (err)
		return kgo_err(err, "cannot queue the main goroutine: %s", strerror(-err));
	for (i = 0; i < nprocs; i++) {
		err = kgo_newm();
		if (err)
			return kgo_err(err, "cannot start an M thread: %s", strerror(-err));
	}
	if (kgo_rt.sysmon) {
		kgo_newm_wait_attached();
		err = kgo_spawner_start();
		if (err)
			return kgo_err(err, "cannot start the spare-M spawner: %s", strerror(-err));
	}
	kgo_schedtrace_start();
	return 0;
}

int kgo_main(void (*fn)(void *), void *arg, const struct kgo_config *cfg)
{
	struct kgo_m *m0 = NULL;
	stack_t old_ss;
	int err;

	pthread_mutex_lock(&kgo_main_lock);
	if (kgo_main_busy) {
		pthread_mutex_unlock(&kgo_main_lock);
		return kgo_err(-EBUSY, "kgo_main is already running in this process");
	}
	kgo_main_busy = true;
	pthread_mutex_unlock(&kgo_main_lock);
	kgo_fork_init();
	kgo_rt.forked_child = false;

	if (sigaltstack(NULL, &old_ss))
		old_ss.ss_flags = SS_DISABLE;
	err = kgo_start(fn, arg, cfg, &m0);
	if (!err) {
		kgo_mloop(m0);
	} else if (kgo_rt.ss && !atomic_load(&kgo_rt.exiting)) {
		/* Wake the Ms already started, so they can be joined. */
		atomic_store(&kgo_rt.exiting, true);
		kgo_ioctl(KGO_IOC_SHUTDOWN, NULL);
	}
	kgo_teardown(m0, &old_ss);

	pthread_mutex_lock(&kgo_main_lock);
	kgo_main_busy = false;
	pthread_mutex_unlock(&kgo_main_lock);
	return err;
}

/*
 * In a fork's child: forget the parent's instance without touching it.
 * The threads are gone; the device fd and the shared region are the
 * parent's (the module's instance stays the parent's), so they are only
 * closed and unmapped here; the memory of Ms, Gs and stacks is leaked.
 */
void kgo_rt_forget_after_fork(void)
{
	pthread_mutex_t fresh_adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	kgo_setm(NULL);
	kgo_rt.lock = fresh_adaptive;
	kgo_rt.mlock = fresh;
	kgo_main_lock = fresh;
	kgo_main_busy = false;
	if (kgo_rt.region)
		munmap(kgo_rt.region, kgo_rt.region_size);
	if (kgo_rt.fd >= 0)
		close(kgo_rt.fd);
	kgo_rt_clear();
	kgo_rt.spawner_started = false;
	atomic_store(&kgo_rt.active, false);
	atomic_store(&kgo_rt.exiting, false);
	kgo_rt.forked_child = true;
}

int kgo_nprocs(void)
{
	if (!atomic_load_explicit(&kgo_rt.active, memory_order_acquire))
		return 0;
	return (int)__atomic_load_n(&kgo_rt.ss->nprocs, __ATOMIC_RELAXED);
}

/*
 * An M for every one of @n Ps, and one spare.  Outside the library: M
 * threads are made with malloc's locks (kgo_rt.mlock says why).
 */
static int kgo_set_nprocs_ms(int n)
{
	int err;

	for (;;) {
		uint32_t have;

		pthread_mutex_lock(&kgo_rt.mlock);
		have = kgo_rt.nms;
		pthread_mutex_unlock(&kgo_rt.mlock);
		if (have >= (uint32_t)n + 1)
			return 0;
		err = kgo_newm();
		if (err)
			return err == -ESHUTDOWN ? 0 : err;
	}
}

int kgo_set_nprocs(int n)
{
	bool entered;
	int err;

	if (!atomic_load_explicit(&kgo_rt.active, memory_order_acquire))
		return kgo_no_instance();
	if (n < 1 || (uint32_t)n > kgo_rt.max_procs)
		return -EINVAL;
	if (!(kgo_rt.features & KGO_FEAT_PROCRESIZE))
		return -EOPNOTSUPP;
	entered = kgo_enter(true);
	err = kgo_ioctl(KGO_IOC_SET_NPROCS, &(uint32_t){ (uint32_t)n });
	kgo_leave(entered);
	return err ? err : kgo_set_nprocs_ms(n);
}

int kgo_stats(struct kgo_stats_user *st)
{
	struct kgo_stats k = { .size = sizeof(k) };
	int err;

	if (!atomic_load_explicit(&kgo_rt.active, memory_order_acquire))
		return kgo_no_instance();
	err = kgo_ioctl(KGO_IOC_STATS, &k);
	if (err)
		return err;
	st->nprocs = k.nprocs;
	st->npidle = k.npidle;
	st->nms = k.nms;
	st->nmidle = k.nmidle;
	st->nmspinning = k.nmspinning;
	st->gq_len = k.gq_len;
	st->parks = k.parks;
	st->wakeups = k.wakeups;
	st->steals = k.steals;
	st->stolen = k.stolen;
	st->gq_puts = k.gq_puts;
	st->gq_gets = k.gq_gets;
	st->readies = k.readies;
	st->ioctls = k.ioctls;
	st->handoffs = k.handoffs;
	st->preempts = k.preempts;
	st->exitsyscalls = k.exitsyscalls;
	st->sysmon_wakeps = k.sysmon_wakeps;
	st->preempt_deferrals = k.preempt_deferrals;
	st->lockedm_waits = k.lockedm_waits;
	st->lockedm_starts = k.lockedm_starts;
	return 0;
}
