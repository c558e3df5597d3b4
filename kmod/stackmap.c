// SPDX-License-Identifier: GPL-2.0
/*
 * Goroutine stacks, many to one mapping (KGO_IOC_STACKMAP).  The library
 * declares a layout, slots of stride pages whose lowest guard pages are
 * a guard, and maps /dev/kgo privately at the layout's offset.  The fault
 * handler below decides by the file offset alone: a guard page is
 * SIGSEGV, any other page is the instance's zeroed page.  The mapping is
 * private, so a write fault copies that page into an anonymous page of the
 * process (do_cow_fault): charged to its memory cgroup, counted in its
 * RSS, copied on fork, freed by MADV_DONTNEED; and a read fault maps the
 * zeroed page read-only, to be copied on the first write.  The zeroed page
 * is therefore never written.
 *
 * The layout is a function of the page's file offset, never of where the
 * VMA starts, so whatever splits, moves or shrinks a VMA (munmap,
 * mprotect, mremap) keeps every guard where it was: no may_split or
 * mremap hook is needed.  Growth by mremap is refused (VM_DONTEXPAND),
 * since it could reach past the layout's window.
 */
#include <linux/mm.h>

#include "compat.h"
#include "kgo_internal.h"

#define KGO_STACKMAP_WINDOW_PAGES	(KGO_STACKMAP_WINDOW >> PAGE_SHIFT)

/*
 * kgo_stackmap_layout_of - the layout @pgoff falls in, or NULL; *@rel is
 * the page's index inside its layout's window.  Any context.  Pairs with
 * the store-release of count in kgo_stackmap_declare: a layout below count
 * is complete, and the zeroed page is allocated, before count covers it.
 */
static const struct kgo_stackmap_layout *
kgo_stackmap_layout_of(struct kgo_inst *inst, unsigned long pgoff, unsigned long *rel)
{
	unsigned long win = pgoff / KGO_STACKMAP_WINDOW_PAGES;
	u32 count;

	/* Pairs with the store-release in kgo_stackmap_declare. */
	count = smp_load_acquire(&inst->stackmaps.count);
	if (!win || win > count)
		return NULL;
	*rel = pgoff % KGO_STACKMAP_WINDOW_PAGES;
	return &inst->stackmaps.layouts[win - 1];
}

/*
 * The fault handler, with the mmap lock or the VMA's lock held for read
 * (the core decides, as for any file mapping).  Sleeps nowhere.  The
 * reference taken here goes to the page table (read fault) or is dropped
 * by do_cow_fault once the copy is made.
 */
static vm_fault_t kgo_stackmap_fault(struct vm_fault *vmf)
{
	struct kgo_inst *inst = vmf->vma->vm_private_data;
	const struct kgo_stackmap_layout *l;
	unsigned long rel;

	l = kgo_stackmap_layout_of(inst, vmf->pgoff, &rel);
	if (!l)
		return VM_FAULT_SIGBUS;		/* cannot happen: mmap checked */
	if (rel % l->stride_pages < l->guard_pages)
		return VM_FAULT_SIGSEGV;	/* a guard: the library's overflow report */
	get_page(inst->stackmaps.zero);
	vmf->page = inst->stackmaps.zero;
	return 0;
}

static const struct vm_operations_struct kgo_stackmap_vm_ops = {
	.fault = kgo_stackmap_fault,
};

/*
 * kgo_stackmap_declare - KGO_IOC_STACKMAP: find or add the layout @sm
 * describes and return its offset in it.  Process context, the owner;
 * takes inst->setup_lock, which serialises declarations (readers take no
 * lock: see kgo_stackmap_layout_of).  Every field is user input.
 */
int kgo_stackmap_declare(struct kgo_inst *inst, struct kgo_stackmap *sm)
{
	struct kgo_stackmaps *sms = &inst->stackmaps;
	unsigned long stride, guard;
	int err = 0;
	u32 i;

	if (sm->flags || !sm->stride || !sm->guard ||
	    sm->stride > KGO_STACKMAP_STRIDE_MAX || sm->guard >= sm->stride ||
	    !PAGE_ALIGNED(sm->stride) || !PAGE_ALIGNED(sm->guard))
		return -EINVAL;
	stride = sm->stride >> PAGE_SHIFT;
	guard = sm->guard >> PAGE_SHIFT;

	mutex_lock(&inst->setup_lock);
	for (i = 0; i < sms->count; i++)
		if (sms->layouts[i].stride_pages == stride &&
		    sms->layouts[i].guard_pages == guard)
			goto found;
	if (i == KGO_STACKMAP_LAYOUTS) {
		err = -ENOSPC;
		goto out;
	}
	if (!sms->zero) {
		sms->zero = alloc_page(KGO_GFP | __GFP_ZERO);
		if (!sms->zero) {
			err = -ENOMEM;
			goto out;
		}
	}
	sms->layouts[i].stride_pages = stride;
	sms->layouts[i].guard_pages = guard;
	/* Pairs with the load-acquire in kgo_stackmap_layout_of. */
	smp_store_release(&sms->count, i + 1);
found:
	sm->offset = (u64)(i + 1) << KGO_STACKMAP_WINDOW_SHIFT;
out:
	mutex_unlock(&inst->setup_lock);
	return err;
}

/*
 * kgo_stackmap_mmap - a private, never executable mapping of stacks that
 * starts at a slot of a declared layout and stays inside its window.  The
 * owner's mmap, mmap lock held for writing.  The VMA holds the file, so
 * the instance outlives it: vm_private_data needs no reference of its own.
 */
int kgo_stackmap_mmap(struct kgo_inst *inst, struct vm_area_struct *vma)
{
	const struct kgo_stackmap_layout *l;
	unsigned long rel;

	mmap_assert_write_locked(vma->vm_mm);
	l = kgo_stackmap_layout_of(inst, vma->vm_pgoff, &rel);
	if (!l || rel % l->stride_pages ||
	    vma_pages(vma) > KGO_STACKMAP_WINDOW_PAGES - rel)
		return -EINVAL;
	/* Shared, a write fault would map the zeroed page writable. */
	if (vma->vm_flags & (VM_SHARED | VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTEXPAND);
	vma->vm_ops = &kgo_stackmap_vm_ops;
	vma->vm_private_data = inst;
	return 0;
}

/*
 * kgo_stackmap_free - the instance is being freed: no VMA of it remains.
 * Pages copied from the zeroed page are the processes' own; the zeroed
 * page may still be pinned by someone (a read-only get_user_pages), so it
 * is put, not freed.
 */
void kgo_stackmap_free(struct kgo_inst *inst)
{
	if (inst->stackmaps.zero)
		put_page(inst->stackmaps.zero);
	inst->stackmaps.zero = NULL;
}
