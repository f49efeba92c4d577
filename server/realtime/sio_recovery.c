/* sio_recovery.c: the replay buffer and the sessions of one namespace (see sio_recovery.h).
 * A stored event and a session are one allocation each, their strings inside. */
#include "sio_recovery.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"

typedef struct sio_stored {
  kds_list link;
  char id[SIO_RECOVERY_OFFSET_MAX + 1];
  uint64_t emitted_at;
  size_t data_len, rooms_len, except_len; /* rooms/except: NUL-terminated names back to back */
  char *rooms, *except;
  char data[];
} sio_stored;

struct sio_recovery_session {
  kds_list link;                      /* r->sessions, oldest first */
  struct sio_recovery_session *hnext; /* r->sb chain (by pid) */
  char sid[EIO_ID_LEN + 1];
  char pid[EIO_ID_LEN + 1];
  uint64_t disconnected_at;
  size_t rooms_len, state_len, owner_len;
  char *rooms, *state, *owner;
  char buf[];
};

typedef sio_recovery_session session;

void sio_recovery_init(sio_recovery_t *r, size_t max_packets, size_t max_sessions, uint64_t max_age) {
  memset(r, 0, sizeof(*r));
  assert(max_packets > 0 && max_sessions > 0);
  r->max_packets = max_packets;
  r->max_sessions = max_sessions;
  r->max_age = max_age;
  kds_list_init(&r->packets);
  kds_list_init(&r->sessions);
}

static void stored_free_head(sio_recovery_t *r) {
  sio_stored *p;
  assert(!kds_list_empty(&r->packets) && r->npackets > 0);
  p = kds_container_of(r->packets.next, sio_stored, link);
  kds_list_remove(&p->link);
  r->npackets--;
  free(p);
}

static session **session_slot(sio_recovery_t *r, const char *pid) {
  return &r->sb[kds_hash(pid, strlen(pid)) & (r->nsb - 1)];
}

static void session_free(sio_recovery_t *r, session *se) {
  session **pp;
  int found = 0;
  assert(r->nsessions > 0 && r->nsb > 0);
  for (pp = session_slot(r, se->pid); *pp; pp = &(*pp)->hnext) {
    if (*pp == se) {
      *pp = se->hnext;
      found = 1;
      break;
    }
  }
  assert(found); /* every session is on its pid's chain */
  (void)found;
  kds_list_remove(&se->link);
  r->nsessions--;
  free(se);
}

void sio_recovery_release(sio_recovery_t *r) {
  while (!kds_list_empty(&r->packets)) stored_free_head(r);
  while (!kds_list_empty(&r->sessions)) session_free(r, kds_container_of(r->sessions.next, session, link));
  assert(r->npackets == 0 && r->nsessions == 0);
  free(r->sb);
  r->sb = NULL;
  r->nsb = 0;
}

int sio_recovery_store(sio_recovery_t *r, const char *offset, uint64_t now, const char *data, size_t len,
                       const char *const *rooms, size_t nrooms, const char *const *except, size_t nexcept) {
  size_t rl = 0, el = 0;
  sio_stored *p;
  char *w;
  for (size_t i = 0; i < nrooms; i++) rl += strlen(rooms[i]) + 1;
  for (size_t i = 0; i < nexcept; i++) el += strlen(except[i]) + 1;
  if ((p = malloc(sizeof(*p) + len + 1 + rl + el)) == NULL) return KDS_ENOMEM;
  snprintf(p->id, sizeof(p->id), "%s", offset);
  p->emitted_at = now;
  p->data_len = len;
  memcpy(p->data, data, len);
  p->data[len] = '\0';
  w = p->rooms = p->data + len + 1;
  for (size_t i = 0; i < nrooms; i++) w = stpcpy(w, rooms[i]) + 1;
  p->except = w;
  for (size_t i = 0; i < nexcept; i++) w = stpcpy(w, except[i]) + 1;
  p->rooms_len = rl;
  p->except_len = el;
  kds_list_push(&r->packets, &p->link);
  if (++r->npackets > r->max_packets) stored_free_head(r);
  assert(r->npackets <= r->max_packets);
  return 0;
}

static session *session_find(sio_recovery_t *r, const char *pid) {
  if (r->nsb == 0) return NULL;
  for (session *se = *session_slot(r, pid); se; se = se->hnext)
    if (strcmp(se->pid, pid) == 0) return se;
  return NULL;
}

/* Links `se` into the hash (grown when it can be; a table that cannot grow keeps longer
 * chains) and the age list. Fails only when there is no table at all. */
