/* test_sio_recovery.c: connection state recovery's memory alone (server/realtime/sio_recovery.c):
 * the replay buffer and its bound, sessions saved and replaced, a restore bound to the
 * owner and to a buffered offset that replays only what the session's rooms select, and
 * expiry. */
#include "sio_recovery.c"

#include "test.h"

typedef struct got {
  int adopted, refuse, stop_after;
  char sid[EIO_ID_LEN + 1], pid[EIO_ID_LEN + 1];
  char rooms[64], state[64];
  size_t rooms_len, state_len;
  char replayed[256]; /* data arrays, joined with '|' */
  int nreplayed;
} got;

static int on_adopt(void *ud, const sio_recovery_identity *id) {
  got *g = ud;
  g->adopted++;
  if (g->refuse) return KDS_ENOMEM;
  snprintf(g->sid, sizeof(g->sid), "%s", id->sid);
  snprintf(g->pid, sizeof(g->pid), "%s", id->pid);
  memcpy(g->rooms, id->rooms.ptr, id->rooms.len);
  g->rooms_len = id->rooms.len;
  memcpy(g->state, id->state.ptr, id->state.len);
  g->state_len = id->state.len;
  return 0;
}

static int on_replay(void *ud, const char *data, size_t len) {
  got *g = ud;
  size_t n = strlen(g->replayed);
  snprintf(g->replayed + n, sizeof(g->replayed) - n, "%s%.*s", n ? "|" : "", (int)len, data);
  g->nreplayed++;
  return g->stop_after && g->nreplayed >= g->stop_after ? 1 : 0;
}

static const sio_recovery_restore_cbs cbs = {on_adopt, on_replay};

static kds_slice sl(const char *p, size_t len) {
  kds_slice s = {p, len};
  return s;
}

static int save(sio_recovery_t *r, const char *pid, const char *rooms, size_t rooms_len, const char *owner,
                uint64_t now) {
  sio_recovery_identity id;
  id.sid = "sid-of-";
  id.pid = pid;
  id.rooms = sl(rooms, rooms_len);
  id.state = sl("ST", 2);
  id.owner = sl(owner, strlen(owner));
  return sio_recovery_save(r, &id, now);
}

static int restore(sio_recovery_t *r, const char *pid, const char *offset, const char *owner, uint64_t now,
                   got *g) {
  return sio_recovery_restore(r, pid, offset, sl(owner, strlen(owner)), now, &cbs, g);
}

static void store(sio_recovery_t *r, const char *offset, uint64_t now, const char *data, const char *room,
                  const char *except) {
  ok(sio_recovery_store(r, offset, now, data, strlen(data), room ? &room : NULL, room ? 1 : 0,
                        except ? &except : NULL, except ? 1 : 0) == 0,
     "store %s", offset);
}

static void t_restore(void) {
  sio_recovery_t r;
  got g;
  sio_recovery_init(&r, 100, 100, 1000);
  ok(save(&r, "pid1", "x\0sock\0", 7, "u1", 10) == 0 && r.nsessions == 1, "a session saved");
  store(&r, "o1", 20, "[\"e\",1]", NULL, NULL);
  store(&r, "o2", 21, "[\"e\",2]", "y", NULL);    /* a room the session is not in */
  store(&r, "o3", 22, "[\"e\",3]", "x", NULL);    /* one it is in */
  store(&r, "o4", 23, "[\"e\",4]", NULL, "sock"); /* everyone but it */
  store(&r, "o5", 24, "[\"e\",5]", NULL, NULL);   /* everyone */
  ok(r.npackets == 5, "five kept");

  memset(&g, 0, sizeof(g));
  ok(restore(&r, "pid1", "o1", "u2", 30, &g) == 0 && g.adopted == 0, "another owner: not restored");
  ok(r.nsessions == 1, "the session is left for its owner");
  ok(restore(&r, "pid1", "gone", "u1", 30, &g) == 0 && g.adopted == 0 && r.nsessions == 1,
     "an offset not buffered: not restored, session left");
  ok(restore(&r, "nobody", "o1", "u1", 30, &g) == 0, "an unknown pid: not restored");
  g.refuse = 1;
  ok(restore(&r, "pid1", "o1", "u1", 30, &g) == 0 && g.adopted == 1 && g.nreplayed == 0 && r.nsessions == 1,
     "adopt refused: not restored, nothing replayed, session left");

  memset(&g, 0, sizeof(g));
  ok(restore(&r, "pid1", "o1", "u1", 30, &g) == 1, "the owner restores");
  ok(strcmp(g.sid, "sid-of-") == 0 && strcmp(g.pid, "pid1") == 0, "ids adopted");
  ok(g.rooms_len == 7 && memcmp(g.rooms, "x\0sock\0", 7) == 0, "rooms adopted");
  ok(g.state_len == 2 && memcmp(g.state, "ST", 2) == 0, "state adopted");
  ok(strcmp(g.replayed, "[\"e\",3]|[\"e\",5]") == 0, "replayed what its rooms select: %s", g.replayed);
  ok(r.nsessions == 0, "the session is consumed");
  memset(&g, 0, sizeof(g));
  ok(restore(&r, "pid1", "o1", "u1", 30, &g) == 0, "a pid restores once");
  ok(r.npackets == 5, "the packets stay for others");
  sio_recovery_release(&r);
}

