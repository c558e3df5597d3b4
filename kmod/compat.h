/* SPDX-License-Identifier: GPL-2.0 */
/* Differences between the kernels kgo builds for (6.1 and 6.12). */
#ifndef KGO_KMOD_COMPAT_H
#define KGO_KMOD_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#endif /* KGO_KMOD_COMPAT_H */
