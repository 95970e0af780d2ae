/* SPDX-License-Identifier: MIT */
/*
 * Tortuga I/O ABI: the per-domain store and its wire protocol.
 *
 * The store is a tree of nodes, each with a value (bytes) and children,
 * kept by the VMM for one domain. The guest talks to it over the page
 * start_info.store_ring_gfn, which holds two byte rings (requests and
 * responses), notifying through start_info.store_evtchn (a backend port:
 * the guest rings its doorbell; the VMM raises the port). Each message is
 * a struct tg_store_msg header followed by len payload bytes; a message
 * may be larger than a ring and is then streamed through it.
 *
 * Semantics of every message type, permissions, watches, transactions and
 * the device handshake are in ABI.md, "The store".
 */
#ifndef TORTUGA_IO_STORE_H
#define TORTUGA_IO_STORE_H

#include "../types.h"

/* Message types. Numbers are ABI: never renumber, only add. */
#define TG_STORE_READ 1              /* "path\0" -> value bytes */
#define TG_STORE_WRITE 2             /* "path\0" value -> "OK\0" */
#define TG_STORE_MKDIR 3             /* "path\0" -> "OK\0" */
#define TG_STORE_RM 4                /* "path\0" -> "OK\0" (subtree) */
#define TG_STORE_DIRECTORY 5         /* "path\0" -> "name\0name\0..." */
#define TG_STORE_GET_PERMS 6         /* "path\0" -> "perm\0perm\0..." */
#define TG_STORE_SET_PERMS 7         /* "path\0perm\0perm\0..." -> "OK\0" */
#define TG_STORE_WATCH 8             /* "path\0token\0" -> "OK\0" */
#define TG_STORE_UNWATCH 9           /* "path\0token\0" -> "OK\0" */
#define TG_STORE_WATCH_EVENT 10      /* VMM -> guest: "path\0token\0" */
#define TG_STORE_TRANSACTION_START 11 /* "\0" -> "<tx_id>\0" */
#define TG_STORE_TRANSACTION_END 12  /* "T\0" commit / "F\0" abort -> "OK\0" */
#define TG_STORE_ERROR 13            /* VMM -> guest: "ENAME\0" */

struct tg_store_msg {
	uint32_t type;   /* TG_STORE_* */
	uint32_t req_id; /* chosen by the guest, echoed; 0 in WATCH_EVENT */
	uint32_t tx_id;  /* transaction, 0 = none; echoed */
	uint32_t len;    /* payload bytes that follow */
};
TG_ABI_ASSERT_SIZE(struct tg_store_msg, 16);

/* Limits. A request beyond them is answered with TG_STORE_ERROR. */
#define TG_STORE_PAYLOAD_MAX 4096 /* len of any message */
#define TG_STORE_PATH_MAX 1024    /* bytes of a path, with its NUL */
#define TG_STORE_VALUE_MAX 2048   /* bytes of a value */
#define TG_STORE_NAME_MAX 256     /* bytes of one path component */
#define TG_STORE_MAX_NODES 2048   /* nodes the guest may own */
#define TG_STORE_MAX_WATCHES 128
#define TG_STORE_MAX_TRANSACTIONS 16 /* open at once */
#define TG_STORE_MAX_PENDING 64      /* requests in flight without a reply */

/*
 * Error names carried by TG_STORE_ERROR (NUL-terminated ASCII). They name
 * the TG_E* code with the same meaning.
 */
#define TG_STORE_ERR_EINVAL "EINVAL"       /* malformed message or path */
#define TG_STORE_ERR_ENOENT "ENOENT"       /* no such node */
#define TG_STORE_ERR_EACCES "EACCES"       /* permissions refuse it */
#define TG_STORE_ERR_EEXIST "EEXIST"       /* watch already registered */
#define TG_STORE_ERR_ENOSPC "ENOSPC"       /* a TG_STORE_MAX_* quota */
#define TG_STORE_ERR_EAGAIN "EAGAIN"       /* transaction conflict: retry it */
#define TG_STORE_ERR_E2BIG "E2BIG"         /* a size limit */
#define TG_STORE_ERR_ENOSYS "ENOSYS"       /* unknown message type */
#define TG_STORE_ERR_EBUSY "EBUSY"         /* too many requests in flight */
#define TG_STORE_ERR_ENOTEMPTY "ENOTEMPTY" /* reserved */

