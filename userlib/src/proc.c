/* SPDX-License-Identifier: MIT */
/*
 * Goroutine life cycle: creation (newproc: a G from a free list or a new
 * stack, its first frame, a place in a run queue), the free lists of Gs
 * with their stacks (per P, and global under kgo_rt.lock, as Go's
 * gfget/gfput), and exit (goexit0, and the end of the main goroutine).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

/*
 * Free Gs a P keeps before it gives them all to the global list.  Go keeps
 * half; here a G's header sits on its own stack's top page, so walking a
 * list touches a page per G.  The global list therefore holds whole
 * batches, linked by their first G (gfree_next, gfree_len), and a P gives
 * or takes a batch in O(1), touching one G.
 */
#define KGO_GFREE_LOCAL_MAX	64

/* The MXCSR and x87 control word a new goroutine starts with (the ABI's
 * defaults: all exceptions masked, round to nearest, double extended). */
#define KGO_MXCSR_DEFAULT	0x1f80u
#define KGO_FPUCW_DEFAULT	0x037fu

static struct kgo_pstate *kgo_mps(struct kgo_m *m)
{
	return m && m->p ? &kgo_rt.ps[m->pid] : NULL;
}

/*
 * Pushes the batch @g (@n Gs chained by schedlink), stamped with the
 * scavenger's epoch (no clock read on this path), so that the list runs from the newest batch to the oldest (the
 * scavenger cuts its tail).  kgo_rt.lock held.
 */
static void kgo_gfree_push_locked(struct kgo_g *g, uint32_t n)
{
	g->gfree_next = kgo_rt.gfree;
	g->gfree_len = n;
	/* Relaxed: a coarse age; pushes are ordered by the lock, the epoch
	 * only grows, so the list stays sorted. */
	g->gfree_time = atomic_load_explicit(&kgo_scavenge_epoch, memory_order_relaxed);
	kgo_rt.gfree = g;
	atomic_fetch_add_explicit(&kgo_rt.ngfree, n, memory_order_relaxed);
}

/* Pops a batch, or NULL; *@n is its length.  kgo_rt.lock held. */
static struct kgo_g *kgo_gfree_pop_locked(uint32_t *n)
{
	struct kgo_g *g = kgo_rt.gfree;

	if (!g)
		return NULL;
	kgo_rt.gfree = g->gfree_next;
	*n = g->gfree_len;
	atomic_fetch_sub_explicit(&kgo_rt.ngfree, *n, memory_order_relaxed);
	return g;
}

/* kgo_gfget - a free G with a stack, or NULL.  @m may be NULL (not an M). */
static struct kgo_g *kgo_gfget(struct kgo_m *m)
{
	struct kgo_pstate *ps = kgo_mps(m);
	struct kgo_g *g;
	uint32_t n;

	if (ps && !ps->gfree &&
	    atomic_load_explicit(&kgo_rt.ngfree, memory_order_relaxed)) {
		pthread_mutex_lock(&kgo_rt.lock);
		ps->gfree = kgo_gfree_pop_locked(&ps->ngfree);
		pthread_mutex_unlock(&kgo_rt.lock);
	}
	if (ps) {
		g = ps->gfree;
		if (g) {
			ps->gfree = g->schedlink;
			ps->ngfree--;
		}
		return g;
	}
	/* Not an M: the first G of a batch; the rest goes back as one. */
	pthread_mutex_lock(&kgo_rt.lock);
	g = kgo_gfree_pop_locked(&n);
	if (g && n > 1)
		kgo_gfree_push_locked(g->schedlink, n - 1);
	pthread_mutex_unlock(&kgo_rt.lock);
	return g;
}

/* A P's whole free list to the global one, as one batch.  On g0. */
static void kgo_gfree_flush(struct kgo_pstate *ps)
{
	pthread_mutex_lock(&kgo_rt.lock);
	kgo_gfree_push_locked(ps->gfree, ps->ngfree);
	pthread_mutex_unlock(&kgo_rt.lock);
	ps->gfree = NULL;
	ps->ngfree = 0;
}
/*
 * kgo_gfput - put dead @g on a free list, or unmap it with its stack if
 * that is a mapping of its own.  @m may be NULL.  Never on @g's stack.
 */
static void kgo_gfput(struct kgo_m *m, struct kgo_g *g)
{
	struct kgo_pstate *ps = kgo_mps(m);

	g->id = 0;
	atomic_store_explicit(&g->status, KGO_G_IDLE, memory_order_relaxed);
	kgo_ctx_drop(g);
	/* Every G freed here was counted by kgo_newg. */
	atomic_fetch_sub_explicit(&kgo_rt.ngoroutines, 1, memory_order_relaxed);
	if (g->own_stack) {
		kgo_stack_release(g);
		return;
	}
	if (ps) {
		g->schedlink = ps->gfree;
		ps->gfree = g;
		if (++ps->ngfree < KGO_GFREE_LOCAL_MAX)
			return;
		kgo_gfree_flush(ps);
		return;
	}
	g->schedlink = NULL;
	pthread_mutex_lock(&kgo_rt.lock);
	kgo_gfree_push_locked(g, 1);
	pthread_mutex_unlock(&kgo_rt.lock);
}

