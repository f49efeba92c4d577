/* Unit tests for kds-tui/outbox.c: changes leave in the order they were made, one at a time;
 * an unanswered one is sent again with the same id; ids are unique per run; payloads. */
#include <stdio.h>
#include <string.h>

#include "test.h"

#include "err.h"
#include "outbox.h"

static outbox_item status_change(const char *inv, enum ticket_status from, enum ticket_status to) {
  outbox_item c;
  memset(&c, 0, sizeof(c));
  c.kind = OUTBOX_STATUS;
  snprintf(c.invoice, sizeof(c.invoice), "%s", inv);
  c.from = from;
  c.to = to;
  return c;
}

static void t_order(void) {
  static outbox ob;
  outbox_item c, *it, done;
  char first_id[OUTBOX_ID_SIZE];
  outbox_init(&ob, 0xabcdef0123456789ull);
  ok(outbox_next(&ob) == NULL, "empty: nothing to send");
  ok(outbox_settle(&ob, NULL) == KDS_ENOTFOUND, "empty: nothing to settle");
  c = status_change("INV-1", TS_NEW, TS_READY);
  it = NULL;
  ok(outbox_add(&ob, &c, &it) == 0 && it != NULL, "queued");
  ok(strcmp(it->id, "kabcdef0123456789-1") == 0, "id: prefix and counter (%s)", it->id);
  snprintf(first_id, sizeof(first_id), "%s", it->id);
  c = status_change("INV-2", TS_NEW, TS_PREPARING);
  ok(outbox_add(&ob, &c, NULL) == 0, "second queued");
  c = status_change("INV-1", TS_READY, TS_COMPLETED);
  ok(outbox_add(&ob, &c, NULL) == 0, "third queued");
  ok(outbox_count_for(&ob, "INV-1") == 2 && outbox_count_for(&ob, "INV-2") == 1 &&
         outbox_count_for(&ob, "INV-9") == 0,
     "counts per invoice");

  it = outbox_next(&ob);
  ok(it && strcmp(it->invoice, "INV-1") == 0 && it->to == TS_READY && it->sends == 1,
     "the oldest goes first");
  ok(outbox_next(&ob) == NULL, "one at a time: nothing more while it is in flight");
  ok(outbox_unanswered(&ob) == 0, "lost ack: kept");
  it = outbox_next(&ob);
  ok(it && strcmp(it->id, first_id) == 0 && it->sends == 2, "sent again with the same id");
  ok(outbox_settle(&ob, &done) == 0 && strcmp(done.id, first_id) == 0 && ob.n == 2, "answered: removed");
  it = outbox_next(&ob);
  ok(it && strcmp(it->invoice, "INV-2") == 0, "then the second");
  ok(outbox_settle(&ob, NULL) == 0, "settled");
  it = outbox_next(&ob);
  ok(it && it->to == TS_COMPLETED && strcmp(it->id, "kabcdef0123456789-3") == 0,
     "then the third, its own id");
  for (int i = 1; i < OUTBOX_MAX_SENDS; i++) {
    ok(outbox_unanswered(&ob) == 0, "unanswered %d: try again", i);
    ok(outbox_next(&ob) != NULL, "resent");
  }
  ok(outbox_unanswered(&ob) == 1, "given up after %d sends", OUTBOX_MAX_SENDS);
  ok(outbox_next(&ob) != NULL && outbox_settle(&ob, NULL) == 0 && ob.n == 0, "settled by the caller: empty");
}

static void t_full(void) {
  static outbox ob;
  outbox_item c = status_change("INV-1", TS_NEW, TS_READY), *it;
  int all = 1;
  outbox_init(&ob, 1);
  for (int i = 0; i < OUTBOX_MAX; i++) all &= outbox_add(&ob, &c, NULL) == 0;
  ok(all, "%d changes fit", OUTBOX_MAX);
  ok(outbox_add(&ob, &c, NULL) == KDS_EFULL, "one more is refused");
  /* the ring wraps: settle a few, add a few, order holds */
  for (int i = 0; i < 3; i++) {
    outbox_next(&ob);
    outbox_settle(&ob, NULL);
  }
  c = status_change("INV-last", TS_NEW, TS_READY);
  ok(outbox_add(&ob, &c, NULL) == 0, "room again after three settled");
  it = outbox_at(&ob, ob.n - 1);
  ok(it && strcmp(it->invoice, "INV-last") == 0, "the newest is last across the wrap");
  ok(outbox_at(&ob, ob.n) == NULL, "past the end: NULL");
}

static void t_payload(void) {
  static outbox ob;
  outbox_item c = status_change("INV-\"1\"", TS_NEW, TS_PREPARING), *it;
  kds_buf b = KDS_BUF_INIT;
  outbox_init(&ob, 2);
  outbox_add(&ob, &c, &it);
  ok(outbox_payload(it, &b) == 0 && b.len > 0, "status payload");
  kds_buf_addc(&b, '\0');
  ok(strcmp(b.base,
            "{\"invoice_number\":\"INV-\\\"1\\\"\",\"status\":\"preparing\",\"action_id\":"
            "\"k0000000000000002-1\"}") == 0,
     "status payload text: %s", b.base);
  ok(strcmp(outbox_event(it), "order-status") == 0, "event order-status");
  b.len = 0;
  memset(&c, 0, sizeof(c));
  c.kind = OUTBOX_LINE;
  snprintf(c.invoice, sizeof(c.invoice), "INV-2");
  c.line = 3;
  c.done = 1;
  outbox_add(&ob, &c, &it);
  ok(outbox_payload(it, &b) == 0, "line payload");
  kds_buf_addc(&b, '\0');
  ok(strcmp(
         b.base,
         "{\"invoice_number\":\"INV-2\",\"line\":3,\"done\":true,\"action_id\":\"k0000000000000002-2\"}") ==
         0,
     "line payload text: %s", b.base);
  ok(strcmp(outbox_event(it), "line-done") == 0, "event line-done");
  kds_buf_release(&b);
}

int main(void) {
  subtest("order", t_order);
  subtest("full", t_full);
  subtest("payload", t_payload);
  return done_testing();
}
