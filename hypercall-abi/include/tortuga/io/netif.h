/* SPDX-License-Identifier: MIT */
/*
 * Tortuga I/O ABI: the network device protocol ("vif").
 *
 * Two rings (io/ring.h), one event channel for both. On the transmit ring
 * the frontend lends the backend read-only grants of packet data; on the
 * receive ring it lends writable pages for the backend to fill. Ethernet
 * frames without the FCS; no GSO in v1. ABI.md, "Network".
 */
#ifndef TORTUGA_IO_NETIF_H
#define TORTUGA_IO_NETIF_H

#include "../types.h"
#include "ring.h"

#define TG_NETIF_MAX_PACKET 65535 /* bytes, with the Ethernet header */
#define TG_NETIF_MAX_TX_SLOTS 18  /* slots one transmitted packet may use */
#define TG_NETIF_DEFAULT_MTU 1500

/* Flags of a transmit request. */
#define TG_NETTXF_MORE_DATA (1U << 0)      /* another slot of this packet follows */
#define TG_NETTXF_CSUM_BLANK (1U << 1)     /* L4 checksum not filled in yet */
#define TG_NETTXF_DATA_VALIDATED (1U << 2) /* checksum known good */

/*
 * A packet is one or more consecutive requests; all but the last carry
 * MORE_DATA (only if the backend offers feature-sg). size is the whole
 * packet's length in the first request and the slot's own length in the
 * others; offset + slot length must not exceed 4096.
 */
struct tg_netif_tx_request {
	tg_grant_ref_t gref;
	uint16_t offset;
	uint16_t flags; /* TG_NETTXF_* */
	uint16_t id;    /* echoed in the response */
	uint16_t size;
};
TG_ABI_ASSERT_SIZE(struct tg_netif_tx_request, 12);

/* One response per request (per slot). */
#define TG_NETIF_RSP_OKAY 0
#define TG_NETIF_RSP_ERROR (-1)   /* malformed request or refused grant */
#define TG_NETIF_RSP_DROPPED (-2) /* valid, but the host did not take it */

struct tg_netif_tx_response {
	uint16_t id;
	int16_t status; /* TG_NETIF_RSP_* */
};
TG_ABI_ASSERT_SIZE(struct tg_netif_tx_response, 4);

/* A receive buffer: one whole page, granted writable. */
struct tg_netif_rx_request {
	uint16_t id;
	uint16_t _pad0;
	tg_grant_ref_t gref;
};
TG_ABI_ASSERT_SIZE(struct tg_netif_rx_request, 8);

/* Flags of a receive response. */
#define TG_NETRXF_DATA_VALIDATED (1U << 0) /* checksum known good */
#define TG_NETRXF_CSUM_BLANK (1U << 1)     /* checksum not filled in */
#define TG_NETRXF_MORE_DATA (1U << 2)      /* packet continues in the next response */

/*
 * status >= 0: bytes of the packet in this buffer, starting at offset;
 * status < 0: TG_NETIF_RSP_ERROR (buffer unusable, no data).
 */
struct tg_netif_rx_response {
	uint16_t id;
	uint16_t offset;
	uint16_t flags; /* TG_NETRXF_* */
	int16_t status;
};
TG_ABI_ASSERT_SIZE(struct tg_netif_rx_response, 8);

TG_RING_DEFINE(tg_netif_tx, struct tg_netif_tx_request, struct tg_netif_tx_response);
TG_RING_DEFINE(tg_netif_rx, struct tg_netif_rx_request, struct tg_netif_rx_response);
TG_ABI_ASSERT_SIZE(struct tg_netif_tx_sring, 64 + 256 * 12);
TG_ABI_ASSERT_SIZE(struct tg_netif_rx_sring, 64 + 256 * 8);

#define TG_NETIF_DEVTYPE "vif" /* device/vif/<id>, backend/vif/<domid>/<id> */

/* Store keys ("B:" backend writes, "F:" frontend writes, "T:" toolstack). */
#define TG_NETIF_KEY_MAC "mac" /* T: in the frontend dir, "xx:xx:xx:xx:xx:xx" */
#define TG_NETIF_KEY_MTU "mtu" /* B: decimal, default 1500 */
#define TG_NETIF_KEY_FEATURE_SG "feature-sg"
	/* B: accepts multi-slot tx packets; F: accepts multi-slot rx packets */
#define TG_NETIF_KEY_FEATURE_CSUM "feature-csum-offload"
	/* B: accepts CSUM_BLANK tx; F: accepts CSUM_BLANK rx */
#define TG_NETIF_KEY_TX_RING_REF "tx-ring-ref"     /* F */
#define TG_NETIF_KEY_RX_RING_REF "rx-ring-ref"     /* F */
#define TG_NETIF_KEY_EVENT_CHANNEL "event-channel" /* F */

#endif /* TORTUGA_IO_NETIF_H */
