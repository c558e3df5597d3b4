/* SPDX-License-Identifier: MIT */
/*
 * Goroutine stacks and their overflow detection.  Stacks are slots of
 * regions, each region one mmap() of many slots:
 *
 *   slot               slot + guard                      slot + stride
 *   | guard            | usable stack, grows down ... | struct kgo_g |
 *
 * With a kgo.ko that has KGO_FEAT_STACKMAP, a region is a private mapping
 * of /dev/kgo at the offset of a layout declared with KGO_IOC_STACKMAP:
 * the module's fault handler makes every guard SIGSEGV and every other
 * page ordinary anonymous memory, so a region of thousands of stacks is
 * one VMA and a stack costs no system call at all.  Otherwise (an older
 * module, or KGO_STACKS=mmap in the environment) a region is an anonymous
 * mapping of KGO_SLOTS_PER_CHUNK slots whose guards are made PROT_NONE one
 * by one as slots are handed out: two VMAs per stack, so vm.max_map_count
 * bounds the goroutines alive.  Regions are reserved MAP_NORESERVE:
 * nothing is resident until touched.
 *
 * A G that overflows its stack touches the guard and gets SIGSEGV, which
 * segv.c's handler reports; it runs on the M's sigaltstack, set up here.
 *
 * A G that kgo_go_opts gives a stack of another size than kgo_main's has
 * an anonymous mapping of its own with the same layout (guard made
 * PROT_NONE, two VMAs), whatever the mode: the module's layouts are few
 * (8 an instance) and sizes many.  It never goes on a free list: when
 * the G ends, its g0 unmaps it (kgo_stack_release).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

#include "internal.h"
#include "tsan.h"

#define KGO_SLOTS_PER_CHUNK	16	/* per region without the module */
#define KGO_SLOTS_FIRST		64	/* the module's first region ... */
#define KGO_SLOTS_MAX		16384	/* ... doubling up to this */

enum { KGO_STACKS_UNSET, KGO_STACKS_MODULE, KGO_STACKS_MMAP };

/*
 * A region of stack slots.  It lives in its own first slot, above that
 * slot's guard (the slot is never handed out), so that a region given
 * back takes its bookkeeping with it.  Its fields, and the list, are
 * under kgo_rt.lock.  A clean slot was handed out once and given back by
 * the scavenger: it reads as zeroes, costs no memory, and is handed out
 * again before any slot never used.  A region whose every slot handed
 * out is clean again is unmapped.
 */
struct kgo_stack_region {
	struct kgo_stack_region *next;
	char *map;
	size_t size;
	size_t stride;
	uint32_t nslots;		/* slot 0 included */
	uint32_t carved;		/* slots ever handed out */
	uint32_t nclean;		/* set bits in clean */
	uint32_t hint;			/* no set bit in clean's words below it */
	uint64_t clean[];		/* one bit per slot */
};

/*
 * The regions, under kgo_rt.lock.  mode and offset are set by the first
 * kgo_stackalloc (the main goroutine's, before any other M runs) and
 * cleared at teardown.
 */
static struct {
	int mode;			/* KGO_STACKS_* */
	off_t offset;			/* the module's layout, in MODULE mode */
	uint32_t next_slots;		/* slots in the next region mapped */
	struct kgo_stack_region *regions;	/* newest first */
	struct kgo_stack_region *carving;	/* where next points, or NULL */
	char *next;			/* the next slot never handed out */
	uint32_t left;			/* and how many are left */
	uint64_t nclean;		/* clean slots in every region */
} kgo_stacks;

/*
 * kgo_stacks_pick - MODULE if the module serves stacks for this layout,
 * else MMAP.  First kgo_stackalloc only.
 */
