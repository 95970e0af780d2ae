/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: the PV MMU, multicall and memory reservation.
 *
 * The guest never writes a page table that is in use. Every frame of guest
 * RAM has a type (below); frames typed as page tables are mapped read-only
 * for the guest and change only through TG_HC_mmu_update,
 * TG_HC_update_va_mapping and TG_HC_mmuext_op, which the VMM validates and
 * then applies with a CPL0 routine in its reserved range. The rules, the
 * error code of every refused update and the exit costs are in ABI.md,
 * "The PV MMU".
 */
#ifndef TORTUGA_MEMORY_H
#define TORTUGA_MEMORY_H

#include "types.h"

/*
 * Page types. A frame has exactly one type at a time. A page-table type
 * is held while the frame is pinned or referenced by a present entry of a
 * typed table one level up; when the last such reference goes, the frame
 * returns to TG_PGT_WRITABLE. The guest never reads these numbers from
 * the VMM; they name the states ABI.md describes.
 */
#define TG_PGT_WRITABLE 0 /* ordinary RAM: may be mapped writable */
#define TG_PGT_L1 1       /* page table, level 1 (maps 4 KiB pages) */
#define TG_PGT_L2 2
#define TG_PGT_L3 3
#define TG_PGT_L4 4       /* top level: may be a base pointer */
#define TG_PGT_VMM 5      /* RAM the VMM also uses (shared info, rings,
			   * grant table frames): mappable, never a page
			   * table, never released by decrease_reservation */
#define TG_PGT_PINNED 0x80 /* flag on L1..L4: pinned by the guest */

/*
 * Bits of a page-table entry (all levels) as the guest writes them.
 * TG_PTE_US and TG_PTE_G are adjusted by the VMM (ABI.md): it stores US=1
 * and G=0 in every present entry, because guest kernel and user both run
 * at CPL3 and are separated by page tables, not by privilege.
 */
#define TG_PTE_P (1ULL << 0)
#define TG_PTE_RW (1ULL << 1)
#define TG_PTE_US (1ULL << 2)
#define TG_PTE_PWT (1ULL << 3)
#define TG_PTE_PCD (1ULL << 4)
#define TG_PTE_A (1ULL << 5)
#define TG_PTE_D (1ULL << 6)     /* L1 only; ignored above */
#define TG_PTE_PAT (1ULL << 7)   /* L1 only */
#define TG_PTE_PS (1ULL << 7)    /* L2/L3: large page, refused in v1 */
#define TG_PTE_G (1ULL << 8)
#define TG_PTE_AVL_LOW (7ULL << 9)              /* bits 9-11: guest's own */
#define TG_PTE_FRAME 0x000ffffffffff000ULL      /* bits 12-51 */
#define TG_PTE_AVL_HIGH (0x7fULL << 52)         /* bits 52-58: guest's own */
#define TG_PTE_PKEY (0xfULL << 59)              /* bits 59-62: must be 0 */
#define TG_PTE_NX (1ULL << 63)

/* Bits the VMM accepts in a present L1 entry; any other set bit: -EINVAL. */
#define TG_PTE_L1_ALLOWED                                                     \
	(TG_PTE_P | TG_PTE_RW | TG_PTE_US | TG_PTE_PWT | TG_PTE_PCD |         \
	 TG_PTE_A | TG_PTE_D | TG_PTE_PAT | TG_PTE_G | TG_PTE_AVL_LOW |       \
	 TG_PTE_FRAME | TG_PTE_AVL_HIGH | TG_PTE_NX)
/* Bits the VMM accepts in a present L2, L3 or L4 entry. */
#define TG_PTE_UPPER_ALLOWED                                                  \
	(TG_PTE_P | TG_PTE_RW | TG_PTE_US | TG_PTE_PWT | TG_PTE_PCD |         \
	 TG_PTE_A | TG_PTE_D | TG_PTE_G | TG_PTE_AVL_LOW | TG_PTE_FRAME |     \
	 TG_PTE_AVL_HIGH | TG_PTE_NX)

#define TG_PT_ENTRIES 512

/*
 * TG_HC_mmu_update(reqs, count, done)
 *   reqs:  guest VA of struct tg_mmu_update[count]
 *   count: at most TG_MMU_UPDATE_MAX (else -E2BIG, nothing done)
 *   done:  guest VA of a uint32_t that receives the number of requests
 *          applied, or 0
 * Requests are applied in order; the first refused one stops the batch
 * and its error is returned (*done is then its index).
 *
 * ptr is the guest-physical address of the 8-byte entry to write, which
 * is 8-byte aligned, so its low 3 bits carry the request type.
 */
struct tg_mmu_update {
	uint64_t ptr; /* entry gpa | TG_MMU_* */
	uint64_t val; /* new entry; for CLEAR_BITS the mask, then the old entry */
};
TG_ABI_ASSERT_SIZE(struct tg_mmu_update, 16);

#define TG_MMU_REQ_TYPE_MASK 0x7ULL
#define TG_MMU_NORMAL_PT_UPDATE 0     /* *ptr = val, validated */
#define TG_MMU_PT_UPDATE_PRESERVE_AD 1 /* *ptr = val | (*ptr & (A|D)), atomically */
#define TG_MMU_PT_CLEAR_BITS 2        /* *ptr &= ~val atomically; the entry's
				       * previous value is written back to val */
