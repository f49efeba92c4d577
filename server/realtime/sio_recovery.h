/* sio_recovery.h: connection state recovery for one Socket.IO namespace: the events
 * broadcast with their offsets (a bounded replay buffer) and the sessions of sockets that
 * left for a recoverable reason, by private id (pid). Plain memory, no I/O: times are
 * passed in (ms on the loop's clock), and a restore hands the identity and the missed
 * events to callbacks, which do the sending. */
#ifndef KDS_SIO_RECOVERY_H
#define KDS_SIO_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "eio.h"
#include "list.h"

#define SIO_RECOVERY_OFFSET_MAX 39 /* bytes of an offset (a yeast id) */

typedef struct sio_recovery_session sio_recovery_session;

typedef struct sio_recovery {
  size_t max_packets;        /* the replay buffer keeps this many events (the newest) */
  size_t max_sessions;       /* beyond it the oldest session is dropped */
  uint64_t max_age;          /* ms a packet or a session stays usable (maxDisconnectionDuration) */
  kds_list packets;          /* stored events, oldest first */
  size_t npackets;           /* their number */
  kds_list sessions;         /* sessions, oldest first */
  sio_recovery_session **sb; /* hash of sessions by pid */
  size_t nsb, nsessions;
} sio_recovery_t;

/* What a socket leaves behind, and gets back on a restore. Slices are borrowed. */
typedef struct sio_recovery_identity {
  const char *sid; /* public socket id (NUL-terminated, at most EIO_ID_LEN bytes) */
  const char *pid; /* private id, the key (likewise) */
  kds_slice rooms; /* room names, each NUL-terminated, back to back */
  kds_slice state; /* the socket's state bytes (sio_socket_set_state) */
  kds_slice owner; /* who may restore it (sio_socket_set_owner) */
} sio_recovery_identity;

/* A restore's two steps, both with the caller's `ud`. adopt gets the session's identity
 * (owner not set) to take over; a non-zero return cancels the restore (the session stays).
 * replay then gets each missed event the session wants, oldest first, as the data array of
 * an EVENT packet; a non-zero return stops the replay (the restore still counts). Neither
 * may store packets or save sessions into the same sio_recovery_t. */
typedef struct sio_recovery_restore_cbs {
  int (*adopt)(void *ud, const sio_recovery_identity *id);
  int (*replay)(void *ud, const char *data, size_t len);
} sio_recovery_restore_cbs;

/* Sets up an empty buffer; max_packets and max_sessions >= 1. */
void sio_recovery_init(sio_recovery_t *r, size_t max_packets, size_t max_sessions, uint64_t max_age);
/* Frees every stored packet and session. */
void sio_recovery_release(sio_recovery_t *r);

/* Keeps an event for replay: `offset` (its id, at most SIO_RECOVERY_OFFSET_MAX bytes, longer
 * is cut), sent at `now`, `data` its data array (len bytes, copied), to sockets in any of
 * `rooms` (none: everyone) and in none of `except` (names copied). Beyond max_packets the
 * oldest goes. Returns 0 or KDS_ENOMEM (nothing kept). */
int sio_recovery_store(sio_recovery_t *r, const char *offset, uint64_t now, const char *data, size_t len,
                       const char *const *rooms, size_t nrooms, const char *const *except, size_t nexcept);

/* Saves the session of a socket that left at `now` (everything copied), replacing any
 * session of the same pid; beyond max_sessions the oldest goes. Returns 0 or KDS_ENOMEM
 * (the new session is not kept). */
int sio_recovery_save(sio_recovery_t *r, const sio_recovery_identity *id, uint64_t now);

/* Restores session `pid` for a socket owned by `owner`, at `now`: only if the session is
 * younger than max_age (an older one is dropped), has the same owner bytes (else it is left
 * for its owner) and `offset` is still buffered. Then cbs->adopt, then cbs->replay for
 * each stored event after `offset` that the session's rooms select (in one of the event's
 * rooms, or it had none, and in none of its exceptions), and the session is consumed.
 * Returns 1 when restored, 0 when not (callbacks not called, or adopt refused). */
int sio_recovery_restore(sio_recovery_t *r, const char *pid, const char *offset, kds_slice owner,
                         uint64_t now, const sio_recovery_restore_cbs *cbs, void *ud);

/* Drops the sessions and stored events older than max_age at `now`. */
void sio_recovery_expire(sio_recovery_t *r, uint64_t now);

#endif