static void kgo_stacks_pick(size_t stride)
{
	const char *env = getenv("KGO_STACKS");
	struct kgo_stackmap sm = {
		.size = sizeof(sm),
		.stride = stride,
		.guard = kgo_rt.guard_size,
	};

	kgo_stacks.mode = KGO_STACKS_MMAP;
	kgo_stacks.next_slots = KGO_SLOTS_PER_CHUNK;
	if ((env && !strcmp(env, "mmap")) || !(kgo_rt.features & KGO_FEAT_STACKMAP))
		return;
	if (kgo_ioctl(KGO_IOC_STACKMAP, &sm))
		return;		/* refused (no layout left): the fallback */
	kgo_stacks.mode = KGO_STACKS_MODULE;
	kgo_stacks.offset = (off_t)sm.offset;
	kgo_stacks.next_slots = KGO_SLOTS_FIRST;
}

/* A region of @size bytes of slots, or MAP_FAILED with errno. */
static void *kgo_region_map(size_t size)
{
	int flags = MAP_PRIVATE | MAP_NORESERVE | MAP_STACK;

	if (kgo_stacks.mode == KGO_STACKS_MODULE)
		return mmap(NULL, size, PROT_READ | PROT_WRITE, flags,
			    kgo_rt.fd, kgo_stacks.offset);
	return mmap(NULL, size, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
}

/* A clean slot (the lowest in the newest region that has one).  Lock held. */
static char *kgo_cleanslot_locked(void)
{
	struct kgo_stack_region *r;
	unsigned int bit;
	uint32_t w;

	for (r = kgo_stacks.regions; r && !r->nclean; r = r->next)
		;
	if (!r)
		return NULL;
	for (w = r->hint; !r->clean[w]; w++)
		;
	r->hint = w;
	bit = (unsigned int)__builtin_ctzll(r->clean[w]);
	r->clean[w] &= ~(1ULL << bit);
	r->nclean--;
	kgo_stacks.nclean--;
	return r->map + ((size_t)w * 64 + bit) * r->stride;
}

/*
 * kgo_region_new - map a region of @n slots of @stride bytes and set up
 * its header in slot 0.  NULL with *@err.  No lock held.
 */
static struct kgo_stack_region *kgo_region_new(size_t stride, uint32_t n, int *err)
{
	size_t hdr = sizeof(struct kgo_stack_region) + (n + 63) / 64 * sizeof(uint64_t);
	struct kgo_stack_region *r;
	char *map;

	if (hdr > stride - kgo_rt.guard_size) {
		*err = -EINVAL;	/* cannot happen: a stack holds 16 KiB */
		return NULL;
	}
	map = kgo_region_map(stride * n);
	if (map == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	r = (struct kgo_stack_region *)(map + kgo_rt.guard_size);
	if (kgo_stacks.mode == KGO_STACKS_MMAP && mprotect(map, kgo_rt.guard_size, PROT_NONE)) {
		*err = -errno;
		munmap(map, stride * n);
		return NULL;
	}
	memset(r, 0, hdr);	/* zeroes already; this makes the page resident */
	r->map = map;
	r->size = stride * n;
	r->stride = stride;
	r->nslots = n;
	r->carved = 1;		/* slot 0, the header's, is never clean */
	return r;
}

/*
 * The next slot never used of the newest region (*@fresh set), or NULL
 * when it has none left.  Lock held.
 */
static char *kgo_carve_locked(size_t stride, bool *fresh)
{
	char *slot;

	if (!kgo_stacks.left)
		return NULL;
	*fresh = true;
	slot = kgo_stacks.next;
	kgo_stacks.next += stride;
	kgo_stacks.left--;
	kgo_stacks.carving->carved++;
	return slot;
}

/*
 * kgo_stackslot - a slot of @stride bytes: a clean one, else the next
 * never used of the newest region, else the first of a new region, which
 * then becomes the newest.  *@fresh tells a slot never used before.  NULL
 * with *@err.  Takes kgo_rt.lock, but maps the region without it, so that
 * other Ms creating goroutines do not wait on it.  Two Ms that both find
 * the region used up both map one: the second to take the lock back
 * carves the first one's and unmaps its own.
 */
static char *kgo_stackslot(size_t stride, bool *fresh, int *err)
{
	struct kgo_stack_region *r;
	char *slot = NULL;
	uint32_t n;

	pthread_mutex_lock(&kgo_rt.lock);
	if (kgo_stacks.mode == KGO_STACKS_UNSET)
		kgo_stacks_pick(stride);
	*fresh = false;
	if (kgo_stacks.nclean)
		slot = kgo_cleanslot_locked();
	if (!slot)
		slot = kgo_carve_locked(stride, fresh);
	n = kgo_stacks.next_slots;
	pthread_mutex_unlock(&kgo_rt.lock);
	if (slot)
		return slot;

	r = kgo_region_new(stride, n, err);
	if (!r)
		return NULL;
	pthread_mutex_lock(&kgo_rt.lock);
	slot = kgo_carve_locked(stride, fresh);
	if (slot) {
		/* Another M's region came first: ours goes back. */
		pthread_mutex_unlock(&kgo_rt.lock);
		munmap(r->map, r->size);
		return slot;
	}
	*fresh = true;
	r->next = kgo_stacks.regions;
	kgo_stacks.regions = r;
	kgo_stacks.carving = r;
	r->carved = 2;		/* the header's slot and the one returned */
	kgo_stacks.next = r->map + 2 * stride;
	kgo_stacks.left = n - 2;
	if (kgo_stacks.mode == KGO_STACKS_MODULE && kgo_stacks.next_slots < KGO_SLOTS_MAX)
		kgo_stacks.next_slots *= 2;
	pthread_mutex_unlock(&kgo_rt.lock);
	return r->map + stride;
}

/*
 * kgo_stack_round - the bytes above the guard for a stack of @asked
 * usable bytes: room for a preemption added (the G's own bytes come out
 * of it), rounded up to pages.  kgo_rt.guard_size set.
 */
size_t kgo_stack_round(size_t asked)
{
	size_t page = kgo_rt.guard_size / KGO_GUARD_PAGES;

	return (asked + kgo_preempt_stack_reserve() + page - 1) & ~(page - 1);
}

/* @g on the list of every G (the gdb helper's). */
static void kgo_allg_add(struct kgo_g *g)
{
	pthread_mutex_lock(&kgo_rt.lock);
	g->alllink = kgo_rt.allg;
	if (g->alllink)
		g->alllink->allprev = g;
	kgo_rt.allg = g;
	pthread_mutex_unlock(&kgo_rt.lock);
}

/* @g off the list of every G.  kgo_rt.lock held. */
static void kgo_allg_del_locked(struct kgo_g *g)
{
	if (g->allprev)
		g->allprev->alllink = g->alllink;
	else
		kgo_rt.allg = g->alllink;
	if (g->alllink)
		g->alllink->allprev = g->allprev;
}

/* kgo_stackalloc - a new G with a fresh stack, or NULL with *@err. */
struct kgo_g *kgo_stackalloc(int *err)
{
	size_t guard = kgo_rt.guard_size, size = guard + kgo_rt.stack_size;
	struct kgo_g *g;
	bool fresh;
	char *map;

	map = kgo_stackslot(size, &fresh, err);
	if (!map)
		return NULL;
	/* The slot is ours alone.  If this fails it stays unused in its
	 * region, which teardown unmaps with the rest. */
	if (fresh && kgo_stacks.mode == KGO_STACKS_MMAP &&
	    mprotect(map, guard, PROT_NONE)) {
		*err = -errno;
		return NULL;
	}
	g = (struct kgo_g *)(map + size - KGO_GHDR);
	memset(g, 0, sizeof(*g));
	g->map = map;
	g->map_size = size;
	g->stack_lo = map + guard;
	kgo_allg_add(g);
	return g;
}

/*
 * kgo_stackalloc_own - a new G on a mapping of its own for a stack of
 * @asked usable bytes (KGO_STACK_MIN..KGO_STACK_MAX, checked by the
 * caller), or NULL with *@err.  Reserved MAP_NORESERVE as the regions
 * are: only what the G touches becomes resident.  mmap and mprotect are
 * system calls, so this may run with a P held (no malloc).
 */
struct kgo_g *kgo_stackalloc_own(size_t asked, int *err)
{
	size_t guard = kgo_rt.guard_size, size = guard + kgo_stack_round(asked);
	struct kgo_g *g;
	char *map;

	map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (map == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	if (mprotect(map, guard, PROT_NONE)) {
		*err = -errno;
		munmap(map, size);
		return NULL;
	}
	g = (struct kgo_g *)(map + size - KGO_GHDR);
	/* Zeroes already: nothing to clear. */
	g->map = map;
	g->map_size = size;
	g->stack_lo = map + guard;
	g->own_stack = asked;
	kgo_allg_add(g);
	return g;
}

/*
 * kgo_stack_release - unmap the stack of @g, a G with a mapping of its
 * own, freed (kgo_gfput): no code runs on that stack any more, and no
 * list holds @g but the list of every G, which it leaves.  On g0 (the G
 * switched out for good) or on the stack of the caller of a kgo_go_opts
 * that failed.
 */
void kgo_stack_release(struct kgo_g *g)
{
	char *map = g->map;
	size_t size = g->map_size;

	pthread_mutex_lock(&kgo_rt.lock);
	kgo_allg_del_locked(g);
	pthread_mutex_unlock(&kgo_rt.lock);
	kgo_tsan_gone(g);
#ifdef __SANITIZE_ADDRESS__
	/* Frames that never returned (kgo_goexit0's) leave their redzones
	 * poisoned; whatever is mapped here next must not inherit them. */
	__asan_unpoison_memory_region(map, size);
#endif
	munmap(map, size);
}

/*
 * Marks @n slots from @slot clean in their region.  If that makes every
 * slot the region handed out clean, the region leaves the list and is
 * returned, for the caller to unmap once the lock is dropped; else NULL.
 * kgo_rt.lock held.
 */
static struct kgo_stack_region *kgo_slots_clean_locked(char *slot, size_t n)
{
	struct kgo_stack_region *r, **link;
	size_t i;

	for (link = &kgo_stacks.regions; (r = *link); link = &r->next)
		if (slot >= r->map && slot < r->map + r->size)
			break;
	if (!r)
		kgo_fatal("scavenged a stack of no region: %p", (void *)slot);
	i = (size_t)(slot - r->map) / r->stride;
	if (i / 64 < r->hint)
		r->hint = (uint32_t)(i / 64);
	for (; n; n--, i++) {
		r->clean[i / 64] |= 1ULL << (i % 64);
		r->nclean++;
		kgo_stacks.nclean++;
	}
	if (r->nclean != r->carved - 1)
		return NULL;
	*link = r->next;
	kgo_stacks.nclean -= r->nclean;
	if (kgo_stacks.carving == r) {
		kgo_stacks.carving = NULL;
		kgo_stacks.left = 0;
	}
	return r;
}

/* Gives the slots [@lo, @hi) back to the kernel; they read as zeroes after. */
static void kgo_slots_release(char *lo, char *hi)
{
	size_t stride = kgo_rt.guard_size + kgo_rt.stack_size;
	struct kgo_stack_region *r;

	if (lo == hi)
		return;
	/*
	 * Should the kernel refuse (it cannot for these mappings), the slots
	 * still go to the clean set: their memory is just not given back.
	 */
	madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
	pthread_mutex_lock(&kgo_rt.lock);
	r = kgo_slots_clean_locked(lo, (size_t)(hi - lo) / stride);
	pthread_mutex_unlock(&kgo_rt.lock);
	if (r)
		munmap(r->map, r->size);	/* the header with the rest */
}

/* A run of adjacent slots being gathered for one madvise(). */
struct kgo_run {
	char *lo, *hi;
};

/* Adds @slot (of @size bytes) to @run, releasing the run it cannot join. */
static void kgo_run_add(struct kgo_run *run, char *slot, size_t size)
{
	if (slot == run->hi) {
		run->hi += size;
	} else if (slot + size == run->lo) {
		run->lo = slot;
	} else {
		kgo_slots_release(run->lo, run->hi);
		run->lo = slot;
		run->hi = slot + size;
	}
}

#define KGO_SCAVENGE_GROUP	64

/*
 * kgo_stack_scavenge - give back the stacks of @batches (from
 * kgo_gfree_take_old: free Gs no one else can reach any more) and make
 * their slots clean.  The Gs go in groups of up to 64: off the list of
 * every G (their headers are about to go), then sorted by address, so
 * that adjacent slots make one madvise() whatever order the free list
 * had.  A run never spans two regions (each starts with its header's
 * slot, never free).  The scavenger's thread, no lock held.
 */
void kgo_stack_scavenge(struct kgo_g *batches)
{
	char *slots[KGO_SCAVENGE_GROUP];
	struct kgo_run run = { NULL, NULL };
	struct kgo_g *b, *g, *next;
	size_t size = kgo_rt.guard_size + kgo_rt.stack_size;
	unsigned int n, i, j;

	for (b = batches; b; b = next) {
		next = b->gfree_next;
		for (g = b; g;) {
			pthread_mutex_lock(&kgo_rt.lock);
			for (n = 0; g && n < KGO_SCAVENGE_GROUP; g = g->schedlink) {
				kgo_allg_del_locked(g);
				slots[n++] = g->map;
			}
			pthread_mutex_unlock(&kgo_rt.lock);
			/* g, the next group's first, is read: its run may go now. */
			for (i = 1; i < n; i++) {
				char *s = slots[i];

				for (j = i; j > 0 && slots[j - 1] > s; j--)
					slots[j] = slots[j - 1];
				slots[j] = s;
			}
			for (i = 0; i < n; i++)
				kgo_run_add(&run, slots[i], size);
		}
	}
	kgo_slots_release(run.lo, run.hi);
}

/*
 * kgo_stacks_free - unmap every stack (teardown: no G runs, and every G
 * is gone after this): first those of Gs with a mapping of their own
 * still alive (abandoned), found on the list of every G, whose other Gs
 * live in the regions, then the regions.
 */
void kgo_stacks_free(void)
{
	struct kgo_stack_region *r, *next;
	struct kgo_g *g, *gnext;

	for (g = kgo_rt.allg; g; g = gnext) {
		gnext = g->alllink;
		if (g->own_stack)
			kgo_stack_release(g);
	}

	for (r = kgo_stacks.regions; r; r = next) {
		next = r->next;
		munmap(r->map, r->size);	/* r with it */
	}
	memset(&kgo_stacks, 0, sizeof(kgo_stacks));
}

/*
 * kgo_stacks_forget_after_fork - in a fork's child: forget the regions
 * without unmapping them.  The thread that forked may be running on one
 * of their stacks (the child's copy-on-write copy), so they stay mapped
 * and are leaked, like the rest of the parent's scheduler state.
 */
void kgo_stacks_forget_after_fork(void)
{
	memset(&kgo_stacks, 0, sizeof(kgo_stacks));
}

/* The M's sigaltstack; M0 restores the caller's afterwards (main.c). */
int kgo_altstack_on(struct kgo_m *m)
{
	size_t size = 64 * 1024;
	stack_t ss;
#ifdef _SC_SIGSTKSZ
	long min = sysconf(_SC_SIGSTKSZ);

	if (min > 0 && (size_t)min > size)
		size = (size_t)min;
#endif
	m->altstack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (m->altstack == MAP_FAILED) {
		m->altstack = NULL;
		return -errno;
	}
	m->altstack_size = size;
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = m->altstack;
	ss.ss_size = size;
	if (sigaltstack(&ss, NULL)) {
		int err = -errno;

		munmap(m->altstack, size);
		m->altstack = NULL;
		return err;
	}
	return 0;
}

/* Disables this thread's sigaltstack and frees it.  The M's own thread. */
void kgo_altstack_off(struct kgo_m *m)
{
	stack_t ss;

	if (!m->altstack)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	munmap(m->altstack, m->altstack_size);
	m->altstack = NULL;
}
