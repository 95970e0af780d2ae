/* SPDX-License-Identifier: MIT */
/*
 * Tortuga I/O ABI: single-page shared request/response rings.
 *
 * A ring is one 4 KiB page shared by a frontend (in the guest) and a
 * backend (in the VMM). It starts with a 64-byte header of four free-
 * running 32-bit indices, followed by a power-of-two number of slots.
 * Each slot holds either a request or a response: the frontend produces
 * requests into free slots, the backend consumes them and writes each
 * response into a slot whose request it has already consumed. Indices
 * only grow and wrap at 2^32; a slot is ring[index & (size - 1)].
 *
 *   req_prod   written by the frontend: requests published so far
 *   rsp_prod   written by the backend: responses published so far
 *   req_event  written by the backend: "notify me when req_prod passes
 *              req_event - 1", i.e. when request number req_event - 1
 *              exists
 *   rsp_event  written by the frontend, the same for responses
 *
 * Each side also keeps private indices, which are not in the shared page:
 * the frontend its next request to publish (req_prod_pvt) and its next
 * response to read (rsp_cons); the backend its next response to publish
 * (rsp_prod_pvt) and its next request to read (req_cons).
 *
 * Notification suppression: after publishing, a producer notifies the
 * other side only if the new index passed the other side's event index.
 * A consumer that runs out of work sets its event index to one past what
 * it consumed and then checks again ("final check"), so an item published
 * in between is never left without a notification.
 *
 * TG_RING_DEFINE(name, req_type, rsp_type) declares
 *   union name_slot, struct name_sring (the shared page),
 *   struct name_front_ring and struct name_back_ring (private state).
 *
 * The macros evaluate their arguments more than once. A backend must treat
 * the page as hostile: copy each request out of its slot before checking
 * it, and stop if TG_RING_REQUEST_OVERFLOW is true.
 */
#ifndef TORTUGA_IO_RING_H
#define TORTUGA_IO_RING_H

#include "../types.h"

/* Memory barriers, overridable by the includer. */
#if defined(__KERNEL__)
#include <asm/barrier.h>
#ifndef TG_RING_MB
#define TG_RING_MB() virt_mb()
#define TG_RING_RMB() virt_rmb()
#define TG_RING_WMB() virt_wmb()
#endif
#else
#ifndef TG_RING_MB
#define TG_RING_MB() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define TG_RING_RMB() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define TG_RING_WMB() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#endif

/* Read or write a shared index exactly once. */
#define TG_RING_READ_IDX(x) (*(volatile uint32_t *)&(x))
#define TG_RING_WRITE_IDX(x, v) (*(volatile uint32_t *)&(x) = (uint32_t)(v))

#define TG_RING_PAGE_SIZE 4096
#define TG_RING_HEADER_SIZE 64

/* Largest power of two <= n, for 1 <= n < 1024 (slots are >= 4 bytes). */
#define TG_RING_POW2_FLOOR(n)                                                 \
	((n) >= 512 ? 512 : (n) >= 256 ? 256 : (n) >= 128 ? 128 :             \
	 (n) >= 64 ? 64 : (n) >= 32 ? 32 : (n) >= 16 ? 16 : (n) >= 8 ? 8 :     \
	 (n) >= 4 ? 4 : (n) >= 2 ? 2 : 1)

/* Number of slots for a slot size, given the 64-byte header. */
#define TG_RING_NR_SLOTS(slot_size)                                           \
	TG_RING_POW2_FLOOR((TG_RING_PAGE_SIZE - TG_RING_HEADER_SIZE) / (slot_size))

