/* test_sio_rooms.c: a namespace's rooms alone (server/realtime/sio_rooms.c): join and leave on both
 * sides, rooms freed when they empty, the hash growing, names in join order, and the
 * selections a broadcast makes (each member once, exclusions, stopping early). */
#include "sio_rooms.c"

#include "test.h"

/* Every room on its chain holds as many links as it counts, each pointing back at it and
 * at a member that lists the same link. */
static int table_consistent(const sio_rooms_t *t) {
  size_t rooms = 0;
  for (size_t i = 0; i < t->nrb; i++) {
    for (const sio_room *r = t->rb[i]; r; r = r->next) {
      size_t n = 0;
      rooms++;
      if (r->n == 0) return 0;
      for (const kds_list *l = r->members.next; l != &r->members; l = l->next) {
        const sio_room_link *x = kds_container_of(l, sio_room_link, room_link);
        if (x->room != r || member_link(x->member, r->name) != x) return 0;
        n++;
      }
      if (n != r->n) return 0;
    }
  }
  return rooms == t->nrooms;
}

static void t_join_leave(void) {
  sio_rooms_t t;
  sio_rooms_member_t a, b;
  kds_buf names;
  sio_rooms_init(&t);
  sio_rooms_member_init(&a);
  sio_rooms_member_init(&b);
  kds_buf_init(&names);
  ok(sio_rooms_size(&t, "x") == 0 && !sio_rooms_has(&a, "x"), "empty table");
  ok(sio_rooms_join(&t, &a, "x", 1) == 0 && sio_rooms_join(&t, &a, "yy", 2) == 0, "a joins x and yy");
  ok(sio_rooms_join(&t, &a, "x", 1) == 0 && a.n == 2 && sio_rooms_size(&t, "x") == 1,
     "joining twice is once");
  ok(sio_rooms_join(&t, &b, "x", 1) == 0, "b joins x");
  ok(sio_rooms_size(&t, "x") == 2 && sio_rooms_size(&t, "yy") == 1 && t.nrooms == 2, "sizes and room count");
  ok(sio_rooms_has(&a, "yy") && !sio_rooms_has(&b, "yy") && !sio_rooms_has(&a, "y"),
     "membership by exact name");
  ok(table_consistent(&t), "both sides agree");
  ok(sio_rooms_names(&a, &names) == 0 && names.len == 5 && memcmp(names.base, "x\0yy\0", 5) == 0,
     "names in join order, NUL-terminated");
  sio_rooms_leave(&t, &b, "yy");
  ok(sio_rooms_size(&t, "yy") == 1 && b.n == 1, "leaving a room one is not in changes nothing");
  sio_rooms_leave(&t, &a, "yy");
  ok(sio_rooms_size(&t, "yy") == 0 && t.nrooms == 1 && a.n == 1, "the last leave frees the room");
  sio_rooms_leave_all(&t, &a);
  ok(a.n == 0 && kds_list_empty(&a.rooms) && sio_rooms_size(&t, "x") == 1, "leave_all: a is in none");
  ok(table_consistent(&t), "still consistent");
  sio_rooms_leave_all(&t, &b);
  ok(t.nrooms == 0 && table_consistent(&t), "no members, no rooms");
  kds_buf_release(&names);
  sio_rooms_release(&t);
}

