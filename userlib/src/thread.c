/* SPDX-License-Identifier: MIT */
/*
 * Starting the library's own threads: the Ms, the spare-M spawner, the
 * poller, the scavenger, the signal reader and the schedtrace thread.
 *
 * None of them runs a goroutine's code on its own stack (goroutines have
 * theirs), so each gets KGO_THREAD_STACK instead of the process's default
 * (RLIMIT_STACK, 8 MiB under glibc).  Below 2 MiB the stack cannot hold
 * a transparent huge page: with THP "always" (Debian's stock kernels),
 * glibc's write of the thread's descriptor at the top of an 8 MiB stack
 * can fault in a whole 2 MiB page, and every M would cost 2 MiB of
 * resident memory for the few KiB it uses.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "internal.h"

#define KGO_THREAD_STACK	(256 * 1024)

/*
 * kgo_thread_start - start fn(arg) in a new thread, its id in *@thread.
 * With KGO_THREAD_NO_SIGNALS it takes no asynchronous signals (they go to
 * the program's threads); otherwise it inherits the caller's mask.  0 or
 * -errno.  Any thread.
 */
int kgo_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg,
		     unsigned int flags)
{
	pthread_attr_t attr, *ap = &attr;
	sigset_t all, old;
	int err;

	if (pthread_attr_init(&attr))
		ap = NULL;
	else	/* if the size is refused, the default stays */
		pthread_attr_setstacksize(&attr, KGO_THREAD_STACK);
	if (flags & KGO_THREAD_NO_SIGNALS) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
	}
	err = pthread_create(thread, ap, fn, arg);
	/*
	 * A program's static TLS may not fit beside the stack asked for
	 * (glibc takes it from the stack): the default size then.
	 */
	if (err == EINVAL && ap)
		err = pthread_create(thread, NULL, fn, arg);
	if (flags & KGO_THREAD_NO_SIGNALS)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ap)
		pthread_attr_destroy(&attr);
	return -err;
}