static void t_empty_owner_and_stop(void) {
  sio_recovery_t r;
  got g;
  sio_recovery_init(&r, 100, 100, 1000);
  save(&r, "p", "", 0, "", 0);
  store(&r, "a", 1, "[1]", NULL, NULL);
  store(&r, "b", 2, "[2]", NULL, NULL);
  store(&r, "c", 3, "[3]", NULL, NULL);
  memset(&g, 0, sizeof(g));
  g.stop_after = 1;
  ok(restore(&r, "p", "a", "", 5, &g) == 1, "two empty owners match");
  ok(g.nreplayed == 1 && strcmp(g.replayed, "[2]") == 0, "a non-zero replay return stops the replay");
  ok(r.nsessions == 0, "the restore still consumed the session");
  memset(&g, 0, sizeof(g));
  save(&r, "p", "", 0, "", 5);
  ok(restore(&r, "p", "c", "", 6, &g) == 1 && g.nreplayed == 0,
     "at the newest offset: restored, nothing missed");
  sio_recovery_release(&r);
}

static void t_bounds(void) {
  sio_recovery_t r;
  got g;
  char pid[16];
  int all = 1;
  sio_recovery_init(&r, 3, 2, 1000);
  save(&r, "s1", "", 0, "", 0);
  store(&r, "o1", 0, "[1]", NULL, NULL);
  store(&r, "o2", 0, "[2]", NULL, NULL);
  store(&r, "o3", 0, "[3]", NULL, NULL);
  store(&r, "o4", 0, "[4]", NULL, NULL);
  ok(r.npackets == 3, "max_packets kept");
  memset(&g, 0, sizeof(g));
  ok(restore(&r, "s1", "o1", "", 1, &g) == 0 && r.nsessions == 1, "the oldest offset is gone");
  ok(restore(&r, "s1", "o2", "", 1, &g) == 1 && strcmp(g.replayed, "[3]|[4]") == 0, "the next one restores");

  ok(save(&r, "a", "", 0, "one", 1) == 0 && save(&r, "a", "", 0, "two", 2) == 0 && r.nsessions == 1,
     "the same pid saved twice: one session");
  memset(&g, 0, sizeof(g));
  ok(restore(&r, "a", "o4", "one", 3, &g) == 0, "the replaced session's owner is gone");
  save(&r, "b", "", 0, "", 3);
  save(&r, "c", "", 0, "", 4);
  ok(r.nsessions == 2, "max_sessions kept");
  ok(restore(&r, "a", "o4", "two", 5, &g) == 0, "the oldest session was dropped");
  ok(restore(&r, "c", "o4", "", 5, &g) == 1, "the newest is there");
  sio_recovery_release(&r);

  sio_recovery_init(&r, 10, 1000, 1000);
  for (int i = 0; i < 300; i++) {
    snprintf(pid, sizeof(pid), "pid-%d", i);
    if (save(&r, pid, "", 0, "", 0) != 0) all = 0;
  }
  ok(all && r.nsessions == 300 && r.nsb >= 150, "the session hash grew (%zu buckets)", r.nsb);
  store(&r, "o", 0, "[0]", NULL, NULL);
  for (int i = 299; i >= 0 && all; i--) {
    snprintf(pid, sizeof(pid), "pid-%d", i);
    memset(&g, 0, sizeof(g));
    if (restore(&r, pid, "o", "", 1, &g) != 1) all = 0;
  }
  ok(all && r.nsessions == 0, "every session found after growing");
  sio_recovery_release(&r);
}

static void t_expiry(void) {
  sio_recovery_t r;
  got g;
  sio_recovery_init(&r, 100, 100, 1000);
  save(&r, "old", "", 0, "", 0);
  save(&r, "new", "", 0, "", 900);
  store(&r, "o1", 0, "[1]", NULL, NULL);
  store(&r, "o2", 950, "[2]", NULL, NULL);
  memset(&g, 0, sizeof(g));
  ok(restore(&r, "old", "o2", "", 1001, &g) == 0 && g.adopted == 0, "older than max_age: not restored");
  ok(r.nsessions == 1, "and dropped on the way");
  ok(restore(&r, "new", "o1", "", 1000, &g) == 1, "at max_age exactly: still restored");
  save(&r, "new", "", 0, "", 900);
  sio_recovery_expire(&r, 1500);
  ok(r.nsessions == 1 && r.npackets == 1, "expire at 1500: the packet of 0 goes, the rest stays");
  sio_recovery_expire(&r, 2000);
  ok(r.nsessions == 0 && r.npackets == 0, "expire at 2000: everything goes");
  sio_recovery_release(&r);
}

int main(void) {
  subtest("restore", t_restore);
  subtest("empty owners, stopped replay", t_empty_owner_and_stop);
  subtest("bounds", t_bounds);
  subtest("expiry", t_expiry);
  return done_testing();
}