#define TG_RING_DEFINE(name, req_type, rsp_type)                              \
	union name##_slot {                                                   \
		req_type req;                                                 \
		rsp_type rsp;                                                 \
	};                                                                    \
	struct name##_sring {                                                 \
		uint32_t req_prod;                                            \
		uint32_t req_event;                                           \
		uint32_t rsp_prod;                                            \
		uint32_t rsp_event;                                           \
		uint8_t _reserved[TG_RING_HEADER_SIZE - 16];                  \
		union name##_slot ring[TG_RING_NR_SLOTS(sizeof(union name##_slot))]; \
	};                                                                    \
	struct name##_front_ring {                                            \
		uint32_t req_prod_pvt;                                        \
		uint32_t rsp_cons;                                            \
		uint32_t nr_slots;                                            \
		uint32_t _pad;                                                \
		struct name##_sring *sring;                                   \
	};                                                                    \
	struct name##_back_ring {                                             \
		uint32_t rsp_prod_pvt;                                        \
		uint32_t req_cons;                                            \
		uint32_t nr_slots;                                            \
		uint32_t _pad;                                                \
		struct name##_sring *sring;                                   \
	}

/* Slots of a shared ring, as a constant. */
#define TG_RING_SLOTS_OF(sring_type) \
	(sizeof(((sring_type *)0)->ring) / sizeof(((sring_type *)0)->ring[0]))

/* Initialise the shared page (the frontend does this before granting it). */
#define TG_RING_SHARED_INIT(s)                                                \
	do {                                                                  \
		unsigned int tg_i_;                                           \
		(s)->req_prod = 0;                                            \
		(s)->rsp_prod = 0;                                            \
		(s)->req_event = 1;                                           \
		(s)->rsp_event = 1;                                           \
		for (tg_i_ = 0; tg_i_ < sizeof((s)->_reserved); tg_i_++)      \
			(s)->_reserved[tg_i_] = 0;                            \
	} while (0)

#define TG_RING_FRONT_INIT(r, s)                                              \
	do {                                                                  \
		(r)->req_prod_pvt = 0;                                        \
		(r)->rsp_cons = 0;                                            \
		(r)->nr_slots = (uint32_t)(sizeof((s)->ring) / sizeof((s)->ring[0])); \
		(r)->_pad = 0;                                                \
		(r)->sring = (s);                                             \
	} while (0)

/* A backend attaching to a page may start at the indices it finds. */
#define TG_RING_BACK_INIT(r, s)                                               \
	do {                                                                  \
		(r)->rsp_prod_pvt = TG_RING_READ_IDX((s)->rsp_prod);          \
		(r)->req_cons = (r)->rsp_prod_pvt;                            \
		(r)->nr_slots = (uint32_t)(sizeof((s)->ring) / sizeof((s)->ring[0])); \
		(r)->_pad = 0;                                                \
		(r)->sring = (s);                                             \
	} while (0)

#define TG_RING_SIZE(r) ((r)->nr_slots)

/* Frontend: requests that may still be queued without overwriting. */
#define TG_RING_FREE_REQUESTS(r) \
	(TG_RING_SIZE(r) - ((r)->req_prod_pvt - (r)->rsp_cons))
#define TG_RING_FULL(r) (TG_RING_FREE_REQUESTS(r) == 0)

/* Slot for request / response number idx. */
#define TG_RING_GET_REQUEST(r, idx) \
	(&(r)->sring->ring[(idx) & (TG_RING_SIZE(r) - 1)].req)
#define TG_RING_GET_RESPONSE(r, idx) \
	(&(r)->sring->ring[(idx) & (TG_RING_SIZE(r) - 1)].rsp)

/* Frontend: responses published but not yet consumed. */
#define TG_RING_UNCONSUMED_RESPONSES(r) \
	(TG_RING_READ_IDX((r)->sring->rsp_prod) - (r)->rsp_cons)

/*
 * Backend: requests published but not yet consumed, never more than the
 * slots not holding an unconsumed response (a hostile frontend may
 * publish an absurd req_prod).
 */
#define TG_RING_UNCONSUMED_REQUESTS(r)                                        \
	((TG_RING_READ_IDX((r)->sring->req_prod) - (r)->req_cons) <           \
			 (TG_RING_SIZE(r) - ((r)->req_cons - (r)->rsp_prod_pvt)) \
		 ? (TG_RING_READ_IDX((r)->sring->req_prod) - (r)->req_cons)   \
		 : (TG_RING_SIZE(r) - ((r)->req_cons - (r)->rsp_prod_pvt)))