/*
 * kgo_gfree_idle - @m's P is about to go idle (its M parks in the
 * module): its free Gs go to the global list, where the scavenger can
 * give their stacks back once they have stayed unused long enough.  On
 * g0.  An idle P's list would otherwise be out of everyone's reach.
 */
void kgo_gfree_idle(struct kgo_m *m)
{
	struct kgo_pstate *ps = kgo_mps(m);

	if (ps && ps->gfree)
		kgo_gfree_flush(ps);
}

/*
 * kgo_gfree_take_old - detach from the global list every batch pushed at
 * scavenger epoch @before or earlier, and return them chained by
 * gfree_next (each still a schedlink chain of gfree_len Gs), or NULL.
 * Takes kgo_rt.lock.  Batches are pushed at the head with the epoch, so
 * the old ones are a tail of the list.
 */
struct kgo_g *kgo_gfree_take_old(uint64_t before)
{
	struct kgo_g **link, *old, *b;
	uint32_t n = 0;

	pthread_mutex_lock(&kgo_rt.lock);
	link = &kgo_rt.gfree;
	while (*link && (*link)->gfree_time > before)
		link = &(*link)->gfree_next;
	old = *link;
	*link = NULL;
	for (b = old; b; b = b->gfree_next)
		n += b->gfree_len;
	atomic_fetch_sub_explicit(&kgo_rt.ngfree, n, memory_order_relaxed);
	pthread_mutex_unlock(&kgo_rt.lock);
	return old;
}

/*
 * kgo_gframe - lay out @g's stack so that switching to it calls
 * fn(arg) with kgo_goexit_frame as the return address (the frame
 * ctx_amd64.S describes).  With @args, @size bytes are copied to the top
 * of the stack and fn gets a pointer to them.
 */
static void kgo_gframe(struct kgo_g *g, void (*fn)(void *), void *arg,
		       const void *args, size_t size)
{
	uintptr_t top = (uintptr_t)g & ~(uintptr_t)15;
	uint64_t *s;

	if (args) {
		top -= (size + 15) & ~(size_t)15;
		memcpy((void *)top, args, size);
		arg = size ? (void *)top : NULL;
	}
	/*
	 * top is 16-byte aligned, so the goexit slot at top - 8 is where a
	 * return address sits at a function's entry (rsp + 8 aligned).
	 */
	s = (uint64_t *)top;
	s[-1] = (uintptr_t)kgo_goexit_frame;	/* fn returns here */
	s[-2] = (uintptr_t)kgo_gostart;		/* kgo_ctx_switch returns here */
	s[-3] = 0;				/* rbp */
	s[-4] = 0;				/* rbx */
	s[-5] = (uintptr_t)fn;			/* r12 */
	s[-6] = (uintptr_t)arg;			/* r13 */
	s[-7] = 0;				/* r14 */
	s[-8] = 0;				/* r15 */
	s[-9] = KGO_MXCSR_DEFAULT | (uint64_t)KGO_FPUCW_DEFAULT << 32;
	g->sp = &s[-9];
}

/*
 * kgo_newg - a runnable G for fn (not yet queued), or NULL with *@err.
 * @m is the calling M, or NULL from a thread that is not one.  @stack
 * is 0 for a stack of kgo_main's size, else the usable bytes of a stack
 * of its own (checked by kgo_go_opts); one that rounds to kgo_main's
 * size takes a slot all the same.
 */
struct kgo_g *kgo_newg(struct kgo_m *m, void (*fn)(void *), void *arg,
		       const void *args, size_t size, size_t stack, int *err)
{
	struct kgo_g *g;

	if (!fn || (args && size > KGO_ARGS_MAX) || (!args && size)) {
		*err = -EINVAL;
		return NULL;
	}
	if (stack && kgo_stack_round(stack) == kgo_rt.stack_size)
		stack = 0;
	if (stack) {
		g = kgo_stackalloc_own(stack, err);
		if (!g)
			return NULL;
	} else if (!(g = kgo_gfget(m))) {
		g = kgo_stackalloc(err);
		if (!g)
			return NULL;
	}
	kgo_gframe(g, fn, arg, args, size);
	g->id = atomic_fetch_add_explicit(&kgo_rt.goidgen, 1, memory_order_relaxed) + 1;
	/* Relaxed: a count for kgo_numgoroutine, ordered with nothing. */
	atomic_fetch_add_explicit(&kgo_rt.ngoroutines, 1, memory_order_relaxed);
	g->waitlink = NULL;
	g->preempt_off = 0;
	g->lockcount = 0;
	g->lockedm = NULL;
	kgo_ctx_inherit(g, m ? m->curg : NULL);
	atomic_store_explicit(&g->status, KGO_G_RUNNABLE, memory_order_relaxed);
	return g;
}

