/* SPDX-License-Identifier: MIT */
/*
 * Tortuga I/O ABI: the console ring page.
 *
 * start_info.console_ring_gfn names one page of guest RAM holding two byte
 * rings: input (VMM -> guest) and output (guest -> VMM). Indices are
 * free-running 32-bit byte counts; byte i of a ring is at [i & (size-1)].
 * The producer writes bytes, issues a write barrier, then advances its
 * prod index; the consumer reads prod, issues a read barrier, reads bytes,
 * then advances its cons index.
 *
 * Notifications use start_info.console_evtchn (a backend port, so the
 * guest notifies with a doorbell store, no VMM exit). The guest notifies
 * after advancing out_prod or in_cons. The VMM raises the console event
 * channel after it advances in_prod (input arrived) or out_cons (output
 * space freed). There is no notification suppression on this page.
 */
#ifndef TORTUGA_IO_CONSOLE_H
#define TORTUGA_IO_CONSOLE_H

#include "../types.h"

#define TG_CONSOLE_IN_SIZE 1024
#define TG_CONSOLE_OUT_SIZE 2048

struct tg_console_ring {
	char in[TG_CONSOLE_IN_SIZE];   /* VMM produces, guest consumes */
	char out[TG_CONSOLE_OUT_SIZE]; /* guest produces, VMM consumes */
	uint32_t in_cons;  /* guest */
	uint32_t in_prod;  /* VMM */
	uint32_t out_cons; /* VMM */
	uint32_t out_prod; /* guest */
	uint8_t _reserved[4096 - TG_CONSOLE_IN_SIZE - TG_CONSOLE_OUT_SIZE - 16];
};
TG_ABI_ASSERT_SIZE(struct tg_console_ring, 4096);

#define TG_CONSOLE_IDX(idx, size) ((idx) & ((size) - 1))

#endif /* TORTUGA_IO_CONSOLE_H */
