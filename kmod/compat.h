/* SPDX-License-Identifier: GPL-2.0 */
/* Differences between the kernels kgo builds for (6.1 and 6.12). */
#ifndef KGO_KMOD_COMPAT_H
#define KGO_KMOD_COMPAT_H

#include <linux/mm.h>

/* Kbuild defines KGO_HAVE_VM_FLAGS_SET when the headers have it (6.3+). */
#ifndef KGO_HAVE_VM_FLAGS_SET
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
