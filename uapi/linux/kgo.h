/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The interface between kgo.ko and libkgo: ioctl numbers and arguments,
 * and the layout of the memory the module shares with the process.
 *
 * One open() of /dev/kgo is one scheduler instance owned by the opening
 * process.  The protocol, in Go's words:
 *
 *   KGO_IOC_SETUP    procresize at start-up: create nprocs Ps and the shared
 *                    region, which is then mmap()ed at offset 0.
 *   KGO_IOC_ATTACH   a thread becomes an M (optionally taking an idle P).
 *   KGO_IOC_PARK     findrunnable's slow half + stopm: the M's P has no
 *                    local work; look in the global queue, steal, else
 *                    release the P and sleep until work arrives.
 *   KGO_IOC_READY    goready from anywhere: global queue + wakep.
 *   KGO_IOC_WAKEP    start a spinning M on an idle P.
 *   KGO_IOC_RUNQPUTSLOW  the local ring is full: move all of it and one
 *                    more G to the global queue in one batch.
 *   KGO_IOC_GLOBRUNQGET  the 61st-tick rule: take a batch from the global
 *                    queue into the local ring.
 *   KGO_IOC_STEAL    one explicit steal pass.
 *   KGO_IOC_SET_NPROCS  procresize later on.
 *   KGO_IOC_STATS    counters.
 *   KGO_IOC_SHUTDOWN wake every parked M with -ESHUTDOWN; the instance is
 *                    finished.
 *   KGO_IOC_SET_PREEMPT  where the library's preemption trampoline and its
 *                    own code are, and the time slice (sysmon, below).
 *   KGO_IOC_WANTM    the library's spawner thread waits here until the
 *                    pool of spare Ms runs low; returns how many to start.
 *                    The caller's previous answer is settled by then: each
 *                    M asked for has attached or will never (a failed
 *                    thread start), so the module stops counting it.
 *   KGO_IOC_STACKMAP a layout of goroutine stacks with guards, mapped
 *                    many stacks to one mapping (below).
 *
 * sysmon.  A module kthread watches every M that holds a P.  An M blocked
 * in the kernel (any system call, fault or sleep) while running a G loses
 * its P to a spare M (handoff), and a G that has run longer than the slice
 * while other Gs wait is preempted.  Either way the G keeps its thread:
 * on its next return to user mode the thread waits, in the kernel, for a
 * P (at once if one is idle; else its locked-M token waits in the global
 * queue like a G, and whoever takes it hands it a P), and then goes on
 * exactly where it was.  No register is changed, no system call fails or
 * restarts because of it, and no signal is split from its thread.
 *
 * A G is an opaque, non-zero 64-bit token chosen by the library, with bit
 * 63 clear; the module never dereferences it.  A token with bit 63 set is
 * the module's: a locked-M token (KGO_TOKEN_LOCKEDM) stands for an M that
 * waits for a P to go on with the G it keeps.  Whoever takes one from a
 * run queue passes it to KGO_IOC_PARK with KGO_PARK_STARTLOCKEDM.
 * Everything user space writes into the shared region is untrusted by the
 * module.
 *
 * Sized arguments (KGO_FEAT_SIZED_ARGS).  Every argument struct begins
 * with __u32 size, which the caller sets to sizeof the struct as it was
 * compiled, and the ioctl number carries the same size (the _IOWR() below
 * does, from the same sizeof).  The two must agree (-EINVAL otherwise):
 * the module reads exactly size bytes, never more.  The module dispatches
 * on the number's type, number and direction, so a struct of another size
 * still reaches its handler:
 *   - size below the struct's KGO_*_SIZE_VER0 (its first layout): -EINVAL;
 *   - smaller than the module's struct (an older caller): the fields it
 *     lacks read as zero, and each field's zero means its default;
 *   - larger (a newer caller): accepted if every byte past the module's
 *     struct is zero, -E2BIG otherwise;
 *   - output is written only up to the smaller of the two sizes, so no
 *     byte past the caller's struct is ever touched.
 * Fields are only ever appended.  Every reserved field, and every field
 * the module only writes (marked out), must be zero on input (-EINVAL), so
 * that a later layout may give them a meaning.  KGO_IOC_SIZED() makes the
 * number for a struct of another size (tests, shims for older layouts).
 *
 * DETACH and SET_NPROCS take a bare __u32 and WAKEP, SHUTDOWN and WANTM
 * nothing: there is nothing in them to grow, and a call that needs more
 * will be a new, sized ioctl behind a new feature bit.  Their numbers must
 * match exactly.
 *
 * A library checks features, not the version number, before it uses
 * anything: a bit for each thing it needs.  A module without
 * KGO_FEAT_SIZED_ARGS predates all this and answers this header's
 * KGO_IOC_VERSION with -ENOTTY (its number has another size and
 * direction); this module refuses the older number the same way.
 */