#define TG_MMU_UPDATE_MAX 4096

/*
 * TG_HC_mmuext_op(ops, count, done): like mmu_update, with struct
 * tg_mmuext_op[count], count at most TG_MMUEXT_OP_MAX.
 */
struct tg_mmuext_op {
	uint32_t cmd; /* TG_MMUEXT_* */
	uint32_t _pad0;
	uint64_t arg1; /* gfn, or virtual address for INVLPG_* */
	uint64_t arg2; /* vCPU bitmap for *_MULTI (bit n = vCPU n), else 0 */
};
TG_ABI_ASSERT_SIZE(struct tg_mmuext_op, 24);

#define TG_MMUEXT_PIN_L1_TABLE 0    /* arg1 = gfn */
#define TG_MMUEXT_PIN_L2_TABLE 1    /* arg1 = gfn */
#define TG_MMUEXT_PIN_L3_TABLE 2    /* arg1 = gfn */
#define TG_MMUEXT_PIN_L4_TABLE 3    /* arg1 = gfn */
#define TG_MMUEXT_UNPIN_TABLE 4     /* arg1 = gfn */
#define TG_MMUEXT_NEW_BASEPTR 5     /* arg1 = gfn of a pinned L4: kernel table */
#define TG_MMUEXT_NEW_USER_BASEPTR 6 /* arg1 = gfn of a pinned L4, or 0 = none */
#define TG_MMUEXT_TLB_FLUSH_LOCAL 7 /* this vCPU */
#define TG_MMUEXT_TLB_FLUSH_MULTI 8 /* vCPUs in arg2 */
#define TG_MMUEXT_TLB_FLUSH_ALL 9   /* every vCPU of the domain */
#define TG_MMUEXT_INVLPG_LOCAL 10   /* arg1 = va, this vCPU */
#define TG_MMUEXT_INVLPG_MULTI 11   /* arg1 = va, vCPUs in arg2 */
#define TG_MMUEXT_INVLPG_ALL 12     /* arg1 = va, every vCPU */
#define TG_MMUEXT_OP_MAX 1024

/*
 * TG_HC_update_va_mapping(va, pte, flags): write the L1 entry that maps
 * va in the current kernel page table, validated as one mmu_update, then
 * flush as flags say. Returns 0 or a negative TG_E* code.
 */
#define TG_UVMF_NONE 0x0      /* no flush */
#define TG_UVMF_TLB_FLUSH 0x1 /* flush the whole TLB */
#define TG_UVMF_INVLPG 0x2    /* flush va only */
#define TG_UVMF_FLUSH_MASK 0x3
#define TG_UVMF_LOCAL 0x0     /* on this vCPU */
#define TG_UVMF_ALL 0x4       /* on every vCPU of the domain */

/*
 * TG_HC_multicall(entries, count): run count hypercalls in order in one
 * exit. Each entry's result receives what the call returned. count is at
 * most TG_MULTICALL_MAX (else -E2BIG, nothing run).
 */
struct tg_multicall_entry {
	uint64_t op;     /* TG_HC_* */
	int64_t result;  /* out */
	uint64_t args[6]; /* rdi, rsi, rdx, r10, r8 order; args[5] unused in v1 */
};
TG_ABI_ASSERT_SIZE(struct tg_multicall_entry, 64);

#define TG_MULTICALL_MAX 512

/* TG_HC_memory_op(cmd, arg) sub-operations. */
#define TG_MEMOP_increase_reservation 0 /* struct tg_memory_reservation */
#define TG_MEMOP_decrease_reservation 1 /* struct tg_memory_reservation */
#define TG_MEMOP_current_reservation 2  /* arg: pointer to tg_domid_t */
#define TG_MEMOP_maximum_reservation 3  /* arg: pointer to tg_domid_t */
#define TG_MEMOP_memory_map 4           /* struct tg_memory_map */

/*
 * increase_reservation: back the listed gfns with memory again.
 * decrease_reservation: give the listed gfns back to the host.
 * Returns the number of extents processed (0..nr_extents), stopping at the
 * first one that cannot be; negative only for a malformed request.
 */
struct tg_memory_reservation {
	uint64_t extent_start; /* guest VA of tg_gfn_t[nr_extents] */
	uint64_t nr_extents;   /* at most TG_RESERVATION_MAX */
	uint32_t extent_order; /* must be 0 in v1: one 4 KiB page per extent */
	tg_domid_t domid;      /* must be TG_DOMID_SELF */
	uint16_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_memory_reservation, 24);

#define TG_RESERVATION_MAX 65536

/*
 * memory_map: copy the domain's memory map (the same entries as
 * start_info.memmap, struct tg_memmap_entry). nr_entries in: capacity of
 * buffer; out: number of entries. -EOVERFLOW (with nr_entries set to the
 * number needed) if the buffer is too small.
 */
struct tg_memory_map {
	uint32_t nr_entries;
	uint32_t _pad0;
	uint64_t buffer; /* guest VA of struct tg_memmap_entry[] */
};
TG_ABI_ASSERT_SIZE(struct tg_memory_map, 16);

#endif /* TORTUGA_MEMORY_H */