/* Backend: true if consuming request cons would overrun responses. */
#define TG_RING_REQUEST_OVERFLOW(r, cons) \
	((uint32_t)((cons) - (r)->rsp_prod_pvt) >= TG_RING_SIZE(r))

/*
 * Publish privately produced items, then decide whether to notify:
 * notify is set to 1 when the other side asked to hear about an item in
 * (old, new], else 0. The barrier before the index store makes the slots
 * visible first; the one after it orders the store before the load of the
 * other side's event index.
 */
#define TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(r, notify)                     \
	do {                                                                  \
		uint32_t tg_old_ = TG_RING_READ_IDX((r)->sring->req_prod);    \
		uint32_t tg_new_ = (r)->req_prod_pvt;                         \
		TG_RING_WMB();                                                \
		TG_RING_WRITE_IDX((r)->sring->req_prod, tg_new_);             \
		TG_RING_MB();                                                 \
		(notify) = (uint32_t)(tg_new_ -                               \
			TG_RING_READ_IDX((r)->sring->req_event)) <            \
			(uint32_t)(tg_new_ - tg_old_);                        \
	} while (0)

#define TG_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(r, notify)                    \
	do {                                                                  \
		uint32_t tg_old_ = TG_RING_READ_IDX((r)->sring->rsp_prod);    \
		uint32_t tg_new_ = (r)->rsp_prod_pvt;                         \
		TG_RING_WMB();                                                \
		TG_RING_WRITE_IDX((r)->sring->rsp_prod, tg_new_);             \
		TG_RING_MB();                                                 \
		(notify) = (uint32_t)(tg_new_ -                               \
			TG_RING_READ_IDX((r)->sring->rsp_event)) <            \
			(uint32_t)(tg_new_ - tg_old_);                        \
	} while (0)

/* Publish without asking whether to notify (for batching pushes). */
#define TG_RING_PUSH_REQUESTS(r)                                              \
	do {                                                                  \
		TG_RING_WMB();                                                \
		TG_RING_WRITE_IDX((r)->sring->req_prod, (r)->req_prod_pvt);   \
	} while (0)
#define TG_RING_PUSH_RESPONSES(r)                                             \
	do {                                                                  \
		TG_RING_WMB();                                                \
		TG_RING_WRITE_IDX((r)->sring->rsp_prod, (r)->rsp_prod_pvt);   \
	} while (0)

/*
 * Final checks before a consumer goes idle: work is set to the number of
 * items still to consume. If it is 0, the event index has been re-armed
 * so that the next published item is notified.
 */
#define TG_RING_FINAL_CHECK_FOR_REQUESTS(r, work)                             \
	do {                                                                  \
		(work) = TG_RING_UNCONSUMED_REQUESTS(r);                      \
		if (!(work)) {                                                \
			TG_RING_WRITE_IDX((r)->sring->req_event,              \
					  (r)->req_cons + 1);                 \
			TG_RING_MB();                                         \
			(work) = TG_RING_UNCONSUMED_REQUESTS(r);              \
		}                                                             \
	} while (0)

#define TG_RING_FINAL_CHECK_FOR_RESPONSES(r, work)                            \
	do {                                                                  \
		(work) = TG_RING_UNCONSUMED_RESPONSES(r);                     \
		if (!(work)) {                                                \
			TG_RING_WRITE_IDX((r)->sring->rsp_event,              \
					  (r)->rsp_cons + 1);                 \
			TG_RING_MB();                                         \
			(work) = TG_RING_UNCONSUMED_RESPONSES(r);             \
		}                                                             \
	} while (0)

/*
 * Consumer loop, for reference (frontend side shown):
 *
 *	do {
 *		uint32_t prod = TG_RING_READ_IDX(r.sring->rsp_prod);
 *		TG_RING_RMB();          // slots before prod are now readable
 *		while (r.rsp_cons != prod) {
 *			rsp = *TG_RING_GET_RESPONSE(&r, r.rsp_cons);
 *			r.rsp_cons++;
 *			handle(&rsp);
 *		}
 *		TG_RING_FINAL_CHECK_FOR_RESPONSES(&r, more);
 *	} while (more);
 */

#endif /* TORTUGA_IO_RING_H */