/* newproc: create a G and queue it where Go would.  In the library. */
static int kgo_newproc1(void (*fn)(void *), void *arg, const void *args, size_t size,
			size_t stack)
{
	struct kgo_m *m;
	struct kgo_g *g;
	uint64_t left;
	int err;

	m = kgo_getm();
	if (m && !m->p)
		m = NULL;
	g = kgo_newg(m, fn, arg, args, size, stack, &err);
	if (!g)
		return err;
	if (!m) {
		/* Not an M: the global queue, through the module. */
		err = kgo_ready_ioctl(g);
		if (err)
			kgo_gfput(NULL, g);
		return err;
	}
	err = kgo_runqput_m(m, g, true, &left);
	if (err) {
		/*
		 * g sits in runnext, but the G it kicked out found no place.
		 * Swap that one back and give up on g.  If a stealer took g
		 * meanwhile, g runs (kgo_go succeeded after all) and the
		 * kicked G waits in the overflow list, as any G that every
		 * queue refused.
		 */
		if (kgo_runqcas_next(m->p, left, kgo_gtok(g))) {
			kgo_gfput(m, g);
			return err;
		}
		kgo_overflow_put(kgo_tokg(left));
	}
	kgo_wakep();
	return 0;
}

static int kgo_newproc(void (*fn)(void *), void *arg, const void *args, size_t size,
		       size_t stack)
{
	bool entered;
	int err;

	if (!atomic_load_explicit(&kgo_rt.active, memory_order_acquire))
		return kgo_no_instance();
	entered = kgo_enter(true);
	err = kgo_newproc1(fn, arg, args, size, stack);
	kgo_leave(entered);
	return err;
}

int kgo_go(void (*fn)(void *), void *arg)
{
	return kgo_newproc(fn, arg, NULL, 0, 0);
}

int kgo_go_args(void (*fn)(void *), const void *args, size_t size)
{
	if (size && !args)
		return -EINVAL;
	return kgo_newproc(fn, NULL, size ? args : NULL, size, 0);
}

int kgo_go_opts(void (*fn)(void *), void *arg, const struct kgo_go_opts *opts)
{
	size_t stack, i;

	if (!opts)
		return kgo_newproc(fn, arg, NULL, 0, 0);
	for (i = 0; i < sizeof(opts->reserved) / sizeof(opts->reserved[0]); i++)
		if (opts->reserved[i])
			return -EINVAL;
	stack = opts->stack_size;
	if (stack && (stack < KGO_STACK_MIN || stack > KGO_STACK_MAX))
		return -EINVAL;
	if (opts->args ? arg != NULL : opts->args_size != 0)
		return -EINVAL;
	return kgo_newproc(fn, arg, opts->args, opts->args_size, stack);
}

/*
 * kgo_begin_exit - the main goroutine has ended: every M stops at its
 * next schedule, and those asleep in the module are woken (-ESHUTDOWN).
 */
void kgo_begin_exit(void)
{
	int err;

	/* Release: pairs with the acquire load in kgo_schedule. */
	atomic_store_explicit(&kgo_rt.exiting, true, memory_order_release);
	err = kgo_ioctl(KGO_IOC_SHUTDOWN, NULL);
	if (err)
		kgo_fatal("SHUTDOWN failed: %s", strerror(-err));
}

/* kgo_gdestroy - on g0, after @g switched out for good (goexit0). */
void kgo_gdestroy(struct kgo_m *m, struct kgo_g *g)
{
	atomic_store_explicit(&g->status, KGO_G_DEAD, memory_order_relaxed);
	if (g == kgo_rt.main_g) {
		kgo_ctx_drop(g);
		atomic_fetch_sub_explicit(&kgo_rt.ngoroutines, 1, memory_order_relaxed);
		/* Not reused: it is freed with the others at teardown. */
		kgo_begin_exit();
		return;
	}
	kgo_gfput(m, g);
}

/* Where every goroutine's function returns to (via kgo_goexit_frame). */
void kgo_goexit0(void)
{
	/* No kgo_leave: the G never comes back. */
	kgo_enter(false);
	kgo_mcall(KGO_ACT_EXIT, NULL, NULL);
	kgo_fatal("an exited goroutine was resumed");
}

void kgo_exit(void)
{
	kgo_goexit0();
}

int kgo_numgoroutine(void)
{
	if (!atomic_load_explicit(&kgo_rt.active, memory_order_acquire))
		return 0;
	return atomic_load_explicit(&kgo_rt.ngoroutines, memory_order_relaxed);
}
