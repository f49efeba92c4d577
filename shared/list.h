/* list.h: intrusive circular doubly-linked lists (as libuv's queue.h): a node lives inside
 * the object, so linking costs no allocation and unlinking on close is O(1). */
#ifndef KDS_LIST_H
#define KDS_LIST_H

#include <stddef.h>

typedef struct kds_list {
  struct kds_list *next;
  struct kds_list *prev;
} kds_list;

/* The object that embeds `ptr` as its member `member`. */
#define kds_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A head, or a node not on any list, points at itself. */
static inline void kds_list_init(kds_list *h) {
  h->next = h;
  h->prev = h;
}

static inline int kds_list_empty(const kds_list *h) {
  return h->next == h;
}

/* Appends `n` (not on a list) at the tail of `h`. */
static inline void kds_list_push(kds_list *h, kds_list *n) {
  n->prev = h->prev;
  n->next = h;
  h->prev->next = n;
  h->prev = n;
}

/* Unlinks `n` and leaves it pointing at itself: removing twice is harmless. */
static inline void kds_list_remove(kds_list *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  kds_list_init(n);
}

/* Moves every node of `from` to the tail of `to`; `from` is left empty. */
static inline void kds_list_splice(kds_list *to, kds_list *from) {
  if (kds_list_empty(from)) return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  kds_list_init(from);
}

#endif