#ifndef _UAPI_KGO_H
#define _UAPI_KGO_H

#include <linux/const.h>
#include <linux/types.h>
#include <linux/ioctl.h>

#define KGO_DEVICE		"/dev/kgo"

#define KGO_VERSION_MAJOR	0
#define KGO_VERSION_MINOR	2
#define KGO_VERSION_PATCH	0

/* Feature bits in kgo_version.features. */
#define KGO_FEAT_SHARED_RUNQ	0x1U	/* mmap()ed per-P rings */
#define KGO_FEAT_PROCRESIZE	0x2U	/* KGO_IOC_SET_NPROCS */
#define KGO_FEAT_SYSMON		0x4U	/* handoff, preemption, per-M slots */
#define KGO_FEAT_STACKMAP	0x100U	/* KGO_IOC_STACKMAP: goroutine stacks */
#define KGO_FEAT_SIZED_ARGS	0x200U	/* every argument begins with its size */
/* sysmon hears of a blocked M from the scheduler (handoffs_notified) */
#define KGO_FEAT_BLOCK_NOTIFY	0x400U
/* KGO_IOC_READY takes a batch (kgo_ready.gs, nr) */
#define KGO_FEAT_READY_BATCH	0x800U

/* @cmd, one of the sized KGO_IOC_* below, for a struct of @size bytes. */
#define KGO_IOC_SIZED(cmd, size) \
	(((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT)) | \
	 (((size) & _IOC_SIZEMASK) << _IOC_SIZESHIFT))

#define KGO_RING_SIZE		256	/* slots in a P's local ring */

/*
 * A locked-M token: bit 63, a 31-bit wait number in bits 32..62, the M id
 * in bits 0..31.  Only the module makes them; one that does not name an M
 * waiting now under that number is stale and does nothing.
 */
#define KGO_TOKEN_LOCKEDM	_BITULL(63)
#define KGO_TOKEN_IS_LOCKEDM(t)	(((t) & KGO_TOKEN_LOCKEDM) != 0)
#define KGO_NO_P		0xffffffffU	/* "this M holds no P" */

/* KGO_IOC_VERSION: everything but size is out. */
struct kgo_version {
	__u32 size;
	__u32 major;
	__u32 minor;
	__u32 patch;
	__u32 features;
	__u32 ring_size;	/* KGO_RING_SIZE */
	__u32 max_procs;	/* module limit on Ps per instance */
	__u32 max_ms;		/* module limit on Ms per instance */
	__u32 reserved[2];
};

#define KGO_VERSION_SIZE_VER0	40

/*
 * KGO_IOC_SETUP.  in: nprocs, max_procs (0: nprocs), gq_limit (0: the
 * module's default), max_ms (0: the module's default), each reported back
 * as applied.  out: where things are in the region to mmap() at offset 0.
 * A caller of the first layout (VER0) gets the default M slots and does
 * not learn where they are.
 */
struct kgo_setup {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u32 nprocs;
	__u32 max_procs;
	__u32 gq_limit;		/* global queue capacity in Gs */
	__u32 ring_size;	/* out */
	__u64 map_size;		/* out */
	__u32 sched_off;	/* out: struct kgo_shared_sched */
	__u32 p_off;		/* out: first struct kgo_shared_p */
	__u32 p_stride;		/* out: bytes from one P to the next */
	__u32 reserved0;
	/* KGO_SETUP_SIZE_VER0 */
	__u32 max_ms;		/* M slots */
	__u32 m_off;		/* out: first struct kgo_shared_m (slot = M id) */
	__u32 m_stride;		/* out: bytes from one M slot to the next */
	__u32 reserved1;
};

#define KGO_SETUP_SIZE_VER0	48

/*
 * Instance-wide counters, written by the module, read by the library to
 * decide whether a system call is needed at all.
 */
