/* SPDX-License-Identifier: MIT */
/* Tortuga hypercall ABI: everything a guest kernel needs, in one include. */
#ifndef TORTUGA_TORTUGA_H
#define TORTUGA_TORTUGA_H

#include "types.h"
#include "errno.h"
#include "cpu.h"
#include "hypercall.h"
#include "start_info.h"
#include "shared_info.h"
#include "elfnote.h"
#include "event_channel.h"
#include "memory.h"
#include "vcpu.h"
#include "grant_table.h"
#include "io/ring.h"
#include "io/blkif.h"
#include "io/netif.h"
#include "io/console.h"
#include "io/store.h"

#endif /* TORTUGA_TORTUGA_H */
