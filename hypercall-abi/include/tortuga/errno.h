/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: error codes.
 *
 * Hypercalls return a non-negative value on success and a negative error
 * code on failure. The values equal Linux's errno numbers on x86-64, so a
 * Linux guest can pass them on unchanged.
 */
#ifndef TORTUGA_ERRNO_H
#define TORTUGA_ERRNO_H

#define TG_EPERM 1   /* operation not permitted to this domain */
#define TG_ENOENT 2  /* no such object (port, key, grant) */
#define TG_ESRCH 3   /* no such domain or vCPU */
#define TG_EINTR 4   /* interrupted; retry */
#define TG_EIO 5     /* I/O error reported by a backend */
#define TG_E2BIG 7   /* argument list or batch too long */
#define TG_EAGAIN 11 /* try again later */
#define TG_ENOMEM 12 /* out of memory or reservation exhausted */
#define TG_EACCES 13 /* permission denied by grant or store ACL */
#define TG_EFAULT 14 /* guest pointer not mapped (see ABI.md: fatal for pointers) */
#define TG_EBUSY 16  /* object in use (mapped grant, pinned table) */
#define TG_EEXIST 17 /* object already exists or already bound */
#define TG_EINVAL 22 /* invalid argument */
#define TG_ENOSPC 28 /* no free slot (ports, grant entries, store quota) */
#define TG_ENOSYS 38 /* no such hypercall or sub-operation */
#define TG_ENOTEMPTY 39
#define TG_EOVERFLOW 75
#define TG_EOPNOTSUPP 95 /* feature not offered by this VMM */
#define TG_ETIMEDOUT 110

#endif /* TORTUGA_ERRNO_H */
