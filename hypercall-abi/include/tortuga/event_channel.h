/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: event channels (TG_HC_event_channel_op).
 *
 * An event channel is a port number in [1, TG_NR_EVENT_CHANNELS) with a
 * pending bit and a mask bit in the shared info page (the 2-level scheme:
 * evtchn_pending[64] and evtchn_mask[64], 64 ports per word, one
 * pending_sel bit per word in each vcpu_info). Port 0 is never allocated;
 * a port number of 0 in start info means "none".
 *
 * A port is bound to exactly one source of events (a VIRQ, an IPI, or a
 * backend in the VMM) and is delivered to exactly one vCPU. Delivery, the
 * doorbell rule and the no-event-lost guarantee are in ABI.md, "Event
 * channels".
 *
 * Call: TG_HC_event_channel_op(cmd, arg) with cmd one of TG_EVTCHNOP_* and
 * arg the guest virtual address of the structure named next to it. The
 * return value is 0 or a negative TG_E* code; out fields are written only
 * on success.
 */
#ifndef TORTUGA_EVENT_CHANNEL_H
#define TORTUGA_EVENT_CHANNEL_H

#include "types.h"

/*
 * Domain identifiers that have a fixed meaning. Guest domains are numbered
 * from 1 by the toolstack. TG_DOMID_VMM names the VMM of the calling
 * domain, and with it every backend (block, network, console, store) that
 * serves the domain; grant entries meant for a backend carry it, and the
 * store's backend directories live under its home path.
 */
#define TG_DOMID_VMM 0
#define TG_DOMID_FIRST_GUEST 1
#define TG_DOMID_MAX_GUEST 0x7fef
#define TG_DOMID_SELF 0x7ff0 /* the calling domain */
#define TG_DOMID_INVALID 0x7fff

/* Sub-operations. Numbers are ABI: never renumber, only add. */
#define TG_EVTCHNOP_alloc_unbound 0 /* struct tg_evtchn_alloc_unbound */
#define TG_EVTCHNOP_bind_virq 1     /* struct tg_evtchn_bind_virq */
#define TG_EVTCHNOP_bind_ipi 2      /* struct tg_evtchn_bind_ipi */
#define TG_EVTCHNOP_bind_vcpu 3     /* struct tg_evtchn_bind_vcpu */
#define TG_EVTCHNOP_send 4          /* struct tg_evtchn_port_op */
#define TG_EVTCHNOP_unmask 5        /* struct tg_evtchn_port_op */
#define TG_EVTCHNOP_close 6         /* struct tg_evtchn_port_op */
#define TG_EVTCHNOP_status 7        /* struct tg_evtchn_status */

/*
 * Virtual interrupts. A per-vCPU VIRQ may be bound once on each vCPU and
 * is raised on that vCPU only; a global VIRQ may be bound once per domain
 * and is delivered to the vCPU it was bound to (movable with bind_vcpu).
 */
#define TG_VIRQ_TIMER 0   /* per-vCPU: the one-shot timer expired */
#define TG_VIRQ_DEBUG 1   /* per-vCPU: the operator asked for a state dump */
#define TG_VIRQ_CONSOLE 2 /* global: TG_HC_console_io has input to read */
#define TG_NR_VIRQS 32    /* VIRQ numbers are below this; others: -EINVAL */

#define TG_VIRQ_IS_PER_VCPU(v) ((v) == TG_VIRQ_TIMER || (v) == TG_VIRQ_DEBUG)

/*
 * TG_EVTCHNOP_alloc_unbound: allocate a port that a backend may later
 * bind. remote_dom must be TG_DOMID_VMM (the only backend domain in v1;
 * anything else: -ESRCH). The port is delivered to vCPU 0 until
 * bind_vcpu moves it. Errors: -ENOSPC (no free port), -EINVAL (nonzero
 * padding).
 */
struct tg_evtchn_alloc_unbound {
	tg_domid_t remote_dom; /* in */
	uint16_t _pad0;
	tg_evtchn_port_t port; /* out */
};
TG_ABI_ASSERT_SIZE(struct tg_evtchn_alloc_unbound, 8);