struct kgo_shared_sched {
	__u32 nprocs;		/* current GOMAXPROCS */
	__u32 npidle;		/* idle Ps */
	__u32 nmspinning;	/* Ms looking for work */
	__u32 gq_len;		/* Gs in the global queue */
	__u32 nmidle;		/* Ms asleep in park without a P */
	__u32 reserved[11];
};

/*
 * One P's run queue.  head is advanced by any consumer with a fully
 * ordered compare-and-swap; tail is written only by the P's owner
 * (store-release); runnext is put by the owner's exchange and taken by
 * compare-and-swap.  Indices run freely and are masked with
 * KGO_RING_SIZE - 1.  head and tail live on separate cache lines from
 * each other and from the ring.  The protocol in full: docs/design.md,
 * "The run-queue rules"; the operations, which kgo.ko and libkgo both
 * compile: uapi/kgo_runq_ops.h.
 */
struct kgo_shared_p {
	__u32 head;
	__u32 pad0[15];
	__u32 tail;
	__u32 status;		/* KGO_P_* as the module sees it */
	__u32 pad1[14];
	__u64 runnext;		/* 0 when empty */
	__u64 pad2[7];
	__u64 ring[KGO_RING_SIZE];
};

/*
 * One M's slot, indexed by its M id.  state is the handshake between the
 * library and sysmon, always changed by compare-and-swap:
 *   KGO_MS_LIB  the M is in the library (or has no P): nothing is taken
 *               from it.  The library moves G -> LIB on every entry.
 *   KGO_MS_G    the M is running a G's own code: sysmon may take its P
 *               while it is blocked in the kernel, or preempt it (G ->
 *               LOST either way).  The library stores G when it switches
 *               into a G, and the module when it gives the P back.
 *   KGO_MS_LOST the M has no P.  The thread waits for one in the kernel
 *               before its G's code goes on; should it get to the library
 *               first (a signal handler), the library's entry finds LOST
 *               and asks for the P with KGO_PARK_EXITSYSCALL.
 * p is the P the M holds: after a wait it may be another one than before.
 * switches is bumped by the library at every switch between Gs; sysmon
 * uses it to see how long the current G has run.  preempt_off, non-zero,
 * asks sysmon not to preempt the G (kgo_preempt_disable); preempt_req is
 * set when a preemption was put off for that or because the M was in the
 * library: the library yields at its next safe point.
 */
struct kgo_shared_m {
	__u32 state;
	__u32 p;		/* module: the P this M holds, or KGO_NO_P */
	__u64 switches;		/* library */
	__u64 g;		/* library: the G running, 0 on g0 */
	__u32 preempt_off;	/* library: the G's kgo_preempt_disable depth */
	__u32 preempt_req;	/* module: a preemption was put off */
	__u64 reserved[4];
};

#define KGO_MS_LIB	0
#define KGO_MS_G	1
#define KGO_MS_LOST	2

/* KGO_IOC_SET_PREEMPT: all in.  VER0 keeps no spare Ms. */
struct kgo_preempt {
	__u32 size;
	__u32 flags;		/* must be 0 */
	/* where a G still running at SHUTDOWN is sent (never to resume) */
	__u64 trampoline;
	__u64 text_start;	/* the library's code, which holds it */
	__u64 text_end;
	__u64 slice_ns;		/* 0: no preemption; else >= 1 ms */
	/* KGO_PREEMPT_SIZE_VER0 */
	__u32 spare_ms;		/* idle Ms to keep for handoffs (KGO_IOC_WANTM) */
	__u32 reserved[5];	/* room to grow in place */
};

#define KGO_PREEMPT_SIZE_VER0	40

#define KGO_P_IDLE	0
#define KGO_P_RUNNING	1
#define KGO_P_DEAD	2	/* beyond nprocs after a procresize */

/* KGO_IOC_ATTACH */
#define KGO_ATTACH_ACQUIRE_P	0x1U
struct kgo_attach {
	__u32 size;
	__u32 flags;
	__u32 m;		/* out: M id, to name this M in later calls */
	__u32 p;		/* out: the P acquired, or KGO_NO_P */
};

#define KGO_ATTACH_SIZE_VER0	16

