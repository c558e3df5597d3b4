// SPDX-License-Identifier: GPL-2.0
/*
 * kgo.ko: Go's goroutine scheduler, the cross-thread half, as a kernel
 * module.  Module parameters (the per-instance limits), and registration
 * of /dev/kgo.
 */
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/stringify.h>

#include "kgo_internal.h"

unsigned int kgo_max_procs = 256;
module_param_named(max_procs, kgo_max_procs, uint, 0444);
MODULE_PARM_DESC(max_procs, "Most Ps (GOMAXPROCS) one instance may have (default 256)");

unsigned int kgo_max_ms = 1024;
module_param_named(max_ms, kgo_max_ms, uint, 0444);
MODULE_PARM_DESC(max_ms, "Most Ms (attached threads) one instance may have (default 1024)");

unsigned int kgo_default_ms = 256;
module_param_named(default_ms, kgo_default_ms, uint, 0444);
MODULE_PARM_DESC(default_ms, "M slots an instance gets when SETUP does not say (default 256)");

unsigned int kgo_max_insts_per_user = 64;
module_param_named(max_instances_per_user, kgo_max_insts_per_user, uint, 0644);
MODULE_PARM_DESC(max_instances_per_user,
		 "Most instances (opens of /dev/kgo) one user may have; CAP_SYS_RESOURCE is exempt (default 64)");

unsigned int kgo_gq_limit = 1U << 20;
module_param_named(gq_limit, kgo_gq_limit, uint, 0444);
MODULE_PARM_DESC(gq_limit, "Most Gs one instance's global run queue may hold (default 1048576)");

static int __init kgo_module_init(void)
{
	int err;

	if (!kgo_max_procs || kgo_max_procs > 4096 || !kgo_max_ms ||
	    kgo_max_ms > 65536 || !kgo_gq_limit || !kgo_default_ms) {
		pr_err("invalid module parameters\n");
		return -EINVAL;
	}
	err = kgo_instances_init();
	if (err)
		return err;
	err = kgo_sysmon_start();
	if (err)
		goto fail_sysmon;
	kgo_blockwatch_init();
	err = misc_register(&kgo_miscdev);
	if (err)
		goto fail_misc;
	kgo_debugfs_init();
	pr_info("loaded, version %d.%d.%d\n", KGO_VERSION_MAJOR,
		KGO_VERSION_MINOR, KGO_VERSION_PATCH);
	return 0;
fail_misc:
	kgo_blockwatch_exit();
	kgo_sysmon_stop();
fail_sysmon:
	kgo_instances_exit();
	return err;
}

static void __exit kgo_module_exit(void)
{
	kgo_debugfs_exit();
	misc_deregister(&kgo_miscdev);
	kgo_blockwatch_exit();
	kgo_sysmon_stop();
	kgo_instances_exit();
}

module_init(kgo_module_init);
module_exit(kgo_module_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Go's G-M-P goroutine scheduler for C, the kernel half");
MODULE_AUTHOR("The kgo authors");
/* modinfo's version, which DKMS compares, from the one place it is set. */
MODULE_VERSION(__stringify(KGO_VERSION_MAJOR) "." __stringify(KGO_VERSION_MINOR) "."
	       __stringify(KGO_VERSION_PATCH));