/*
 * TG_EVTCHNOP_bind_virq. Errors: -EINVAL (virq >= TG_NR_VIRQS or not
 * defined), -ESRCH (vcpu >= start_info.nr_vcpus), -EEXIST (already bound
 * for that vCPU, or for the domain if global), -ENOSPC.
 */
struct tg_evtchn_bind_virq {
	uint32_t virq;         /* in: TG_VIRQ_* */
	uint32_t vcpu;         /* in: target vCPU */
	tg_evtchn_port_t port; /* out */
	uint32_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_evtchn_bind_virq, 16);

/*
 * TG_EVTCHNOP_bind_ipi: a port that any vCPU of the domain may send to;
 * it is delivered to vcpu. Errors: -ESRCH, -ENOSPC.
 */
struct tg_evtchn_bind_ipi {
	uint32_t vcpu;         /* in: the vCPU that receives the IPI */
	tg_evtchn_port_t port; /* out */
};
TG_ABI_ASSERT_SIZE(struct tg_evtchn_bind_ipi, 8);

/*
 * TG_EVTCHNOP_bind_vcpu: deliver an existing port to another vCPU from
 * now on. Allowed for unbound and backend ports and global VIRQs; for IPI
 * ports and per-vCPU VIRQs: -EINVAL. Errors: -EINVAL (bad port),
 * -ENOENT (port closed), -ESRCH (bad vCPU).
 */
struct tg_evtchn_bind_vcpu {
	tg_evtchn_port_t port;
	uint32_t vcpu;
};
TG_ABI_ASSERT_SIZE(struct tg_evtchn_bind_vcpu, 8);

/*
 * TG_EVTCHNOP_send, TG_EVTCHNOP_unmask, TG_EVTCHNOP_close.
 *
 * send: IPI port: raise it on its vCPU. Backend port: notify the backend
 * (the doorbell does the same without a VMM exit). Unbound port: accepted
 * and dropped (returns 0). VIRQ port: -EINVAL.
 * unmask: clear the mask bit and, if the port is pending, deliver it as if
 * it had just been raised. Any bound or unbound port.
 * close: release the port; a backend bound to it disconnects. Pending and
 * mask bits are left as they are.
 * Errors for all three: -EINVAL (port 0 or >= TG_NR_EVENT_CHANNELS),
 * -ENOENT (port closed).
 */
struct tg_evtchn_port_op {
	tg_evtchn_port_t port;
	uint32_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_evtchn_port_op, 8);

/* TG_EVTCHNOP_status: port state. */
#define TG_EVTCHNSTAT_closed 0  /* free */
#define TG_EVTCHNSTAT_unbound 1 /* allocated, waiting for a backend */
#define TG_EVTCHNSTAT_backend 2 /* bound to a VMM backend: doorbell slot live */
#define TG_EVTCHNSTAT_virq 3
#define TG_EVTCHNSTAT_ipi 4

/*
 * TG_EVTCHNOP_status. For TG_EVTCHNSTAT_backend, a 64-bit store to
 * start_info.doorbell_gpa + 8 * port notifies the backend (ABI.md,
 * "The doorbell rule"). Errors: -EINVAL (port out of range).
 * A closed port is not an error: status = TG_EVTCHNSTAT_closed.
 */
struct tg_evtchn_status {
	tg_evtchn_port_t port; /* in */
	uint32_t status;       /* out: TG_EVTCHNSTAT_* */
	uint32_t vcpu;         /* out: vCPU the port is delivered to */
	uint32_t virq;         /* out: VIRQ number if status == virq, else 0 */
	tg_domid_t remote_dom; /* out: TG_DOMID_VMM if unbound/backend, else 0 */
	uint16_t _pad0;
	uint32_t _pad1;
};
TG_ABI_ASSERT_SIZE(struct tg_evtchn_status, 24);

/* Doorbell slot of a port: guest-physical address of its 64-bit register. */
#define TG_DOORBELL_SLOT_SIZE 8
#define TG_DOORBELL_GPA(doorbell_gpa, port) \
	((uint64_t)(doorbell_gpa) + TG_DOORBELL_SLOT_SIZE * (uint64_t)(port))

#endif /* TORTUGA_EVENT_CHANNEL_H */