/* KGO_IOC_PARK, KGO_IOC_GLOBRUNQGET and KGO_IOC_STEAL */
#define KGO_PARK_NOWAIT		0x1U	/* do not sleep: -EAGAIN */
/*
 * exitsyscall: the M's slot says LOST (it has no P) and its G's code is
 * to go on, on this thread.  Wait for a P (the one it had if idle, any
 * idle one, else its locked-M token waits in the global queue) and return
 * with it; g must be 0.  -EINTR on a signal: still waiting (the token
 * stays queued), ask again.
 */
#define KGO_PARK_EXITSYSCALL	0x2U
/*
 * g is a locked-M token the caller took from a run queue: hand the
 * caller's P to that M (Go's startlockedm), then park as usual.  A stale
 * token is dropped and the park goes on with the P.
 */
#define KGO_PARK_STARTLOCKEDM	0x4U
/*
 * The caller keeps its G (kgo_lock_thread) and lets others run first:
 * if anything else is runnable and an M is idle to take the P, the M's
 * locked-M token goes to the global queue, the P to that M, and the
 * caller waits for a P as with EXITSYSCALL.  Else it returns at once.
 */
#define KGO_PARK_YIELDLOCKED	0x8U
/*
 * The caller keeps its G, which waits (kgo_lock_thread): give the P away
 * (to an idle M if it has work) and return at once, without a P.
 */
#define KGO_PARK_RELEASEP	0x10U
/*
 * Once the arguments pass their checks, the struct is written back on
 * every return, failures included (the P is reported: the M may have lost
 * it), with STARTLOCKEDM cleared and g 0 unless a G was found.  So p holds
 * output, and a PARK cut short by a signal fails with -EINTR instead of
 * restarting (it would read p back as input): the caller zeroes p and
 * asks again.
 */
struct kgo_park {
	__u32 size;
	__u32 flags;
	__u32 m;
	__u32 p;		/* out: the P the M holds now */
	/* PARK: 0 = no limit, else -ETIMEDOUT after it; the others: 0 */
	__u64 timeout_ns;
	/* in: the token with STARTLOCKEDM, else 0; out: the G to run now */
	__u64 g;
};

#define KGO_PARK_SIZE_VER0	32

/*
 * KGO_IOC_READY and KGO_IOC_RUNQPUTSLOW: all in.  READY may carry more Gs
 * than g (KGO_FEAT_READY_BATCH): nr tokens at user address gs, all queued
 * with g or none of them, and one M woken for them all.
 */
struct kgo_ready {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u64 g;
	__u32 m;		/* RUNQPUTSLOW: the owner M; READY: must be 0 */
	__u32 reserved;
	/* KGO_READY_SIZE_VER1 */
	__u64 gs;		/* READY: address of nr more tokens (__u64) */
	__u32 nr;		/* READY: at most KGO_READY_BATCH_MAX; RUNQPUTSLOW: 0 */
	__u32 reserved1;
};

#define KGO_READY_SIZE_VER0	24
#define KGO_READY_SIZE_VER1	40
#define KGO_READY_BATCH_MAX	KGO_RING_SIZE

/*
 * KGO_IOC_STATS: everything but size is out.  VER0 ends before the sysmon
 * counters.
 */
struct kgo_stats {
	__u32 size;
	__u32 nprocs;
	__u32 npidle;
	__u32 nms;
	__u32 nmidle;
	__u32 nmspinning;
	__u32 gq_len;
	__u32 reserved;
	__u64 parks;		/* sleeps in park */
	__u64 wakeups;		/* Ms woken by wakep/ready */
	__u64 steals;		/* successful steals */
	__u64 stolen;		/* Gs moved by them */
	__u64 gq_puts;		/* Gs put in the global queue */
	__u64 gq_gets;		/* Gs taken from the global queue */
	__u64 readies;		/* KGO_IOC_READY calls */
	__u64 ioctls;		/* every ioctl on the instance */
	/* KGO_STATS_SIZE_VER0 */
	__u64 handoffs;		/* Ps taken from blocked Ms */
	__u64 preempts;		/* Gs stopped in place for running too long */
	__u64 exitsyscalls;	/* blocked Ms coming back without a P */
	__u64 sysmon_wakeps;	/* idle Ms woken by sysmon for stranded work */
	/* preemptions put off: no idle M to take the P, or preemption off */
	__u64 preempt_deferrals;
	__u64 lockedm_waits;	/* Ms that waited, G in hand, for a P */
	__u64 lockedm_starts;	/* Ps handed to such an M (startlockedm) */
	/* KGO_STATS_SIZE_VER1 */
	__u64 handoffs_notified; /* handoffs of blocks the scheduler reported */
};