/*
 * Permissions: a node's permission list is one or more strings. The first
 * names the owner and the access everyone else has; each later one grants
 * a domain more access. Each string is one letter then a decimal domid:
 * 'n' none, 'r' read, 'w' write, 'b' read and write. Example: "n5\0r0\0":
 * owned by domain 5, no access for others, domain 0 (the VMM) may read.
 * The owner always has full access; the VMM has full access everywhere.
 */
#define TG_STORE_PERM_NONE 'n'
#define TG_STORE_PERM_READ 'r'
#define TG_STORE_PERM_WRITE 'w'
#define TG_STORE_PERM_BOTH 'b'

/* The ring page. Indices are free-running byte counts. */
#define TG_STORE_RING_SIZE 1024

struct tg_store_ring {
	char req[TG_STORE_RING_SIZE]; /* guest produces, VMM consumes */
	char rsp[TG_STORE_RING_SIZE]; /* VMM produces, guest consumes */
	uint32_t req_cons; /* VMM */
	uint32_t req_prod; /* guest */
	uint32_t rsp_cons; /* guest */
	uint32_t rsp_prod; /* VMM */
	uint8_t _reserved[4096 - 2 * TG_STORE_RING_SIZE - 16];
};
TG_ABI_ASSERT_SIZE(struct tg_store_ring, 4096);

#define TG_STORE_RING_IDX(idx) ((idx) & (TG_STORE_RING_SIZE - 1))

/* Device state, the value of each side's "state" key (decimal). */
#define TG_STATE_UNKNOWN 0
#define TG_STATE_INITIALISING 1
#define TG_STATE_INIT_WAIT 2
#define TG_STATE_INITIALISED 3
#define TG_STATE_CONNECTED 4
#define TG_STATE_CLOSING 5
#define TG_STATE_CLOSED 6

/*
 * Paths. A path that does not start with '/' is relative to the domain's
 * home, TG_STORE_HOME_FMT. Frontend directories are
 * <home>/device/<type>/<id>; backend directories are
 * /local/domain/0/backend/<type>/<frontend domid>/<id>.
 */
#define TG_STORE_HOME_FMT "/local/domain/%u"
#define TG_STORE_FRONTEND_FMT "device/%s/%u"
#define TG_STORE_BACKEND_FMT "/local/domain/0/backend/%s/%u/%u"

/* Keys of every device directory. */
#define TG_STORE_KEY_STATE "state"             /* TG_STATE_* */
#define TG_STORE_KEY_BACKEND "backend"         /* F dir: backend dir path */
#define TG_STORE_KEY_BACKEND_ID "backend-id"   /* F dir: "0" */
#define TG_STORE_KEY_FRONTEND "frontend"       /* B dir: frontend dir path */
#define TG_STORE_KEY_FRONTEND_ID "frontend-id" /* B dir: guest domid */
#define TG_STORE_KEY_ONLINE "online"           /* B dir: "0" asks to unplug */

/* Keys of the domain's home directory. */
#define TG_STORE_KEY_DOMID "domid"                     /* decimal */
#define TG_STORE_KEY_NAME "name"                       /* domain name */
#define TG_STORE_KEY_MEMORY_TARGET "memory/target"     /* KiB, balloon target */
#define TG_STORE_KEY_CONTROL_SHUTDOWN "control/shutdown" /* request, see ABI.md */

/*
 * Written "1" by a guest that acts on a request (ABI.md 16.1): control/
 * shutdown ("poweroff", "reboot"; the guest writes "" and then calls
 * sched_op shutdown), and memory/target (a balloon driver, ABI.md 13).
 * The toolstack reports a request it cannot deliver without them.
 */
#define TG_STORE_KEY_FEATURE_SHUTDOWN "control/feature-shutdown"
#define TG_STORE_KEY_FEATURE_BALLOON "control/feature-balloon"
#define TG_STORE_SHUTDOWN_POWEROFF "poweroff"
#define TG_STORE_SHUTDOWN_REBOOT "reboot"

#endif /* TORTUGA_IO_STORE_H */
