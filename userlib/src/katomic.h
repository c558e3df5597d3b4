/* SPDX-License-Identifier: MIT */
/*
 * The kernel's spellings of atomics, for the code libkgo compiles from
 * kgo.ko's side of the interface (uapi/kgo_runq_ops.h, the run-queue
 * operations).  Each is a GCC __atomic builtin on the plain __u32/__u64
 * field (internal.h says why not _Atomic), with the kernel's ordering or
 * a stronger one:
 *
 *   READ_ONCE(x)             relaxed load
 *   WRITE_ONCE(x, v)         relaxed store
 *   smp_load_acquire(p)      acquire load
 *   smp_store_release(p, v)  release store
 *   xchg(p, v)               seq_cst exchange (the kernel's is fully ordered)
 *   cmpxchg(p, old, new)     seq_cst compare-and-swap, returning the value
 *                            it found; relaxed when it fails, as the
 *                            kernel's failed cmpxchg orders nothing either
 *
 * Real atomics, never volatile accesses as the kernel's READ_ONCE is: in
 * C11 a volatile access racing a write is a data race, and
 * ThreadSanitizer (the KGO_TSAN flavour) would report every one.  On
 * x86-64 each compiles to the instruction the kernel uses: a plain mov for
 * the loads and stores, xchg, lock cmpxchg.  The one thing a relaxed load
 * lacks is READ_ONCE's ordering of the loads whose address depends on the
 * value read; the run-queue code relies on none (it indexes the ring only
 * with acquired indices, or with the owner's own tail).
 *
 * Include it only where that shared code is compiled, after every system
 * header: names such as xchg are macros from here on.
 */
#ifndef KGO_KATOMIC_H
#define KGO_KATOMIC_H

#include <linux/types.h>
#include <stdbool.h>

#if defined(READ_ONCE) || defined(WRITE_ONCE) || defined(smp_load_acquire) || \
	defined(smp_store_release) || defined(xchg) || defined(cmpxchg)
#error "katomic.h: a kernel atomic is already defined"
#endif

#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define xchg(p, v)		__atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define cmpxchg(p, old, new) ({						\
	__typeof__(*(p)) kgo_cmpxchg_old_ = (old);			\
	__atomic_compare_exchange_n((p), &kgo_cmpxchg_old_, (new), false, \
				    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED); \
	kgo_cmpxchg_old_;						\
})

#endif /* KGO_KATOMIC_H */
