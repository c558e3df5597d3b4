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
 * A G that overflows its stack touches the guard and gets SIGSEGV.  The
 * handler runs on its M's sigaltstack (the G's stack is exhausted), sees
 * that the fault is in the current G's guard, reports the overflow and
 * ends the process, as Go does.  Any other SIGSEGV gets the default action.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static struct sigaction kgo_old_segv;
static bool kgo_segv_installed;

#define KGO_SLOTS_PER_CHUNK	16	/* per region without the module */
#define KGO_SLOTS_FIRST		64	/* the module's first region ... */
#define KGO_SLOTS_MAX		16384	/* ... doubling up to this */

enum { KGO_STACKS_UNSET, KGO_STACKS_MODULE, KGO_STACKS_MMAP };

/* A region of stack slots, for teardown.  On kgo_stacks.regions. */
struct kgo_stack_region {
	struct kgo_stack_region *next;
	char *map;
	size_t size;
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
	char *next;			/* the next free slot of the newest */
	uint32_t left;			/* and how many are left in it */
} kgo_stacks;

/*
 * kgo_stacks_pick - MODULE if the module serves stacks for this layout,
 * else MMAP.  First kgo_stackalloc only.
 */
static void kgo_stacks_pick(size_t stride)
{
	const char *env = getenv("KGO_STACKS");
	struct kgo_stackmap sm = {
		.stride = stride,
		.guard = kgo_rt.guard_size,
	};

	kgo_stacks.mode = KGO_STACKS_MMAP;
	if (env && !strcmp(env, "mmap"))
		return;
	if (kgo_ioctl(KGO_IOC_STACKMAP, &sm))
		return;		/* an older module: the fallback */
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

/*
 * kgo_stackslot - a slot of @stride bytes never handed out before: the
 * next one of the newest region, or the first of a new region, which then
 * becomes the newest.  NULL with *@err.  Takes kgo_rt.lock, but maps the
 * region without it, so that other Ms creating goroutines do not wait on
 * it.  Two Ms that both find the region used up both map one; the slots
 * left in the one installed first stay unused (address space only) until
 * teardown.
 */
static char *kgo_stackslot(size_t stride, int *err)
{
	struct kgo_stack_region *r;
	char *slot = NULL;
	uint32_t n;

	pthread_mutex_lock(&kgo_rt.lock);
	if (kgo_stacks.mode == KGO_STACKS_UNSET)
		kgo_stacks_pick(stride);
	if (kgo_stacks.left) {
		slot = kgo_stacks.next;
		kgo_stacks.next += stride;
		kgo_stacks.left--;
	}
	n = kgo_stacks.mode == KGO_STACKS_MODULE ? kgo_stacks.next_slots
						 : KGO_SLOTS_PER_CHUNK;
	pthread_mutex_unlock(&kgo_rt.lock);
	if (slot)
		return slot;

	r = malloc(sizeof(*r));
	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	r->size = stride * n;
	r->map = kgo_region_map(r->size);
	if (r->map == MAP_FAILED) {
		*err = -errno;
		free(r);
		return NULL;
	}
	pthread_mutex_lock(&kgo_rt.lock);
	r->next = kgo_stacks.regions;
	kgo_stacks.regions = r;
	kgo_stacks.next = r->map + stride;
	kgo_stacks.left = n - 1;
	if (kgo_stacks.next_slots && kgo_stacks.next_slots < KGO_SLOTS_MAX)
		kgo_stacks.next_slots *= 2;
	pthread_mutex_unlock(&kgo_rt.lock);
	return r->map;
}

/* kgo_stackalloc - a new G with a fresh stack, or NULL with *@err. */
struct kgo_g *kgo_stackalloc(int *err)
{
	size_t guard = kgo_rt.guard_size, size = guard + kgo_rt.stack_size;
	struct kgo_g *g;
	char *map;

	map = kgo_stackslot(size, err);
	if (!map)
		return NULL;
	/* The slot is ours alone.  If this fails it stays unused in its
	 * region, which teardown unmaps with the rest. */
	if (kgo_stacks.mode == KGO_STACKS_MMAP && mprotect(map, guard, PROT_NONE)) {
		*err = -errno;
		return NULL;
	}
	g = (struct kgo_g *)(map + size - KGO_GHDR);
	memset(g, 0, sizeof(*g));
	g->map = map;
	g->map_size = size;
	g->stack_lo = map + guard;
	pthread_mutex_lock(&kgo_rt.lock);
	g->alllink = kgo_rt.allg;
	kgo_rt.allg = g;
	pthread_mutex_unlock(&kgo_rt.lock);
	return g;
}

/*
 * kgo_stacks_free - unmap every stack (teardown: no G runs, and every G
 * is gone after this).
 */
void kgo_stacks_free(void)
{
	struct kgo_stack_region *r, *next;

	for (r = kgo_stacks.regions; r; r = next) {
		next = r->next;
		munmap(r->map, r->size);
		free(r);
	}
	memset(&kgo_stacks, 0, sizeof(kgo_stacks));
}

/* Decimal digits of @v into @buf (which must hold 20), returns the length. */
static size_t kgo_utoa(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static size_t kgo_cat(char *buf, size_t at, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf + at, s, n);
	return at + n;
}

/* SIGSEGV: a goroutine's stack overflow, or someone else's fault. */
static void kgo_sigsegv(int sig, siginfo_t *si, void *uctx)
{
	struct kgo_m *m = kgo_getm();
	struct kgo_g *g = m ? m->curg : NULL;
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct sigaction dfl;

	(void)uctx;
	/* As integers: the address may lie in no object at all. */
	if (g && si->si_code > 0 && addr >= (uintptr_t)g->map &&
	    addr < (uintptr_t)g->stack_lo) {
		/* Only async-signal-safe calls from here. */
		char msg[160];
		size_t n = 0;

		n = kgo_cat(msg, n, "kgo: goroutine ");
		n += kgo_utoa(msg + n, g->id);
		n = kgo_cat(msg, n, " overflowed its ");
		n += kgo_utoa(msg + n, kgo_rt.stack_asked);
		n = kgo_cat(msg, n, "-byte stack\n");
		if (write(STDERR_FILENO, msg, n) < 0)
			_exit(2);
		_exit(2);
	}
	/* Not ours: the default action, which the fault re-raises on return. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);	/* sent, not a fault: it would not recur */
}

int kgo_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = kgo_sigsegv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &kgo_old_segv))
		return -errno;
	kgo_segv_installed = true;
	return 0;
}

void kgo_signals_restore(void)
{
	if (kgo_segv_installed)
		sigaction(SIGSEGV, &kgo_old_segv, NULL);
	kgo_segv_installed = false;
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
