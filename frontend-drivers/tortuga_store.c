// SPDX-License-Identifier: GPL-2.0
/*
 * The Tortuga store client (ABI section 16) and the toolstack's requests
 * that travel through it: control/shutdown (poweroff, reboot).
 *
 * The store page holds two byte rings. Callers take turns: one request is
 * in flight at a time, which keeps matching trivial and costs nothing that
 * matters (the store is for configuration, not I/O). A kernel thread reads
 * everything the VMM sends: it hands a reply to the caller waiting for it
 * and turns a watch event into work on the system workqueue, because a
 * watch handler makes store requests of its own and the reader must stay
 * free to read their replies.
 *
 * The VMM is trusted no more than it must be: indices that run past each
 * other or a message longer than the protocol allows stop the client with
 * one message, never a loop or an overrun.
 */
#define pr_fmt(fmt) "tortuga store: " fmt

#include <linux/init.h>
#include <linux/interrupt.h>
#include <linux/kthread.h>
#include <linux/mutex.h>
#include <linux/reboot.h>
#include <linux/string.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <asm/barrier.h>
#include <asm/tortuga/guest.h>
#include <asm/tortuga/hypercall.h>
#include <tortuga/io/store.h>

static struct tg_store_ring *store_ring;
static unsigned int store_port;
static DECLARE_WAIT_QUEUE_HEAD(store_wq);	/* ring progress, either half */
static bool store_broken;

/* The one request in flight, and its reply. */
static DEFINE_MUTEX(store_request_lock);
static DECLARE_WAIT_QUEUE_HEAD(store_reply_wq);
static u32 store_req_id;
static bool store_reply_ready;
static u32 store_reply_type;
static u32 store_reply_len;
static char store_reply[TG_STORE_PAYLOAD_MAX + 1];
/* What the reader reads into: a watch event may follow a reply at once. */
static char store_inbox[TG_STORE_PAYLOAD_MAX + 1];

static void store_notify(void)
{
	if (!tortuga_ring_doorbell(store_port)) {
		struct tg_evtchn_port_op op = { .port = store_port };

		HYPERVISOR_event_channel_op(TG_EVTCHNOP_send, &op);
	}
}

static void store_break(const char *why)
{
	if (!store_broken)
		pr_err("%s; the store is not used any more\n", why);
	store_broken = true;
	wake_up_all(&store_wq);
	wake_up_all(&store_reply_wq);
}

static u32 store_req_space(void)
{
	u32 used = store_ring->req_prod - READ_ONCE(store_ring->req_cons);

	return used > TG_STORE_RING_SIZE ? 0 : TG_STORE_RING_SIZE - used;
}

static u32 store_rsp_avail(void)
{
	return READ_ONCE(store_ring->rsp_prod) - store_ring->rsp_cons;
}

/* Streams n bytes into the request half, waiting while the VMM catches up. */
static int store_write_bytes(const void *data, u32 n)
{
	const char *p = data;

	while (n) {
		u32 prod = store_ring->req_prod;
		u32 chunk;

		if (wait_event_interruptible(store_wq, store_req_space() || store_broken))
			return -EINTR;
		if (store_broken)
			return -EIO;
		mb(); /* req_cons is read before the bytes it frees are reused */
		chunk = min(n, store_req_space());
		while (chunk--) {
			store_ring->req[TG_STORE_RING_IDX(prod++)] = *p++;
			n--;
		}
		wmb(); /* the bytes before the index that publishes them */
		WRITE_ONCE(store_ring->req_prod, prod);
		store_notify();
	}
	return 0;
}

/* Reads n bytes from the response half; only the reader thread calls it. */
static int store_read_bytes(void *data, u32 n)
{
	char *p = data;

	while (n) {
		u32 cons = store_ring->rsp_cons;
		u32 avail, chunk;

		wait_event(store_wq, store_rsp_avail() || store_broken || kthread_should_stop());
		if (store_broken || kthread_should_stop())
			return -EIO;
		avail = store_rsp_avail();
		if (avail > TG_STORE_RING_SIZE) {
			store_break("the VMM's response index ran past ours");
			return -EIO;
		}
		rmb(); /* the index before the bytes it publishes */
		chunk = min(n, avail);
		while (chunk--) {
			*p++ = store_ring->rsp[TG_STORE_RING_IDX(cons++)];
			n--;
		}
		mb(); /* the bytes are read before the VMM may reuse them */
		WRITE_ONCE(store_ring->rsp_cons, cons);
		store_notify();
	}
	return 0;
}

/*
 * One request, one reply. The reply's payload is left in store_reply (NUL
 * terminated) for the caller, who holds store_request_lock. Returns the
 * reply's length, or -EIO, -EINTR, or -ENOENT/-EACCES/... for TG_STORE_ERROR.
 */
static int store_call(u32 type, const char *path, const void *value, u32 value_len)
{
	struct tg_store_msg msg = { .type = type };
	u32 path_len = strlen(path) + 1;
	int err;

	lockdep_assert_held(&store_request_lock);
	if (path_len > TG_STORE_PATH_MAX || path_len + value_len > TG_STORE_PAYLOAD_MAX)
		return -E2BIG;
	msg.req_id = ++store_req_id;
	msg.len = path_len + value_len;
	WRITE_ONCE(store_reply_ready, false);
	err = store_write_bytes(&msg, sizeof(msg));
	if (!err)
		err = store_write_bytes(path, path_len);
	if (!err && value_len)
		err = store_write_bytes(value, value_len);
	if (err)
		return err;
	wait_event(store_reply_wq, READ_ONCE(store_reply_ready) || store_broken);
	if (store_broken)
		return -EIO;
	if (store_reply_type == TG_STORE_ERROR) {
		if (!strcmp(store_reply, TG_STORE_ERR_ENOENT))
			return -ENOENT;
		if (!strcmp(store_reply, TG_STORE_ERR_EACCES))
			return -EACCES;
		return -EIO;
	}
	return store_reply_type == type ? store_reply_len : -EIO;
}

