// SPDX-License-Identifier: GPL-2.0
/*
 * A fuzzer for /dev/kgo: random ioctl commands, sizes and argument
 * pointers (NULL, kernel addresses, unmapped, read-only, valid pages of
 * random bytes, structs straddling an unmapped page), sized arguments of
 * every size class (under VER0, an older layout, larger with a zero tail,
 * larger with a non-zero one, a size field that disagrees) and random mmaps,
 * on instances in every state, while legitimate Ms park, steal, ready,
 * spill full rings (RUNQPUTSLOW) and block "in a G" so that sysmon hands
 * their Ps off, SET_NPROCS shrinks and grows instance 0, state flippers
 * move every M slot's state between LIB, G and LOST as fast as they can
 * (the handshake sysmon's handoff asks through), and garbage writers
 * scribble over the whole shared region.
 *
 * Every failed call must fail with one of the errnos docs/design.md
 * documents; the kernel must not splat, hang or leak (the harness checks
 * the kernel log and kmemleak after the run).
 *
 *   fuzz_ioctl [CALLS [SEED]]      default 50000 calls, seed from time
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "dev_util.h"
#include "tap.h"

#define NINST		6
#define NWORKERS	3
#define NSCRIBBLERS	2
#define NFLIPPERS	2
#define MAX_PROCS0	4	/* instance 0: nprocs moves within 1..4 */

static const unsigned long cmds[] = {
	KGO_IOC_VERSION, KGO_IOC_SETUP, KGO_IOC_ATTACH, KGO_IOC_DETACH,
	KGO_IOC_PARK, KGO_IOC_READY, KGO_IOC_WAKEP, KGO_IOC_RUNQPUTSLOW,
	KGO_IOC_GLOBRUNQGET, KGO_IOC_STEAL, KGO_IOC_SET_NPROCS, KGO_IOC_STATS,
	KGO_IOC_SHUTDOWN, KGO_IOC_SET_PREEMPT, KGO_IOC_WANTM, KGO_IOC_STACKMAP,
};

