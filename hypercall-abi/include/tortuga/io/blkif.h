/* SPDX-License-Identifier: MIT */
/*
 * Tortuga I/O ABI: the block device protocol ("vbd").
 *
 * One ring (io/ring.h) of struct tg_blkif_request / tg_blkif_response,
 * one event channel, data pages shared through grant references.
 * Discovery, feature negotiation and the connection handshake go through
 * the store (io/store.h); the keys are below and in ABI.md, "Block".
 */
#ifndef TORTUGA_IO_BLKIF_H
#define TORTUGA_IO_BLKIF_H

#include "../types.h"
#include "../errno.h"
#include "ring.h"

#define TG_BLKIF_SECTOR_SIZE 512 /* unit of sector, first_sect, last_sect */
#define TG_BLKIF_SECTORS_PER_PAGE (TG_PAGE_SIZE / TG_BLKIF_SECTOR_SIZE)
#define TG_BLKIF_MAX_SEGMENTS 11 /* per request */

/* Operations. */
#define TG_BLKIF_OP_READ 0    /* disk -> granted pages (grants writable) */
#define TG_BLKIF_OP_WRITE 1   /* granted pages -> disk */
#define TG_BLKIF_OP_FLUSH 2   /* make completed writes durable; 0 segments */
#define TG_BLKIF_OP_DISCARD 3 /* sectors may be dropped; uses .discard */

/*
 * One data segment: sectors first_sect..last_sect (inclusive, 0..7) of
 * the granted page. The sectors of all segments of a request are
 * consecutive on the disk, starting at request.sector.
 */
struct tg_blkif_segment {
	tg_grant_ref_t gref;
	uint8_t first_sect;
	uint8_t last_sect;
	uint16_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_blkif_segment, 8);

/* Discard range (TG_BLKIF_OP_DISCARD). */
struct tg_blkif_discard {
	uint64_t nr_sectors;
	uint64_t _reserved; /* must be 0 */
};
TG_ABI_ASSERT_SIZE(struct tg_blkif_discard, 16);

struct tg_blkif_request {
	uint8_t op;          /* TG_BLKIF_OP_* */
	uint8_t nr_segments; /* 1..max-segments for read/write, 0 otherwise */
	uint16_t handle;     /* must be 0 in v1 (one disk per ring) */
	uint32_t _pad0;
	uint64_t id;         /* echoed in the response */
	uint64_t sector;     /* first 512-byte sector on the disk */
	union {
		struct tg_blkif_segment seg[TG_BLKIF_MAX_SEGMENTS];
		struct tg_blkif_discard discard;
	};
};
TG_ABI_ASSERT_SIZE(struct tg_blkif_request, 112);

/*
 * status: 0 on success, else a negative TG_E* code:
 *   -TG_EIO       the host I/O failed
 *   -TG_EOPNOTSUPP op not offered (feature not advertised)
 *   -TG_EINVAL    malformed request (segment count, first_sect >
 *                 last_sect, last_sect > 7, range beyond the disk,
 *                 nonzero handle or padding)
 *   -TG_EACCES    a grant was refused (wrong domid, read-only for a read)
 *   -TG_EPERM     write or discard on a read-only disk
 */
struct tg_blkif_response {
	uint64_t id; /* from the request */
	uint8_t op;  /* from the request */
	uint8_t _pad0;
	int16_t status;
	uint32_t _pad1;
};
TG_ABI_ASSERT_SIZE(struct tg_blkif_response, 16);

TG_RING_DEFINE(tg_blkif, struct tg_blkif_request, struct tg_blkif_response);
TG_ABI_ASSERT_SIZE(struct tg_blkif_sring, 64 + 32 * 112); /* 32 slots */

/* Device type in store paths: device/vbd/<id>, backend/vbd/<domid>/<id>. */
#define TG_BLKIF_DEVTYPE "vbd"

/*
 * Store keys. "B:" the backend writes it in its directory; "F:" the
 * frontend writes it in its directory. Values are decimal ASCII unless
 * noted.
 */
#define TG_BLKIF_KEY_SECTORS "sectors"           /* B: disk size in 512-byte sectors */
#define TG_BLKIF_KEY_SECTOR_SIZE "sector-size"   /* B: logical sector size, 512 in v1 */
#define TG_BLKIF_KEY_READ_ONLY "read-only"       /* B: "1" read-only, "0" read-write */
#define TG_BLKIF_KEY_FEATURE_FLUSH "feature-flush"     /* B: "1" if OP_FLUSH works */
#define TG_BLKIF_KEY_FEATURE_DISCARD "feature-discard" /* B: "1" if OP_DISCARD works */
#define TG_BLKIF_KEY_DISCARD_GRANULARITY "discard-granularity" /* B: bytes */
#define TG_BLKIF_KEY_MAX_SEGMENTS "max-segments" /* B: 1..TG_BLKIF_MAX_SEGMENTS */
#define TG_BLKIF_KEY_RING_REF "ring-ref"         /* F: grant ref of the ring page */
#define TG_BLKIF_KEY_EVENT_CHANNEL "event-channel" /* F: port from alloc_unbound */

#endif /* TORTUGA_IO_BLKIF_H */
