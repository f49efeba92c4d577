/* sio_rooms.c: a namespace's rooms (see sio_rooms.h). Each membership is one sio_room_link,
 * on the room's list and on the member's, so leaving is O(1) once found. */
#include "sio_rooms.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"

struct sio_room {
  sio_room *next;   /* hash chain */
  kds_list members; /* sio_room_link.room_link */
  size_t n;
  size_t len;
  char name[];
};

typedef struct sio_room_link {
  sio_room *room;
  sio_rooms_member_t *member;
  kds_list room_link;
  kds_list member_link;
} sio_room_link;

void sio_rooms_init(sio_rooms_t *t) {
  memset(t, 0, sizeof(*t));
}

void sio_rooms_release(sio_rooms_t *t) {
  for (size_t i = 0; i < t->nrb; i++) {
    sio_room *r = t->rb[i], *next;
    for (; r; r = next) {
      next = r->next;
      assert(r->n == 0 && kds_list_empty(&r->members)); /* its members left first */
      free(r);
    }
  }
  free(t->rb);
  memset(t, 0, sizeof(*t));
}

void sio_rooms_member_init(sio_rooms_member_t *m) {
  m->picked = 0;
  m->excluded = 0;
  kds_list_init(&m->rooms);
  m->n = 0;
}

static sio_room *room_find(const sio_rooms_t *t, const char *name, size_t len) {
  sio_room *r;
  if (t->nrb == 0) return NULL;
  for (r = t->rb[kds_hash(name, len) & (t->nrb - 1)]; r; r = r->next)
    if (r->len == len && memcmp(r->name, name, len) == 0) return r;
  return NULL;
}

static int rooms_grow(sio_rooms_t *t) {
  size_t n = t->nrb ? t->nrb * 2 : 64;
  sio_room **b = calloc(n, sizeof(*b));
  if (b == NULL) return KDS_ENOMEM;
  for (size_t i = 0; i < t->nrb; i++) {
    sio_room *r = t->rb[i], *next;
    for (; r; r = next) {
      size_t k = kds_hash(r->name, r->len) & (n - 1);
      next = r->next;
      r->next = b[k];
      b[k] = r;
    }
  }
  free(t->rb);
  t->rb = b;
  t->nrb = n;
  return 0;
}

/* The room, created if need be. A table that cannot grow keeps its chains longer. */
static sio_room *room_get(sio_rooms_t *t, const char *name, size_t len) {
  sio_room *r = room_find(t, name, len);
  size_t k;
  if (r) return r;
  if ((t->nrooms + 1 > t->nrb * 2 || t->nrb == 0) && rooms_grow(t) != 0 && t->nrb == 0) return NULL;
  r = malloc(sizeof(*r) + len + 1);
  if (r == NULL) return NULL;
  kds_list_init(&r->members);
  r->n = 0;
  r->len = len;
  memcpy(r->name, name, len);
  r->name[len] = '\0';
  k = kds_hash(name, len) & (t->nrb - 1);
  r->next = t->rb[k];
  t->rb[k] = r;
  t->nrooms++;
  return r;
}

static void room_drop_if_empty(sio_rooms_t *t, sio_room *r) {
  sio_room **pp;
  if (r->n) return;
  assert(kds_list_empty(&r->members));
  for (pp = &t->rb[kds_hash(r->name, r->len) & (t->nrb - 1)]; *pp; pp = &(*pp)->next) {
    if (*pp == r) {
      assert(t->nrooms > 0);
      *pp = r->next;
      t->nrooms--;
      free(r);
      return;
    }
  }
  assert(!"room missing from its hash chain");
}

static void link_remove(sio_rooms_t *t, sio_room_link *l) {
  sio_room *r = l->room;
  assert(r->n > 0 && l->member->n > 0);
  assert(!kds_list_empty(&r->members) && !kds_list_empty(&l->member->rooms));
  kds_list_remove(&l->room_link);
  kds_list_remove(&l->member_link);
  l->member->n--;
  r->n--;
  free(l);
  room_drop_if_empty(t, r);
}

