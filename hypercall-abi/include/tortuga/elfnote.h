/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: ELF notes of a Tortuga guest kernel.
 *
 * A kernel built for Tortuga carries a PT_NOTE segment with notes whose
 * name is "Tortuga" (TG_ELFNOTE_NAME). The builder refuses a kernel
 * without TG_ELFNOTE_ABI_VERSION, or whose major version differs.
 * Each note's descriptor is a little-endian 64-bit value.
 */
#ifndef TORTUGA_ELFNOTE_H
#define TORTUGA_ELFNOTE_H

#define TG_ELFNOTE_NAME "Tortuga"

#define TG_ELFNOTE_ABI_VERSION 1    /* TG_ABI_VERSION the kernel was built for; required */
#define TG_ELFNOTE_VIRT_BASE 2      /* virtual address of gpa 0; default 0xffffffff80000000 */
#define TG_ELFNOTE_ENTRY 3          /* entry point; default e_entry */
#define TG_ELFNOTE_HYPERCALL_PAGE 4 /* VA of a page-aligned page in the image the VMM fills */
#define TG_ELFNOTE_FEATURES 5       /* TG_FEAT_* word 0 the kernel requires */
#define TG_ELFNOTE_PHYSMAP_VA 6     /* VA at which the builder also maps all of RAM (ABI 5.1) */

#define TG_DEFAULT_VIRT_BASE 0xffffffff80000000ULL

#endif /* TORTUGA_ELFNOTE_H */
