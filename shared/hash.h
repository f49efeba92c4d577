/* hash.h: the one string hash of the project (FNV-1a, 64 bits) for in-memory hash tables:
 * session ids, recovery pids, token hashes, client addresses. Not for anything an attacker
 * could use to collide on purpose beyond slowing one bucket: keys are random ids or
 * bounded counts per table. */
#ifndef KDS_HASH_H
#define KDS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a of `len` bytes at `p` (NULL allowed when len is 0). */
uint64_t kds_hash(const void *p, size_t len);

/* The same over a NUL-terminated string. */
uint64_t kds_hash_str(const char *s);

#endif