static void t_grow(void) {
  enum { N = 300 };
  sio_rooms_t t;
  static sio_rooms_member_t m[N];
  char name[32];
  int all = 1;
  sio_rooms_init(&t);
  for (int i = 0; i < N; i++) {
    sio_rooms_member_init(&m[i]);
    snprintf(name, sizeof(name), "room-%d", i);
    if (sio_rooms_join(&t, &m[i], name, strlen(name)) != 0 || sio_rooms_join(&t, &m[i], "all", 3) != 0)
      all = 0;
  }
  ok(all, "%d members join their own room and one shared", N);
  ok(t.nrooms == N + 1 && t.nrb >= (N + 1) / 2, "the table grew (%zu buckets)", t.nrb);
  for (int i = 0; i < N && all; i++) {
    snprintf(name, sizeof(name), "room-%d", i);
    if (sio_rooms_size(&t, name) != 1 || !sio_rooms_has(&m[i], name)) all = 0;
  }
  ok(all && sio_rooms_size(&t, "all") == N, "every room is found after growing");
  ok(table_consistent(&t), "consistent after growing");
  for (int i = 0; i < N; i++) sio_rooms_leave_all(&t, &m[i]);
  ok(t.nrooms == 0, "all gone");
  sio_rooms_release(&t);
}

typedef struct seen {
  sio_rooms_member_t *picked[8];
  int n, visits, stop_after;
  uint64_t sel;
} seen;

static int visit(sio_rooms_member_t *m, void *ud) {
  seen *s = ud;
  s->visits++;
  if (sio_rooms_pick(m, s->sel) && s->n < 8) s->picked[s->n++] = m;
  return s->stop_after && s->visits >= s->stop_after ? 7 : 0;
}

static int was_picked(const seen *s, const sio_rooms_member_t *m) {
  for (int i = 0; i < s->n; i++)
    if (s->picked[i] == m) return 1;
  return 0;
}

static void t_select(void) {
  sio_rooms_t t;
  sio_rooms_member_t a, b, c, d;
  const char *const rooms[] = {"r1", "r2", "nope"};
  const char *const except[] = {"muted", "nope"};
  seen s;
  sio_rooms_init(&t);
  sio_rooms_member_init(&a);
  sio_rooms_member_init(&b);
  sio_rooms_member_init(&c);
  sio_rooms_member_init(&d);
  sio_rooms_join(&t, &a, "r1", 2);
  sio_rooms_join(&t, &a, "r2", 2); /* in both: picked once */
  sio_rooms_join(&t, &b, "r2", 2);
  sio_rooms_join(&t, &c, "r1", 2);
  sio_rooms_join(&t, &c, "muted", 5); /* excluded */
  sio_rooms_join(&t, &d, "other", 5); /* in neither room */

  memset(&s, 0, sizeof(s));
  s.sel = sio_rooms_exclude(&t, except, 2);
  for (int i = 0; i < 3; i++) ok(sio_rooms_each(&t, rooms[i], visit, &s) == 0, "each %s: 0", rooms[i]);
  ok(s.visits == 4, "every link visited (%d)", s.visits);
  ok(s.n == 2 && was_picked(&s, &a) && was_picked(&s, &b), "a once, b; not c (excluded), not d");

  memset(&s, 0, sizeof(s));
  s.sel = sio_rooms_exclude(&t, NULL, 0);
  ok(s.sel > 0, "a new selection");
  sio_rooms_each(&t, "r1", visit, &s);
  ok(s.n == 2 && was_picked(&s, &a) && was_picked(&s, &c),
     "a new selection picks again, c no longer excluded");
  ok(sio_rooms_pick(&d, s.sel) == 1 && sio_rooms_pick(&d, s.sel) == 0, "pick outside rooms: once");

  memset(&s, 0, sizeof(s));
  s.sel = sio_rooms_exclude(&t, except, 1);
  s.stop_after = 1;
  ok(sio_rooms_each(&t, "r1", visit, &s) == 7 && s.visits == 1, "a non-zero return stops and comes back");
  ok(sio_rooms_pick(&c, s.sel) == 0, "excluded member: never picked");

  sio_rooms_leave_all(&t, &a);
  sio_rooms_leave_all(&t, &b);
  sio_rooms_leave_all(&t, &c);
  sio_rooms_leave_all(&t, &d);
  sio_rooms_release(&t);
}

int main(void) {
  subtest("join and leave", t_join_leave);
  subtest("growing", t_grow);
  subtest("selections", t_select);
  return done_testing();
}