#define KGO_STATS_SIZE_VER0	96
#define KGO_STATS_SIZE_VER1	104

/*
 * The ioctl type: 0xBB, which Documentation/userspace-api/ioctl/
 * ioctl-number.rst (6.12) lists for no one and no kernel header uses as a
 * type.
 */
#define KGO_IOC_MAGIC		0xBB
#define KGO_IOC_VERSION		_IOWR(KGO_IOC_MAGIC, 0x00, struct kgo_version)
#define KGO_IOC_SETUP		_IOWR(KGO_IOC_MAGIC, 0x01, struct kgo_setup)
#define KGO_IOC_ATTACH		_IOWR(KGO_IOC_MAGIC, 0x02, struct kgo_attach)
#define KGO_IOC_DETACH		_IOW(KGO_IOC_MAGIC, 0x03, __u32)
#define KGO_IOC_PARK		_IOWR(KGO_IOC_MAGIC, 0x04, struct kgo_park)
#define KGO_IOC_READY		_IOW(KGO_IOC_MAGIC, 0x05, struct kgo_ready)
#define KGO_IOC_WAKEP		_IO(KGO_IOC_MAGIC, 0x06)
#define KGO_IOC_RUNQPUTSLOW	_IOW(KGO_IOC_MAGIC, 0x07, struct kgo_ready)
#define KGO_IOC_GLOBRUNQGET	_IOWR(KGO_IOC_MAGIC, 0x08, struct kgo_park)
#define KGO_IOC_STEAL		_IOWR(KGO_IOC_MAGIC, 0x09, struct kgo_park)
#define KGO_IOC_SET_NPROCS	_IOW(KGO_IOC_MAGIC, 0x0a, __u32)
#define KGO_IOC_STATS		_IOWR(KGO_IOC_MAGIC, 0x0b, struct kgo_stats)
#define KGO_IOC_SHUTDOWN	_IO(KGO_IOC_MAGIC, 0x0c)
#define KGO_IOC_SET_PREEMPT	_IOW(KGO_IOC_MAGIC, 0x0d, struct kgo_preempt)
#define KGO_IOC_WANTM		_IO(KGO_IOC_MAGIC, 0x0e)

/*
 * KGO_IOC_STACKMAP: goroutine stacks served by the module, many stacks to
 * one mapping (so vm.max_map_count does not bound the goroutines alive).
 * The library declares a layout, a slot of @stride bytes whose lowest
 * @guard bytes are a guard, and gets back the mmap() offset of that
 * layout.  A MAP_PRIVATE mapping of /dev/kgo at that offset (plus any
 * multiple of @stride, for at most KGO_STACKMAP_WINDOW bytes) then reads
 * as zeroes and, on a write, gets ordinary anonymous memory of the
 * process's own (charged to its memory cgroup, copied on fork, freed by
 * MADV_DONTNEED), except the guard bytes of each slot, whose every access
 * is SIGSEGV.  Both sizes are multiples of the page size, stride at most
 * KGO_STACKMAP_STRIDE_MAX, 0 < guard < stride.  The same layout declared
 * again gets the same offset; at most KGO_STACKMAP_LAYOUTS of them per
 * instance (-ENOSPC past that).  Never shared, never executable.
 */
struct kgo_stackmap {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u64 stride;		/* in: bytes from one slot to the next */
	__u64 guard;		/* in: guard bytes at the low end of each slot */
	__u64 offset;		/* out: the mmap() offset of the layout */
};

#define KGO_STACKMAP_SIZE_VER0	32

#define KGO_STACKMAP_LAYOUTS	8
#define KGO_STACKMAP_STRIDE_MAX	0x80000000ULL	/* 2 GiB */
#define KGO_STACKMAP_WINDOW_SHIFT 40	/* layout i: offset (i + 1) << 40 */
#define KGO_STACKMAP_WINDOW	0x10000000000ULL	/* 1 << 40: 1 TiB */

#define KGO_IOC_STACKMAP	_IOWR(KGO_IOC_MAGIC, 0x20, struct kgo_stackmap)

#endif /* _UAPI_KGO_H */
