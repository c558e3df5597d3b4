/* SPDX-License-Identifier: MIT */
/*
 * fork(2) and libkgo.  The child of a process running kgo_main (or that
 * ran it) has one thread, a copy of the one that forked, perhaps a
 * goroutine's M, and copies of the parent's scheduler state, device fd
 * and shared region, which still belong to the parent's instance in
 * kgo.ko.  pthread_atfork's child handler makes the child forget all of
 * it without telling the module anything: the thread is no M any more,
 * the calls that need an instance return -ECHILD (kgo_no_instance), the
 * blocking primitives work as on any foreign thread, and the child may
 * start a kgo_main of its own.  posix_spawn(3) and system(3) run no
 * atfork handlers and need none: the parent's goroutine just blocks in
 * the kernel until the child has exec'd (and sysmon hands its P off).
 */
#include <pthread.h>

#include "internal.h"

static void kgo_atfork_child(void)
{
	/* Relaxed: the child has one thread. */
	if (!atomic_load_explicit(&kgo_rt.active, memory_order_relaxed) && !kgo_rt.region)
		return;	/* kgo_main is not running: nothing of it to forget */
	kgo_rt_forget_after_fork();
	kgo_stacks_forget_after_fork();
	kgo_scavenger_forget_after_fork();
	kgo_timers_forget_after_fork();
	kgo_poller_forget_after_fork();
	kgo_overflow_forget_after_fork();
	kgo_signal_forget_after_fork();
	kgo_schedtrace_forget_after_fork();
}

static pthread_once_t kgo_fork_once = PTHREAD_ONCE_INIT;

static void kgo_fork_register(void)
{
	pthread_atfork(NULL, NULL, kgo_atfork_child);
}

/* Called by every kgo_main; registers the handler once per process. */
void kgo_fork_init(void)
{
	pthread_once(&kgo_fork_once, kgo_fork_register);
}
