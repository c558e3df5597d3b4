// SPDX-License-Identifier: GPL-2.0
/*
 * The administrator's view, /sys/kernel/debug/kgo/instances (root only,
 * as debugfs is): one block per live instance with its owner, Ps, Ms,
 * queue lengths and counters.  The owner itself uses the STATS ioctl.
 * Also sysmon's passes: sysmon_passes, sysmon_pass_ns (their total wall
 * time) and sysmon_worst_pass_ns (root may write 0 to it to start over).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "kgo_internal.h"

static struct dentry *kgo_debugfs_dir;

static void kgo_debugfs_show_inst(struct seq_file *sf, struct kgo_inst *inst)
{
	struct kgo_stats st;
	u32 i;

	kgo_ioc_stats(inst, &st);
	seq_printf(sf, "instance %u pid %d procs %u idleprocs %u threads %u idlethreads %u spinning %u runqueue %u\n",
		   inst->id, inst->owner_tgid, st.nprocs, st.npidle, st.nms, st.nmidle,
		   st.nmspinning, st.gq_len);
	seq_puts(sf, "  runq");
	for (i = 0; i < st.nprocs && i < inst->max_procs; i++)
		seq_printf(sf, " P%u:%s%u", i,
			   READ_ONCE(inst->ps[i].sh->runnext) ? "+" : "",
			   kgo_runqlen(inst->ps[i].sh));
	seq_putc(sf, '\n');
	seq_printf(sf, "  parks %llu wakeups %llu steals %llu stolen %llu gq_puts %llu gq_gets %llu readies %llu ioctls %llu\n",
		   st.parks, st.wakeups, st.steals, st.stolen, st.gq_puts, st.gq_gets,
		   st.readies, st.ioctls);
	seq_printf(sf, "  handoffs %llu preempts %llu exitsyscalls %llu sysmon_wakeps %llu\n",
		   st.handoffs, st.preempts, st.exitsyscalls, st.sysmon_wakeps);
	seq_printf(sf, "  preempt_deferrals %llu lockedm_waits %llu lockedm_starts %llu handoffs_notified %llu\n",
		   st.preempt_deferrals, st.lockedm_waits, st.lockedm_starts,
		   st.handoffs_notified);
}

static int kgo_debugfs_instances_show(struct seq_file *sf, void *unused)
{
	struct kgo_inst *inst;

	mutex_lock(&kgo_sysmon_lock);
	list_for_each_entry(inst, &kgo_sysmon_list, sysmon_link)
		kgo_debugfs_show_inst(sf, inst);
	mutex_unlock(&kgo_sysmon_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kgo_debugfs_instances);

/* Module init; a missing debugfs is not an error. */
void kgo_debugfs_init(void)
{
	kgo_debugfs_dir = debugfs_create_dir("kgo", NULL);
	debugfs_create_file("instances", 0400, kgo_debugfs_dir, NULL,
			    &kgo_debugfs_instances_fops);
	debugfs_create_u64("sysmon_passes", 0400, kgo_debugfs_dir, &kgo_sysmon_passes);
	debugfs_create_u64("sysmon_pass_ns", 0400, kgo_debugfs_dir, &kgo_sysmon_pass_ns);
	debugfs_create_u64("sysmon_worst_pass_ns", 0600, kgo_debugfs_dir,
			   &kgo_sysmon_worst_ns);
}

void kgo_debugfs_exit(void)
{
	debugfs_remove_recursive(kgo_debugfs_dir);
}