/* Reads a text value into buf (NUL terminated, cut to size). */
static int tortuga_store_read(const char *path, char *buf, size_t size)
{
	int len;

	mutex_lock(&store_request_lock);
	len = store_call(TG_STORE_READ, path, NULL, 0);
	if (len >= 0)
		strscpy(buf, store_reply, min_t(size_t, size, len + 1));
	mutex_unlock(&store_request_lock);
	return len < 0 ? len : 0;
}

static int tortuga_store_write(const char *path, const char *value)
{
	int err;

	mutex_lock(&store_request_lock);
	err = store_call(TG_STORE_WRITE, path, value, strlen(value));
	mutex_unlock(&store_request_lock);
	return err < 0 ? err : 0;
}

static int tortuga_store_watch(const char *path, const char *token)
{
	u32 token_len = strlen(token) + 1;
	int err;

	mutex_lock(&store_request_lock);
	err = store_call(TG_STORE_WATCH, path, token, token_len);
	mutex_unlock(&store_request_lock);
	return err < 0 ? err : 0;
}

/* control/shutdown: act on what the toolstack asked, once. */
static void shutdown_watch_fn(struct work_struct *work)
{
	char what[16] = "";

	if (tortuga_store_read("control/shutdown", what, sizeof(what)) || !what[0])
		return;
	/* Taken: an empty value tells the toolstack we act on it (ABI 16.1). */
	tortuga_store_write("control/shutdown", "");
	/*
	 * Both run /sbin/poweroff or /sbin/reboot first, so user space shuts
	 * down in order; where there is none (a bare initramfs) the kernel
	 * syncs and does it itself rather than ignore the toolstack.
	 */
	if (!strcmp(what, "poweroff") || !strcmp(what, "halt")) {
		pr_info("the toolstack asks for a power off\n");
		orderly_poweroff(true);
	} else if (!strcmp(what, "reboot")) {
		pr_info("the toolstack asks for a reboot\n");
		orderly_reboot();
	} else {
		pr_warn("ignoring control/shutdown request '%s'\n", what);
	}
}
static DECLARE_WORK(shutdown_watch_work, shutdown_watch_fn);

#define SHUTDOWN_TOKEN "shutdown"

static void store_dispatch_event(u32 len)
{
	const char *path = store_inbox;
	size_t path_len = strnlen(path, len);
	const char *token = path + path_len + 1;

	if (path_len >= len)
		return;
	if (!strncmp(token, SHUTDOWN_TOKEN, len - path_len - 1))
		schedule_work(&shutdown_watch_work);
}

/* The reader: every message the VMM sends goes through here. */
static int store_reader(void *unused)
{
	struct tg_store_msg msg;

	while (!kthread_should_stop() && !store_broken) {
		if (store_read_bytes(&msg, sizeof(msg)))
			break;
		if (msg.len > TG_STORE_PAYLOAD_MAX) {
			store_break("a message longer than the protocol allows");
			break;
		}
		if (store_read_bytes(store_inbox, msg.len))
			break;
		store_inbox[msg.len] = '\0';
		if (msg.type == TG_STORE_WATCH_EVENT) {
			store_dispatch_event(msg.len);
		} else if (msg.req_id == store_req_id && !READ_ONCE(store_reply_ready)) {
			/*
			 * store_reply is free: its caller is done with the last
			 * reply before it lets the next request go, and this is
			 * the reply to that next request.
			 */
			memcpy(store_reply, store_inbox, msg.len + 1);
			store_reply_type = msg.type;
			store_reply_len = msg.len;
			smp_store_release(&store_reply_ready, true);
			wake_up(&store_reply_wq);
		}
	}
	return 0;
}

static irqreturn_t store_interrupt(int irq, void *dev_id)
{
	wake_up(&store_wq);
	return IRQ_HANDLED;
}

static int __init tortuga_store_init(void)
{
	const struct tg_start_info *si = tortuga_start_info;
	struct task_struct *reader;
	int irq, err;

	if (!tortuga_guest() || !si->store_evtchn || !si->store_ring_gfn)
		return -ENODEV;
	store_ring = __va(si->store_ring_gfn << PAGE_SHIFT);
	store_port = si->store_evtchn;
	irq = tortuga_bind_port_to_irq(store_port);
	if (irq < 0)
		return irq;
	err = request_irq(irq, store_interrupt, 0, "tortuga-store", NULL);
	if (err)
		return err;
	reader = kthread_run(store_reader, NULL, "tortuga-store");
	if (IS_ERR(reader))
		return PTR_ERR(reader);
	err = tortuga_store_write("control/feature-shutdown", "1");
	if (!err)
		err = tortuga_store_watch("control/shutdown", SHUTDOWN_TOKEN);
	if (err)
		pr_warn("cannot watch control/shutdown (%d): shutdown requests will not be seen\n", err);
	return 0;
}
late_initcall(tortuga_store_init);