static sio_room_link *member_link(const sio_rooms_member_t *m, const char *name) {
  for (kds_list *n = m->rooms.next; n != &m->rooms; n = n->next) {
    sio_room_link *l = kds_container_of(n, sio_room_link, member_link);
    assert(l->member == m);
    if (strcmp(l->room->name, name) == 0) return l;
  }
  return NULL;
}

int sio_rooms_join(sio_rooms_t *t, sio_rooms_member_t *m, const char *name, size_t len) {
  sio_room *r;
  sio_room_link *l;
  assert(len > 0 && len <= SIO_ROOM_NAME_MAX && name[len] == '\0'); /* the caller checked the name */
  if (member_link(m, name)) return 0;
  if ((l = malloc(sizeof(*l))) == NULL) return KDS_ENOMEM;
  if ((r = room_get(t, name, len)) == NULL) {
    free(l);
    return KDS_ENOMEM;
  }
  l->room = r;
  l->member = m;
  kds_list_push(&r->members, &l->room_link);
  kds_list_push(&m->rooms, &l->member_link);
  r->n++;
  m->n++;
  return 0;
}

void sio_rooms_leave(sio_rooms_t *t, sio_rooms_member_t *m, const char *name) {
  sio_room_link *l = member_link(m, name);
  if (l) link_remove(t, l);
}

void sio_rooms_leave_all(sio_rooms_t *t, sio_rooms_member_t *m) {
  while (!kds_list_empty(&m->rooms))
    link_remove(t, kds_container_of(m->rooms.next, sio_room_link, member_link));
  assert(m->n == 0);
}

int sio_rooms_has(const sio_rooms_member_t *m, const char *name) {
  return member_link(m, name) != NULL;
}

size_t sio_rooms_size(const sio_rooms_t *t, const char *name) {
  sio_room *r = room_find(t, name, strlen(name));
  return r ? r->n : 0;
}

int sio_rooms_names(const sio_rooms_member_t *m, kds_buf *out) {
  for (kds_list *n = m->rooms.next; n != &m->rooms; n = n->next) {
    const sio_room *r = kds_container_of(n, sio_room_link, member_link)->room;
    if (kds_buf_add(out, r->name, r->len + 1) != 0) return KDS_ENOMEM;
  }
  return 0;
}

uint64_t sio_rooms_exclude(sio_rooms_t *t, const char *const *except, size_t nexcept) {
  uint64_t sel = ++t->stamp;
  for (size_t i = 0; i < nexcept; i++) {
    sio_room *r = room_find(t, except[i], strlen(except[i]));
    if (r == NULL) continue;
    for (kds_list *l = r->members.next; l != &r->members; l = l->next)
      kds_container_of(l, sio_room_link, room_link)->member->excluded = sel;
  }
  return sel;
}

int sio_rooms_pick(sio_rooms_member_t *m, uint64_t sel) {
  if (m->picked == sel || m->excluded == sel) return 0;
  m->picked = sel;
  return 1;
}

int sio_rooms_each(const sio_rooms_t *t, const char *name, int (*fn)(sio_rooms_member_t *m, void *ud),
                   void *ud) {
  sio_room *r = room_find(t, name, strlen(name));
  int rc;
  if (r == NULL) return 0;
  for (kds_list *l = r->members.next; l != &r->members; l = l->next) {
    sio_room_link *x = kds_container_of(l, sio_room_link, room_link);
    assert(x->room == r);
    if ((rc = fn(x->member, ud)) != 0) return rc;
  }
  return 0;
}

int sio_rooms_all(const sio_rooms_t *t, kds_buf *out) {
  for (size_t i = 0; i < t->nrb; i++)
    for (const sio_room *r = t->rb[i]; r; r = r->next)
      if (kds_buf_add(out, r->name, r->len) != 0 || kds_buf_addc(out, '\0') != 0) return KDS_ENOMEM;
  return 0;
}
