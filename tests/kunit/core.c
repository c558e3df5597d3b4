// SPDX-License-Identifier: GPL-2.0
/*
 * The kgo core compiled into the KUnit module: the same sources as
 * kgo.ko, minus the device and module_init, plus the module parameters'
 * variables at their defaults.
 */
#include <linux/module.h>

#include "../../kmod/runq.c"
#include "../../kmod/gq.c"
#include "../../kmod/sched.c"
#include "../../kmod/m.c"
#include "../../kmod/procresize.c"
#include "../../kmod/instance.c"
#include "../../kmod/stats.c"
#include "../../kmod/sysmon.c"
#include "../../kmod/preempt.c"
#include "../../kmod/lockedm.c"
#include "../../kmod/trace.c"
#include "../../kmod/stackmap.c"
#include "../../kmod/blockwatch.c"

unsigned int kgo_max_procs = 256;
unsigned int kgo_max_ms = 1024;
unsigned int kgo_gq_limit = 1U << 20;
unsigned int kgo_default_ms = 256;
unsigned int kgo_max_insts_per_user = 64;

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for kgo's scheduler core");