/* The commands with a sized struct: the module's size and its VER0. */
static const struct sized {
	unsigned long cmd;
	uint32_t ver0;
} sized[] = {
	{ KGO_IOC_VERSION, KGO_VERSION_SIZE_VER0 },
	{ KGO_IOC_SETUP, KGO_SETUP_SIZE_VER0 },
	{ KGO_IOC_ATTACH, KGO_ATTACH_SIZE_VER0 },
	{ KGO_IOC_PARK, KGO_PARK_SIZE_VER0 },
	{ KGO_IOC_READY, KGO_READY_SIZE_VER0 },
	{ KGO_IOC_RUNQPUTSLOW, KGO_READY_SIZE_VER0 },
	{ KGO_IOC_GLOBRUNQGET, KGO_PARK_SIZE_VER0 },
	{ KGO_IOC_STEAL, KGO_PARK_SIZE_VER0 },
	{ KGO_IOC_STATS, KGO_STATS_SIZE_VER0 },
	{ KGO_IOC_SET_PREEMPT, KGO_PREEMPT_SIZE_VER0 },
	{ KGO_IOC_STACKMAP, KGO_STACKMAP_SIZE_VER0 },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The errnos docs/design.md lists for /dev/kgo. */
static bool documented(int e)
{
	switch (e) {
	case EPERM: case EBADFD: case EINVAL: case EEXIST: case ESRCH:
	case EBADSLT: case EBUSY: case EUSERS: case ENOSPC: case EAGAIN:
	case ETIMEDOUT: case ESHUTDOWN: case ENOTTY: case EFAULT: case ENOMEM:
	case EINTR: case E2BIG:
		return true;
	}
	return false;
}

struct slot {
	pthread_mutex_t lock;
	int fd;
	void *map;
	size_t map_size;
	/* instance 0's layout, for its workers and flippers */
	uint32_t p_off, p_stride, m_off, m_stride, max_ms;
};

static struct slot slots[NINST];
static atomic_bool stop;
static atomic_ulong bad_errno, calls_done, ok_calls, sleeps;
static int bad_cmd_seen;
static unsigned long bad_cmd_val, bad_cmd_errno;
static char *page_ro, *page_rw, *page_edge;
static long pagesz;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* (Re)creates instance @i in a random state: raw, set up, mapped. */
static void slot_reset(struct slot *sl, uint64_t *seed)
{
	struct kgo_setup s = { .size = sizeof(s) };
	unsigned long cmd = KGO_IOC_SETUP;

	if (sl->map)
		munmap(sl->map, sl->map_size);
	if (sl->fd >= 0)
		close(sl->fd);
	sl->map = NULL;
	sl->fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	if (sl->fd < 0 || rnd(seed) % 4 == 0)
		return;
	s.nprocs = 1 + rnd(seed) % 4;
	s.gq_limit = rnd(seed) % 2 ? 0 : 1 + rnd(seed) % 300;
	s.max_ms = rnd(seed) % 2 ? 0 : 1 + rnd(seed) % 16;
	if (rnd(seed) % 4 == 0) {
		/* An older caller: the first layout, default M slots. */
		s.size = KGO_SETUP_SIZE_VER0;
		s.max_ms = 0;
		cmd = KGO_IOC_SIZED(KGO_IOC_SETUP, KGO_SETUP_SIZE_VER0);
	}
	if (ioctl(sl->fd, cmd, &s))
		return;
	sl->map = mmap(NULL, s.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, sl->fd, 0);
	if (sl->map == MAP_FAILED)
		sl->map = NULL;
	else
		sl->map_size = s.map_size;
}

/* An argument pointer of a random kind. */
static void *fuzz_arg(uint64_t *seed, size_t size)
{
	size_t i;

	switch (rnd(seed) % 8) {
	case 0:
		return NULL;
	case 1:
		return (void *)0xffffffff81000000ul;	/* kernel text */
	case 2:
		return (void *)(uintptr_t)(rnd(seed) | 0x8000000000000000ull);
	case 3:
		return page_ro + rnd(seed) % 64;
	case 4:
		/* Straddles into the unmapped page after page_edge. */
		return page_edge + pagesz - (size ? 1 + rnd(seed) % size : 1);
	default:
		for (i = 0; i < 256; i += 8) {
			uint64_t v = rnd(seed);

			/* Small numbers now and then, so ids and counts hit. */
			if (v % 3 == 0)
				v %= 8;
			memcpy(page_rw + i, &v, 8);
		}
		return page_rw;
	}
}

/*
 * A sized command of a random size class, its struct in page_rw: random
 * fields (small numbers often), the size field mostly agreeing with the
 * number, and a tail past the module's struct that is zero or not.
 */
static unsigned long fuzz_sized(uint64_t *seed, void **arg)
{
	const struct sized *sz = &sized[rnd(seed) % NELEM(sized)];
	uint32_t ksize = _IOC_SIZE(sz->cmd), usize, i;
	bool tail_garbage = false;

	switch (rnd(seed) % 5) {
	case 0:
		usize = (uint32_t)(rnd(seed) % sz->ver0);	/* too small */
		break;
	case 1:
		usize = sz->ver0 + (uint32_t)(rnd(seed) % (ksize - sz->ver0 + 1));
		break;
	case 2:
		usize = ksize + 1 + (uint32_t)(rnd(seed) % 256);	/* zero tail */
		break;
	case 3:
		usize = ksize + 1 + (uint32_t)(rnd(seed) % 256);
		tail_garbage = true;
		break;
	default:
		usize = ksize;
	}
	memset(page_rw, 0, usize + sizeof(uint64_t));
	for (i = 0; i + 8 <= ksize && i + 8 <= usize; i += 8) {
		uint64_t v = rnd(seed);

		/* Zeroes mostly (the outs must be), small numbers sometimes. */
		v = v % 4 ? 0 : v % 3 ? v % 8 : v;
		memcpy(page_rw + i, &v, 8);
	}
	if (tail_garbage)
		page_rw[ksize + rnd(seed) % (usize - ksize)] = (char)(1 + rnd(seed) % 255);
	i = rnd(seed) % 8 ? usize : (uint32_t)rnd(seed) % 512;	/* the size field */
	if (usize >= sizeof(i))
		memcpy(page_rw, &i, sizeof(i));
	*arg = page_rw;
	return KGO_IOC_SIZED(sz->cmd, usize);
}

static void fuzz_one(uint64_t *seed)
{
	struct slot *sl = &slots[rnd(seed) % NINST];
	unsigned long cmd;
	size_t size;
	void *arg;
	int r, e;

	switch (rnd(seed) % 16) {
	case 0:
		/* Any number at all, our magic or not. */
		cmd = rnd(seed) & 0xffffffff;
		break;
	case 1:
		/* A known command with any size or direction. */
		cmd = cmds[rnd(seed) % NELEM(cmds)];
		cmd = KGO_IOC_SIZED(cmd, rnd(seed) % 512);
		if (rnd(seed) % 2)
			cmd ^= (unsigned long)(1 + rnd(seed) % 3) << _IOC_DIRSHIFT;
		break;
	case 2: case 3: case 4: case 5:
		cmd = fuzz_sized(seed, &arg);
		goto have_arg;
	default:
		cmd = cmds[rnd(seed) % NELEM(cmds)];
	}
	size = _IOC_SIZE(cmd);
	arg = fuzz_arg(seed, size);
	/* A random struct: most of the time with its size field right. */
	if (arg == page_rw && size >= sizeof(uint32_t) && rnd(seed) % 4) {
		uint32_t usize = (uint32_t)size;

		memcpy(page_rw, &usize, sizeof(usize));
	}
have_arg:
	/*
	 * A SET_PREEMPT that the kernel accepts would send this process's
	 * threads to whatever address it names: the process's own business,
	 * but it would end the fuzzing.  Its checks are still fuzzed, with no
	 * trampoline (and dev_basic tests the accepted cases).
	 */
	if (_IOC_NR(cmd) == _IOC_NR(KGO_IOC_SET_PREEMPT) && arg == page_rw)
		((struct kgo_preempt *)page_rw)->trampoline = 0;

	/*
	 * Instance 0 stays alive until the end: its Ms, handoffs and
	 * procresizes are what the concurrent threads exercise.
	 */
	if (sl == &slots[0] && cmd == KGO_IOC_SHUTDOWN)
		cmd = KGO_IOC_WAKEP;

	pthread_mutex_lock(&sl->lock);
	/* Instance 0 has workers and scribblers in it: never replaced. */
	if (sl != &slots[0] && rnd(seed) % 2000 == 0)
		slot_reset(sl, seed);
	if (rnd(seed) % 50 == 0) {
		/* A random mmap of this instance. */
		size_t len = (1 + rnd(seed) % 64) * pagesz;
		int prot = (int)(rnd(seed) % 8);
		void *p = mmap(NULL, len, prot, rnd(seed) % 2 ? MAP_SHARED : MAP_PRIVATE,
			       sl->fd, (off_t)(rnd(seed) % 3) * pagesz);

		if (p != MAP_FAILED) {
			if (prot & PROT_WRITE)
				((volatile char *)p)[0] = 1;
			else if (prot & PROT_READ)
				(void)((volatile char *)p)[0];
			munmap(p, len);
		}
	}
	r = ioctl(sl->fd, cmd, arg);
	e = errno;
	pthread_mutex_unlock(&sl->lock);
	atomic_fetch_add(&calls_done, 1);
	if (r == 0 || r > 0) {
		atomic_fetch_add(&ok_calls, 1);
	} else if (!documented(e)) {
		atomic_fetch_add(&bad_errno, 1);
		if (!bad_cmd_seen++) {
			bad_cmd_val = cmd;
			bad_cmd_errno = e;
		}
	}
}

static struct kgo_shared_m *slot_m(struct slot *sl, uint32_t id)
{
	return (struct kgo_shared_m *)((char *)sl->map + slots[0].m_off + (size_t)id * slots[0].m_stride);
}

static struct kgo_shared_p *slot_p(struct slot *sl, uint32_t id)
{
	return (struct kgo_shared_p *)((char *)sl->map + slots[0].p_off + (size_t)id * slots[0].p_stride);
}

/*
 * Fills the ring of the P this M holds (as the library's runqput would,
 * through the shared memory) and spills it with RUNQPUTSLOW.
 */
static void worker_spill(struct slot *sl, uint32_t m, uint32_t p, uint64_t *seed)
{
	struct kgo_ready rd = { .size = sizeof(rd), .m = m };
	int i;

	if (p >= MAX_PROCS0)
		return;
	for (i = 0; i < KGO_RING_SIZE; i++)
		if (!ring_put(slot_p(sl, p), 1 + rnd(seed) % 1000))
			break;
	rd.g = 1 + rnd(seed) % 1000;
	ioctl(sl->fd, KGO_IOC_RUNQPUTSLOW, &rd);
}

/* A fresh PARK argument: p and g are out (and must go in as zero). */
static void park_arg(struct kgo_park *pk, uint32_t m, uint32_t flags, uint64_t timeout_ns)
{
	memset(pk, 0, sizeof(*pk));
	pk->size = sizeof(*pk);
	pk->m = m;
	pk->flags = flags;
	pk->timeout_ns = timeout_ns;
}

/*
 * A legitimate M on instance 0: attach, then park/ready/steal, spill, and
 * block "in a G" (slot state G, asleep in the kernel) long enough for
 * sysmon to hand its P off, then come back through exitsyscall.
 */
static void *worker(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 7919 + 1;
	struct slot *sl = &slots[0];

	while (!atomic_load(&stop)) {
		struct kgo_attach a = {
			.size = sizeof(a), .flags = rnd(&seed) % 2 ? KGO_ATTACH_ACQUIRE_P : 0,
		};
		struct kgo_park pk;
		struct kgo_ready rd = { .size = sizeof(rd) };
		uint32_t p;
		int n;

		if (ioctl(sl->fd, KGO_IOC_ATTACH, &a))
			continue;
		p = a.p;
		for (n = 0; n < 200 && !atomic_load(&stop); n++) {
			park_arg(&pk, a.m, rnd(&seed) % 3 ? KGO_PARK_NOWAIT : 0,
				 rnd(&seed) % 16 ? 1000000 : ~0ull);
			if (ioctl(sl->fd, KGO_IOC_PARK, &pk) == 0)
				p = pk.p;
			switch (rnd(&seed) % 4) {
			case 0:
				worker_spill(sl, a.m, p, &seed);
				break;
			case 1:
				/* Blocked in a G: sysmon may take the P (handoff). */
				__atomic_store_n(&slot_m(sl, a.m)->state, KGO_MS_G, __ATOMIC_SEQ_CST);
				usleep(500 + rnd(&seed) % 2000);
				park_arg(&pk, a.m, KGO_PARK_EXITSYSCALL | KGO_PARK_NOWAIT, 1000000);
				if (ioctl(sl->fd, KGO_IOC_PARK, &pk) == 0)
					p = pk.p;
				break;
			default:
				break;
			}
			rd.g = 1 + rnd(&seed) % 1000;
			ioctl(sl->fd, KGO_IOC_READY, &rd);
			park_arg(&pk, a.m, 0, 0);
			ioctl(sl->fd, KGO_IOC_STEAL, &pk);
			park_arg(&pk, a.m, 0, 0);
			ioctl(sl->fd, KGO_IOC_GLOBRUNQGET, &pk);
		}
		ioctl(sl->fd, KGO_IOC_DETACH, &a.m);
	}
	return NULL;
}

/*
 * Moves every M slot's state of instance 0 between LIB, G and LOST (and
 * now and then a value that is none of them) as fast as it can: the
 * slot only asks, and no value in it may make the kernel hand off a P it
 * should not, or lose one.
 */
static void *flipper(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 15485863 + 5;
	struct slot *sl = &slots[0];
	uint32_t id;

	while (!atomic_load(&stop)) {
		for (id = 0; id < slots[0].max_ms; id++) {
			uint32_t v = (uint32_t)(rnd(&seed) % 64);

			__atomic_store_n(&slot_m(sl, id)->state, v < 63 ? v % 3 : v,
					 __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

/* Shrinks and grows instance 0 while its Ms hold, hand off and drop Ps. */
static void *resizer(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 32452843 + 7;

	while (!atomic_load(&stop)) {
		uint32_t n = 1 + rnd(&seed) % MAX_PROCS0;

		ioctl(slots[0].fd, KGO_IOC_SET_NPROCS, &n);
		usleep(200 + rnd(&seed) % 2000);
	}
	return NULL;
}

/* Writes garbage all over instance 0's shared region. */
static void *scribbler(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 104729 + 3;
	struct slot *sl = &slots[0];

	while (!atomic_load(&stop)) {
		size_t off = rnd(&seed) % (sl->map_size / 4) * 4;
		uint32_t v = (uint32_t)rnd(&seed);

		if (v % 4 == 0)
			v %= 300;
		((volatile uint32_t *)sl->map)[off / 4] = v;
		if (rnd(&seed) % 64 == 0)
			sched_yield();
	}
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;	/* interrupts a sleeping PARK or WANTM: EINTR */
}

int main(int argc, char **argv)
{
	unsigned long ncalls = argc > 1 ? strtoul(argv[1], NULL, 0) : 50000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
	struct sigaction sa = { .sa_handler = on_alarm };
	pthread_t w[NWORKERS], s[NSCRIBBLERS], fl[NFLIPPERS], rs;
	struct kgo_setup st = { .size = sizeof(st), .nprocs = 3, .max_procs = MAX_PROCS0 };
	struct kgo_stats st0 = { .size = sizeof(st0) };
	unsigned long i;
	int k;

	require_module();
	tap_plan(3);
	printf("# seed %llu, %lu calls\n", (unsigned long long)seed, ncalls);
	if (!seed)
		seed = 1;
	pagesz = sysconf(_SC_PAGESIZE);
	page_rw = mmap(NULL, pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	page_ro = mmap(NULL, pagesz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	page_edge = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page_edge + pagesz, pagesz);
	memset(page_edge, 0x5a, pagesz);

	for (k = 0; k < NINST; k++) {
		pthread_mutex_init(&slots[k].lock, NULL);
		slots[k].fd = -1;
		if (k)
			slot_reset(&slots[k], &seed);
	}
	/* Instance 0: a real one, with Ms and scribblers on it throughout. */
	slots[0].fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	ioctl(slots[0].fd, KGO_IOC_SETUP, &st);
	slots[0].map_size = st.map_size;
	slots[0].p_off = st.p_off;
	slots[0].p_stride = st.p_stride;
	slots[0].m_off = st.m_off;
	slots[0].m_stride = st.m_stride;
	slots[0].max_ms = st.max_ms;
	slots[0].map = mmap(NULL, st.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, slots[0].fd, 0);
	if (slots[0].map == MAP_FAILED) {
		tap_ok(false, "instance 0 maps");
		return tap_done();
	}
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: sleeping calls end */
	setitimer(ITIMER_REAL, &it, NULL);
	for (k = 0; k < NWORKERS; k++)
		pthread_create(&w[k], NULL, worker, (void *)(uintptr_t)(k + 1));
	for (k = 0; k < NSCRIBBLERS; k++)
		pthread_create(&s[k], NULL, scribbler, (void *)(uintptr_t)(k + 1));
	for (k = 0; k < NFLIPPERS; k++)
		pthread_create(&fl[k], NULL, flipper, (void *)(uintptr_t)(k + 1));
	pthread_create(&rs, NULL, resizer, NULL);

	for (i = 0; i < ncalls; i++) {
		fuzz_one(&seed);
		if (i % 100000 == 0 && i)
			printf("# %lu calls\n", i);
	}
	atomic_store(&stop, true);
	ioctl(slots[0].fd, KGO_IOC_STATS, &st0);
	ioctl(slots[0].fd, KGO_IOC_SHUTDOWN, NULL);
	for (k = 0; k < NWORKERS; k++)
		pthread_join(w[k], NULL);
	for (k = 0; k < NSCRIBBLERS; k++)
		pthread_join(s[k], NULL);
	for (k = 0; k < NFLIPPERS; k++)
		pthread_join(fl[k], NULL);
	pthread_join(rs, NULL);
	for (k = 0; k < NINST; k++) {
		if (slots[k].map)
			munmap(slots[k].map, slots[k].map_size);
		close(slots[k].fd);
	}
	if (bad_cmd_seen)
		printf("# first undocumented errno: cmd %#lx errno %lu (%s)\n", bad_cmd_val,
		       bad_cmd_errno, strerror((int)bad_cmd_errno));
	tap_ok_fmt(atomic_load(&calls_done) == ncalls, "%lu fuzzed calls made (%lu succeeded)",
		   atomic_load(&calls_done), atomic_load(&ok_calls));
	tap_ok_fmt(atomic_load(&bad_errno) == 0, "every failure has a documented errno (%lu did not)",
		   atomic_load(&bad_errno));
	printf("# instance 0: handoffs %llu exitsyscalls %llu parks %llu steals %llu gq_puts %llu\n",
	       (unsigned long long)st0.handoffs, (unsigned long long)st0.exitsyscalls,
	       (unsigned long long)st0.parks, (unsigned long long)st0.steals,
	       (unsigned long long)st0.gq_puts);
	tap_ok_fmt(st0.handoffs > 0 && st0.gq_puts > 0,
		   "instance 0's Ms were handed off (%llu) and spilled (%llu Gs to the global queue)",
		   (unsigned long long)st0.handoffs, (unsigned long long)st0.gq_puts);
	(void)sleeps;
	return tap_done();
}
