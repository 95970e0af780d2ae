// SPDX-License-Identifier: GPL-2.0
/*
 * The Tortuga console: an hvc driver on the console ring (ABI section 20).
 *
 * Output goes into the ring's out half and the backend is told with a
 * doorbell store, so a line of output costs no exit. Input arrives in the
 * in half, announced on the console port; a VMM that does not feed the
 * ring yet announces input with VIRQ_CONSOLE instead, and we fetch it with
 * the console_io READ hypercall. Without a ring (or before doorbells are
 * mapped) output falls back to console_io WRITE, one exit per call.
 */
#include <linux/console.h>
#include <linux/init.h>
#include <linux/interrupt.h>
#include <linux/minmax.h>
#include <linux/types.h>
#include <asm/barrier.h>
#include <asm/tortuga/guest.h>
#include <asm/tortuga/hypercall.h>

#include "hvc_console.h"

/* Any number; it names our one console to the hvc core. */
#define TORTUGA_VTERMNO 0x54677400
#define TORTUGA_HVC_OUTBUF 256

static struct tg_console_ring *tortuga_con_ring(void)
{
	const struct tg_start_info *si = tortuga_start_info;

	if (!si->console_ring_gfn || !si->console_evtchn)
		return NULL;
	return __va(si->console_ring_gfn << PAGE_SHIFT);
}

static int tortuga_con_write_ring(struct tg_console_ring *ring, const char *buf, int count)
{
	u32 cons = READ_ONCE(ring->out_cons);
	u32 prod = ring->out_prod;
	int sent = 0;

	mb(); /* read out_cons before overwriting the bytes it frees */
	if (prod - cons > TG_CONSOLE_OUT_SIZE)
		return -EIO; /* a VMM that moved out_cons past out_prod */
	while (sent < count && prod - cons < TG_CONSOLE_OUT_SIZE)
		ring->out[TG_CONSOLE_IDX(prod++, TG_CONSOLE_OUT_SIZE)] = buf[sent++];
	wmb(); /* the bytes before the index that publishes them */
	WRITE_ONCE(ring->out_prod, prod);
	return sent;
}

static int tortuga_con_put_chars(u32 vtermno, const char *buf, int count)
{
	struct tg_console_ring *ring = tortuga_con_ring();
	unsigned int port = tortuga_start_info->console_evtchn;
	int sent;

	if (!ring)
		return HYPERVISOR_console_write(buf, count);
	sent = tortuga_con_write_ring(ring, buf, count);
	if (sent <= 0)
		return sent ? sent : -EAGAIN;
	if (!tortuga_ring_doorbell(port)) {
		struct tg_evtchn_port_op op = { .port = port };

		HYPERVISOR_event_channel_op(TG_EVTCHNOP_send, &op);
	}
	return sent;
}

static int tortuga_con_read_ring(struct tg_console_ring *ring, char *buf, int count)
{
	u32 cons = ring->in_cons;
	u32 prod = READ_ONCE(ring->in_prod);
	int got = 0;

	rmb(); /* the index before the bytes it publishes */
	if (prod - cons > TG_CONSOLE_IN_SIZE)
		return -EIO;
	while (got < count && cons != prod)
		buf[got++] = ring->in[TG_CONSOLE_IDX(cons++, TG_CONSOLE_IN_SIZE)];
	mb(); /* the bytes are read before the VMM may reuse them */
	WRITE_ONCE(ring->in_cons, cons);
	if (got)
		tortuga_ring_doorbell(tortuga_start_info->console_evtchn);
	return got;
}

static int tortuga_con_get_chars(u32 vtermno, char *buf, int count)
{
	struct tg_console_ring *ring = tortuga_con_ring();
	int got = ring ? tortuga_con_read_ring(ring, buf, count) : 0;

	if (got > 0)
		return got;
	return HYPERVISOR_console_read(buf, count);
}

static const struct hv_ops tortuga_hvc_ops = {
	.get_chars = tortuga_con_get_chars,
	.put_chars = tortuga_con_put_chars,
	.notifier_add = notifier_add_irq,
	.notifier_del = notifier_del_irq,
	.notifier_hangup = notifier_hangup_irq,
};

static irqreturn_t tortuga_con_input_interrupt(int irq, void *dev_id)
{
	hvc_kick();
	return IRQ_HANDLED;
}

static int __init tortuga_hvc_init(void)
{
	struct hvc_struct *hp;
	int irq, ring_irq;

	if (!tortuga_guest())
		return -ENODEV;
	irq = tortuga_bind_virq_to_irq(TG_VIRQ_CONSOLE, 0);
	if (irq < 0)
		return irq;
	hp = hvc_alloc(TORTUGA_VTERMNO, irq, &tortuga_hvc_ops, TORTUGA_HVC_OUTBUF);
	if (IS_ERR(hp))
		return PTR_ERR(hp);
	if (tortuga_con_ring()) {
		ring_irq = tortuga_bind_port_to_irq(tortuga_start_info->console_evtchn);
		if (ring_irq < 0 || request_irq(ring_irq, tortuga_con_input_interrupt, 0,
						"tortuga-console", NULL))
			pr_warn("tortuga console: no ring interrupt; input by VIRQ only\n");
	}
	return 0;
}
device_initcall(tortuga_hvc_init);

static int __init tortuga_hvc_console_init(void)
{
	if (!tortuga_guest())
		return -ENODEV;
	hvc_instantiate(TORTUGA_VTERMNO, 0, &tortuga_hvc_ops);
	return 0;
}
console_initcall(tortuga_hvc_console_init);
