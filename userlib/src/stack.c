/*
 * Goroutine stacks and their overflow detection.  Each stack is a slice
 * of a chunk, one mmap() of KGO_STACKS_PER_CHUNK stacks:
 *
 *   map                map + guard                       map + map_size
 *   | guard, PROT_NONE | usable stack, grows down ... | struct kgo_g |
 *
 * The chunk is reserved at once (MAP_NORESERVE, nothing resident until
 * touched) and each slice's guard is made PROT_NONE when the slice is
 * handed out: a stack costs one mprotect() and a sixteenth of an mmap()
 * and of the munmap() at teardown, not three system calls.
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

#define KGO_STACKS_PER_CHUNK	16

/* A chunk of stacks, for teardown.  On kgo_rt.chunks, under kgo_rt.lock. */
struct kgo_stack_chunk {
	struct kgo_stack_chunk *next;
	char *map;
	size_t size;
};

/*
 * kgo_stackslice - a free slice of @size bytes: the next one of the
 * current chunk, or the first of a new chunk, which then becomes the
 * current one.  NULL with *@err.  Takes kgo_rt.lock, but makes the mmap()
 * without it, so that other Ms creating goroutines do not wait on it.  Two
 * Ms that both find the chunk used up both map one; the slices left in
 * the one installed first stay unused (address space only) until
 * teardown.
 */
static char *kgo_stackslice(size_t size, int *err)
{
	struct kgo_stack_chunk *c;
	char *slice = NULL;

	pthread_mutex_lock(&kgo_rt.lock);
	if (kgo_rt.chunk_left) {
		slice = kgo_rt.chunk_next;
		kgo_rt.chunk_next += size;
		kgo_rt.chunk_left--;
	}
	pthread_mutex_unlock(&kgo_rt.lock);
	if (slice)
		return slice;

	c = malloc(sizeof(*c));
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->size = size * KGO_STACKS_PER_CHUNK;
	c->map = mmap(NULL, c->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (c->map == MAP_FAILED) {
		*err = -errno;
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&kgo_rt.lock);
	c->next = kgo_rt.chunks;
	kgo_rt.chunks = c;
	kgo_rt.chunk_next = c->map + size;
	kgo_rt.chunk_left = KGO_STACKS_PER_CHUNK - 1;
	pthread_mutex_unlock(&kgo_rt.lock);
	return c->map;
}

/* kgo_stackalloc - a new G with a fresh stack, or NULL with *@err. */
struct kgo_g *kgo_stackalloc(int *err)
{
	size_t guard = kgo_rt.guard_size, size = guard + kgo_rt.stack_size;
	struct kgo_g *g;
	char *map;

	map = kgo_stackslice(size, err);
	if (!map)
		return NULL;
	/* The slice is ours alone.  If this fails it stays unused in its
	 * chunk, which teardown unmaps with the rest. */
	if (mprotect(map, guard, PROT_NONE)) {
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
	struct kgo_stack_chunk *c, *next;

	for (c = kgo_rt.chunks; c; c = next) {
		next = c->next;
		munmap(c->map, c->size);
		free(c);
	}
	kgo_rt.chunks = NULL;
	kgo_rt.chunk_next = NULL;
	kgo_rt.chunk_left = 0;
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