static int session_insert(sio_recovery_t *r, session *se) {
  session **pp;
  if (r->nsessions + 1 > r->nsb * 2) {
    size_t n = r->nsb ? r->nsb * 2 : 64;
    session **b = calloc(n, sizeof(*b));
    if (b == NULL && r->nsb == 0) return KDS_ENOMEM;
    if (b) {
      for (size_t i = 0; i < r->nsb; i++) {
        session *x = r->sb[i], *next;
        for (; x; x = next) {
          size_t k = kds_hash(x->pid, strlen(x->pid)) & (n - 1);
          next = x->hnext;
          x->hnext = b[k];
          b[k] = x;
        }
      }
      free(r->sb);
      r->sb = b;
      r->nsb = n;
    }
  }
  pp = session_slot(r, se->pid);
  se->hnext = *pp;
  *pp = se;
  kds_list_push(&r->sessions, &se->link);
  if (++r->nsessions > r->max_sessions) session_free(r, kds_container_of(r->sessions.next, session, link));
  assert(r->nsessions <= r->max_sessions);
  return 0;
}

/* socket._onclose: keep what a reconnect needs (sid, pid, rooms, state, owner). */
int sio_recovery_save(sio_recovery_t *r, const sio_recovery_identity *id, uint64_t now) {
  session *se, *old;
  char *w;
  if ((se = malloc(sizeof(*se) + id->rooms.len + id->state.len + id->owner.len)) == NULL) return KDS_ENOMEM;
  snprintf(se->sid, sizeof(se->sid), "%s", id->sid);
  snprintf(se->pid, sizeof(se->pid), "%s", id->pid);
  se->disconnected_at = now;
  se->rooms = w = se->buf;
  if (id->rooms.len) memcpy(w, id->rooms.ptr, id->rooms.len);
  se->rooms_len = id->rooms.len;
  se->state = w += id->rooms.len;
  se->state_len = id->state.len;
  if (id->state.len) memcpy(w, id->state.ptr, id->state.len);
  se->owner = w += id->state.len;
  se->owner_len = id->owner.len;
  if (id->owner.len) memcpy(w, id->owner.ptr, id->owner.len);
  if ((old = session_find(r, se->pid)) != NULL) session_free(r, old);
  if (session_insert(r, se) != 0) {
    free(se);
    return KDS_ENOMEM;
  }
  return 0;
}

/* Names back to back, each NUL-terminated: the membership test of stored packets. */
static int names_has(const char *names, size_t len, const char *name) {
  for (size_t i = 0; i < len;) {
    size_t n = strlen(names + i);
    if (strcmp(names + i, name) == 0) return 1;
    i += n + 1;
  }
  return 0;
}

/* shouldIncludePacket: in one of the packet's rooms (or it had none), in none of its
 * exceptions. */
static int session_wants(const session *se, const sio_stored *p) {
  int included = p->rooms_len == 0;
  for (size_t i = 0; i < se->rooms_len;) {
    const char *room = se->rooms + i;
    if (!included && names_has(p->rooms, p->rooms_len, room)) included = 1;
    if (names_has(p->except, p->except_len, room)) return 0;
    i += strlen(room) + 1;
  }
  return included;
}

/* restoreSession, called only once the CONNECT was authenticated (SPEC 11.21): a pid
 * restores once, and a session that is not this owner's is left for its owner. */
int sio_recovery_restore(sio_recovery_t *r, const char *pid, const char *offset, kds_slice owner,
                         uint64_t now, const sio_recovery_restore_cbs *cbs, void *ud) {
  session *se = session_find(r, pid);
  sio_recovery_identity id;
  kds_list *n;
  if (se == NULL) return 0;
  if (se->disconnected_at + r->max_age < now) {
    session_free(r, se);
    return 0;
  }
  if (se->owner_len != owner.len || (se->owner_len && memcmp(se->owner, owner.ptr, se->owner_len) != 0))
    return 0;
  for (n = r->packets.prev; n != &r->packets; n = n->prev)
    if (strcmp(kds_container_of(n, sio_stored, link)->id, offset) == 0) break;
  if (n == &r->packets) return 0;
  id.sid = se->sid;
  id.pid = se->pid;
  id.rooms.ptr = se->rooms;
  id.rooms.len = se->rooms_len;
  id.state.ptr = se->state;
  id.state.len = se->state_len;
  id.owner.ptr = se->owner;
  id.owner.len = se->owner_len;
  if (cbs->adopt(ud, &id) != 0) return 0;
  for (n = n->next; n != &r->packets; n = n->next) {
    sio_stored *p = kds_container_of(n, sio_stored, link);
    if (!session_wants(se, p)) continue;
    if (cbs->replay(ud, p->data, p->data_len) != 0) break;
  }
  session_free(r, se);
  return 1;
}

void sio_recovery_expire(sio_recovery_t *r, uint64_t now) {
  kds_list *n = r->sessions.next;
  while (n != &r->sessions) {
    session *se = kds_container_of(n, session, link);
    n = n->next;
    if (se->disconnected_at + r->max_age < now) session_free(r, se);
  }
  while (!kds_list_empty(&r->packets) &&
         kds_container_of(r->packets.next, sio_stored, link)->emitted_at + r->max_age < now)
    stored_free_head(r);
}
