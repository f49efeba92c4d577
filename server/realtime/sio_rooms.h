/* sio_rooms.h: the rooms of one Socket.IO namespace: a hash of named rooms, each a list of
 * its members, and on each member (a socket) the list of the rooms it is in. Plain memory,
 * no I/O: sio_server embeds a sio_rooms_t in each namespace and a sio_rooms_member_t in
 * each socket, and finds the socket from its member with kds_container_of.
 *
 * Invariants: a room exists only while it has members (the last leave frees it); a member
 * is in a room exactly when the room's list holds a link to it, and then the member's list
 * holds the same link; counts equal list lengths. */
#ifndef KDS_SIO_ROOMS_H
#define KDS_SIO_ROOMS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "list.h"

#define SIO_ROOM_NAME_MAX 255

typedef struct sio_room sio_room;

/* A namespace's rooms. */
typedef struct sio_rooms {
  sio_room **rb; /* hash buckets (a power of two of them, or none yet) */
  size_t nrb, nrooms;
  uint64_t stamp; /* the last selection (sio_rooms_exclude) */
} sio_rooms_t;

/* One member's side (a socket). Fields are read-only outside sio_rooms.c; the stamps come
 * first as a broadcast reads them on every recipient. */
typedef struct sio_rooms_member {
  uint64_t picked, excluded; /* the selection that last picked / excluded this member */
  kds_list rooms;            /* its links, in the order joined */
  size_t n;                  /* rooms joined */
} sio_rooms_member_t;

void sio_rooms_init(sio_rooms_t *t);
/* Frees the table. Every member must have left first (asserted). */
void sio_rooms_release(sio_rooms_t *t);

void sio_rooms_member_init(sio_rooms_member_t *m);

/* Puts `m` in the room `name` (len bytes, 1..SIO_ROOM_NAME_MAX, not checked here), creating
 * the room. Already in it: 0 and nothing changes. Returns 0 or KDS_ENOMEM (then `m` is
 * unchanged). Limits on how many rooms a member joins are the caller's. */
int sio_rooms_join(sio_rooms_t *t, sio_rooms_member_t *m, const char *name, size_t len);

/* Takes `m` out of `name` (a room that empties is freed). Not in it: nothing happens. */
void sio_rooms_leave(sio_rooms_t *t, sio_rooms_member_t *m, const char *name);

/* Takes `m` out of every room it is in. */
void sio_rooms_leave_all(sio_rooms_t *t, sio_rooms_member_t *m);

/* 1 when `m` is in `name`, else 0. */
int sio_rooms_has(const sio_rooms_member_t *m, const char *name);

/* Members of `name` (0 when there is no such room). */
size_t sio_rooms_size(const sio_rooms_t *t, const char *name);

/* Appends the names of m's rooms to `out`, each NUL-terminated, in the order joined (the
 * form recovery keeps them in). Returns 0 or KDS_ENOMEM. */
int sio_rooms_names(const sio_rooms_member_t *m, kds_buf *out);

/* Appends the name of every room of `t`, each NUL-terminated, in no particular order.
 * Returns 0 or KDS_ENOMEM. */
int sio_rooms_all(const sio_rooms_t *t, kds_buf *out);

/* Selections, for broadcasts: a member is picked at most once per selection, and never when
 * it is in one of the selection's excluded rooms.
 *
 * sio_rooms_exclude starts a selection, marks the members of the `nexcept` rooms `except`
 * as excluded from it and returns its stamp. sio_rooms_pick returns 1 (and remembers it)
 * the first time it is asked about `m` within selection `sel` if `m` is not excluded, else
 * 0. sio_rooms_each calls fn on every member of room `name` in turn (none if there is no
 * such room) and stops at the first non-zero return, which it returns (else 0); fn must not
 * join or leave rooms of `t`. */
uint64_t sio_rooms_exclude(sio_rooms_t *t, const char *const *except, size_t nexcept);
int sio_rooms_pick(sio_rooms_member_t *m, uint64_t sel);
int sio_rooms_each(const sio_rooms_t *t, const char *name, int (*fn)(sio_rooms_member_t *m, void *ud),
                   void *ud);

#endif
