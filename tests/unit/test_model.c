/* Unit tests for kds-tui/model.c: tickets from order events, ordering, station filter,
 * stale events, REST loads, all-day totals, average ticket time, recall, limits, hostile
 * input, and every allocation of the model failing in turn. */
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Allocation failure injection for the model's own allocations: the n-th call fails. */
static long alloc_count, alloc_fail_at = -1;
static int alloc_should_fail(void) {
  return alloc_fail_at >= 0 && alloc_count++ == alloc_fail_at;
}
static void *t_malloc(size_t n) {
  return alloc_should_fail() ? NULL : malloc(n);
}
static void *t_calloc(size_t a, size_t b) {
  return alloc_should_fail() ? NULL : calloc(a, b);
}
static void *t_realloc(void *p, size_t n) {
  return alloc_should_fail() ? NULL : realloc(p, n);
}
static char *t_strndup(const char *s, size_t n) {
  return alloc_should_fail() ? NULL : strndup(s, n);
}
#include <string.h>
#define malloc t_malloc
#define calloc t_calloc
#define realloc t_realloc
#define strndup t_strndup
#include "../../kds-tui/model.c"
#undef malloc
#undef calloc
#undef realloc
#undef strndup

#define T0 1699000000000LL /* 2023-11-03T08:26:40Z */

/* An order as the server sends it. `lines` is the raw JSON of the lines array. */
static cJSON *order_json(const char *inv, const char *status, const char *created, const char *updated,
                         const char *lines, const char *extra) {
  char buf[8192];
  snprintf(buf, sizeof(buf),
           "{\"invoice_number\":\"%s\",\"date\":\"2023-11-03\",\"total_amount\":1,"
           "\"ISI CORNDOG\":{\"quantity\":2,\"total_amount\":1,\"items\":[\"Corndog Sosis\"]},"
           "\"SAUS ASIN\":{\"quantity\":2,\"total_amount\":1,\"items\":[\"Saus Tomat\",\"Mayonaise\"]},"
           "\"status\":\"%s\",\"created_at\":\"%s\",\"updated_at\":\"%s\",\"payment_method\":\"CASH\","
           "\"outlet_id\":1%s%s,\"lines\":%s}",
           inv, status, created, updated ? updated : created, extra ? "," : "", extra ? extra : "", lines);
  cJSON *j = cJSON_Parse(buf);
  if (!j) {
    fprintf(stderr, "bad test JSON: %s\n", buf);
    abort();
  }
  return j;
}

static const char *std_lines =
    "[{\"product_id\":5,\"name\":\"Saus Tomat\",\"category\":\"SAUS "
    "ASIN\",\"qty\":1,\"price\":1000,\"subtotal\":1000},"
    "{\"product_id\":1,\"name\":\"Corndog Sosis\",\"category\":\"ISI "
    "CORNDOG\",\"qty\":2,\"price\":6000,\"subtotal\":12000},"
    "{\"product_id\":6,\"name\":\"Mayonaise\",\"category\":\"SAUS "
    "ASIN\",\"qty\":1,\"price\":1000,\"subtotal\":1000}]";

static int apply(model_t *m, const char *event, const char *inv, const char *status, const char *created,
                 const char *updated, int64_t now) {
  cJSON *j = order_json(inv, status, created, updated, std_lines, NULL);
  int rc = model_apply(m, event, j, now, NULL);
  cJSON_Delete(j);
  return rc;
}

static void t_time(void) {
  int64_t ms;
  ok(model_parse_time("2023-11-03T10:15:02.123+07:00", &ms) == 0 && ms == 1698981302123LL, "offset +07:00");
  ok(model_parse_time("2023-11-03T03:15:02.123Z", &ms) == 0 && ms == 1698981302123LL, "Z");
  ok(model_parse_time("2023-11-03T03:15:02Z", &ms) == 0 && ms == 1698981302000LL, "no fraction");
  ok(model_parse_time("2023-11-02T22:15:02.5-05:00", &ms) == 0 && ms == 1698981302500LL,
     "negative offset, .5");
  ok(model_parse_time("2024-02-29T00:00:00.000+00:00", &ms) == 0 && ms == 1709164800000LL, "leap day");
  ok(model_parse_time("2023-11-03T10:15:02", &ms) == KDS_EINVAL, "no zone refused");
  ok(model_parse_time("2023-13-03T10:15:02Z", &ms) == KDS_EINVAL, "month 13 refused");
  ok(model_parse_time("2023-11-03T10:15:02.Z", &ms) == KDS_EINVAL, "empty fraction refused");
  ok(model_parse_time("garbage", &ms) == KDS_EINVAL, "garbage refused");
  ok(model_parse_time(NULL, &ms) == KDS_EINVAL, "NULL refused");
  ok(model_parse_time("2023-11-03T10:15:02+0700", &ms) == 0 && ms == 1698981302000LL, "offset without colon");
  ok(model_parse_time("2023-11-03T10:15:02+07:00x", &ms) == KDS_EINVAL, "trailing bytes refused");
}

static void t_new_order(void) {
  model_t m;
  ticket_t *t;
  ok(model_init(&m, NULL) == 0, "init");
  cJSON *j = order_json("INV-20231103-0001", "new", "2023-11-03T10:15:02.123+07:00", NULL, std_lines,
                        "\"note\":\"no onion\"");
  ok(model_apply(&m, "new-order", j, T0, &t) == MODEL_ADDED && t, "added");
  cJSON_Delete(j);
  ok(m.n == 1 && m.nvis == 1 && m.vis[0] == t, "one visible ticket");
  ok(strcmp(t->invoice, "INV-20231103-0001") == 0 && t->status == TS_NEW, "invoice and status");
  ok(t->created_ms == 1698981302123LL, "created_at parsed");
  ok(t->note && strcmp(t->note, "no onion") == 0, "note");
  ok(t->nlines == 3, "three lines");
  /* grouped by category in the order's key order (ISI CORNDOG first), line order kept inside */
  ok(strcmp(t->lines[0].category, "ISI CORNDOG") == 0 && t->lines[0].qty == 2 &&
         strcmp(t->lines[0].name, "Corndog Sosis") == 0,
     "2x Corndog Sosis first (category display order)");
  ok(strcmp(t->lines[1].name, "Saus Tomat") == 0 && strcmp(t->lines[2].name, "Mayonaise") == 0 &&
         t->lines[1].qty == 1 && strcmp(t->lines[2].category, "SAUS ASIN") == 0,
     "SAUS ASIN lines in order");
  ok(t->seen_ms == T0, "highlighted from now");
  ok(m.version > 0, "version moved");
  ok(model_age_ms(&m, t, 1698981302123LL + 65000) == 65000, "age");
  ok(model_age_ms(&m, t, 1698981302123LL - 5000) == 0, "age never negative (clock skew)");
  ok(apply(&m, "new-order", "INV-20231103-0001", "new", "2023-11-03T10:15:02.123+07:00", NULL, T0) ==
         MODEL_UPDATED,
     "the same order twice is an update, not a second ticket");
  ok(m.n == 1, "still one ticket");
  ok(model_apply(&m, "something-else", NULL, T0, NULL) == MODEL_NONE, "unknown events ignored");
  model_release(&m);
}

static void t_updates(void) {
  model_t m;
  model_init(&m, NULL);
  apply(&m, "new-order", "INV-1", "new", "2023-11-03T10:00:00.000+07:00", NULL, T0);
  ok(apply(&m, "order-updated", "INV-1", "preparing", "2023-11-03T10:00:00.000+07:00",
           "2023-11-03T10:01:00.000+07:00", T0) == MODEL_UPDATED,
     "to preparing");
  ok(model_find(&m, "INV-1")->status == TS_PREPARING, "status preparing");
  ok(model_find(&m, "INV-1")->seen_ms == T0, "highlight time kept across updates");
  ok(apply(&m, "order-updated", "INV-1", "new", "2023-11-03T10:00:00.000+07:00",
           "2023-11-03T10:00:30.000+07:00", T0) == MODEL_STALE,
     "an older update is stale");
  ok(model_find(&m, "INV-1")->status == TS_PREPARING, "... and changes nothing");
  ok(apply(&m, "order-updated", "INV-1", "completed", "2023-11-03T10:00:00.000+07:00",
           "2023-11-03T10:05:00.000+07:00", T0) == MODEL_REMOVED,
     "completed closes the ticket");
  ok(m.n == 0 && m.nvis == 0, "gone");
  ok(apply(&m, "new-order", "INV-1", "new", "2023-11-03T10:00:00.000+07:00", NULL, T0) == MODEL_STALE,
     "a late copy of the new-order does not bring it back");
  ok(m.n == 0, "still gone");
  ok(apply(&m, "order-updated", "INV-1", "ready", "2023-11-03T10:00:00.000+07:00",
           "2023-11-03T10:06:00.000+07:00", T0) == MODEL_ADDED,
     "a recall (completed -> ready, newer) brings it back");
  ok(m.n == 1 && model_find(&m, "INV-1")->status == TS_READY, "ready again");
  cJSON *del = cJSON_Parse("{\"invoice_number\":\"INV-1\"}");
  ok(model_apply(&m, "order-deleted", del, T0, NULL) == MODEL_REMOVED && m.n == 0, "order-deleted removes");
  ok(apply(&m, "order-updated", "INV-1", "ready", "2023-11-03T10:00:00.000+07:00",
           "2023-11-03T11:00:00.000+07:00", T0) == MODEL_STALE,
     "a voided order never comes back");
  ok(model_apply(&m, "order-deleted", del, T0, NULL) == MODEL_NONE, "deleting an unknown order is harmless");
  cJSON_Delete(del);
  ok(apply(&m, "order-updated", "INV-2", "cancelled", "2023-11-03T10:00:00.000+07:00", NULL, T0) ==
         MODEL_NONE,
     "a closed order never seen changes nothing");
  model_release(&m);
}

static void t_order(void) {
  model_t m;
  model_init(&m, NULL);
  apply(&m, "new-order", "INV-3", "new", "2023-11-03T10:03:00.000+07:00", NULL, T0);
  apply(&m, "new-order", "INV-1", "new", "2023-11-03T10:01:00.000+07:00", NULL, T0);
  apply(&m, "new-order", "INV-2", "new", "2023-11-03T10:02:00.000+07:00", NULL, T0);
  ok(m.nvis == 3 && strcmp(m.vis[0]->invoice, "INV-1") == 0 && strcmp(m.vis[1]->invoice, "INV-2") == 0 &&
         strcmp(m.vis[2]->invoice, "INV-3") == 0,
     "oldest first whatever the arrival order");
  cJSON *j = order_json("INV-4", "new", "2023-11-03T10:04:00.000+07:00", NULL, std_lines, "\"rush\":true");
  model_apply(&m, "new-order", j, T0, NULL);
  cJSON_Delete(j);
  ok(strcmp(m.vis[0]->invoice, "INV-4") == 0 && m.vis[0]->rush, "a rush ticket goes to the front");
  apply(&m, "new-order", "INV-0", "new", "2023-11-03T10:01:00.000+07:00", NULL, T0);
  ok(strcmp(m.vis[1]->invoice, "INV-0") == 0 && strcmp(m.vis[2]->invoice, "INV-1") == 0,
     "equal times: by invoice");
  model_release(&m);
}

static void t_station(void) {
  model_t m;
  ok(model_init(&m, " saus asin , SAUS MANIS,") == 0 && m.nstations == 2, "two stations, blanks trimmed");
  ok(strcmp(m.stations[0], "saus asin") == 0, "names kept");
  apply(&m, "new-order", "INV-1", "new", "2023-11-03T10:01:00.000+07:00", NULL, T0);
  cJSON *j = order_json("INV-2", "new", "2023-11-03T10:02:00.000+07:00", NULL,
                        "[{\"name\":\"Corndog Sosis\",\"category\":\"ISI CORNDOG\",\"qty\":1}]", NULL);
  int rc = model_apply(&m, "new-order", j, T0, NULL);
  cJSON_Delete(j);
  ok(rc == MODEL_ADDED && m.n == 2 && m.nvis == 1, "a ticket with no line for the station is hidden");
  ticket_t *t = m.vis[0];
  ok(t->nvisible == 2 && !t->lines[0].visible && t->lines[1].visible && t->lines[2].visible,
     "only the station's lines are visible (case-insensitive)");
  model_allday_row *rows;
  long n = model_allday(&m, &rows);
  ok(n == 2, "all-day counts only the station's items");
  free(rows);
  model_release(&m);
  ok(model_init(&m, " , ") == KDS_EINVAL, "an empty station list is refused");
  char many[2048] = "";
  for (int i = 0; i < MODEL_MAX_STATIONS + 1; i++)
    snprintf(many + strlen(many), sizeof(many) - strlen(many), "C%d,", i);
  ok(model_init(&m, many) == KDS_EINVAL, "too many stations refused (and nothing leaked)");
}

static void t_load(void) {
  model_t m;
  size_t added;
  model_init(&m, NULL);
  apply(&m, "new-order", "INV-1", "new", "2023-11-03T10:01:00.000+07:00", NULL, T0);
  apply(&m, "new-order", "INV-2", "new", "2023-11-03T10:02:00.000+07:00", NULL, T0);
  /* while away: INV-1 completed, INV-2 started, INV-3 created */
  cJSON *list = cJSON_CreateArray();
  cJSON_AddItemToArray(list,
                       order_json("INV-3", "new", "2023-11-03T10:03:00.000+07:00", NULL, std_lines, NULL));
  cJSON_AddItemToArray(list, order_json("INV-2", "preparing", "2023-11-03T10:02:00.000+07:00",
                                        "2023-11-03T10:02:30.000+07:00", std_lines, NULL));
  cJSON_AddItemToArray(list, cJSON_CreateString("not an order"));
  ok(model_load(&m, list, T0 + 5000, 1, &added) == 0, "load");
  ok(added == 1, "one ticket this display had not seen");
  ok(m.n == 2 && !model_find(&m, "INV-1"), "what the listing lacks is closed");
  ok(model_find(&m, "INV-2")->status == TS_PREPARING, "updated from the listing");
  ok(model_find(&m, "INV-2")->seen_ms == T0, "... keeping its first-seen time");
  ok(model_find(&m, "INV-3")->seen_ms == T0 + 5000, "the missed one is highlighted");
  ok(strcmp(m.vis[0]->invoice, "INV-2") == 0, "sorted");
  ok(apply(&m, "new-order", "INV-1", "new", "2023-11-03T10:01:00.000+07:00", NULL, T0) == MODEL_ADDED,
     "a held event (same updated_at) applied after the load wins over an absence");
  cJSON_Delete(list);
  model_release(&m);

  model_init(&m, NULL);
  list = cJSON_CreateArray();
  cJSON_AddItemToArray(list,
                       order_json("INV-9", "new", "2023-11-03T10:03:00.000+07:00", NULL, std_lines, NULL));
  ok(model_load(&m, list, T0, 0, &added) == 0 && added == 1 && m.vis[0]->seen_ms == 0,
     "the start-up load highlights nothing");
  cJSON_Delete(list);
  cJSON *notarr = cJSON_CreateObject();
  ok(model_load(&m, notarr, T0, 1, NULL) == KDS_EINVAL && m.n == 1,
     "a listing that is not an array changes nothing");
  cJSON_Delete(notarr);
  model_release(&m);
}

static void t_allday(void) {
  model_t m;
  model_allday_row *r;
  model_init(&m, NULL);
  apply(&m, "new-order", "INV-1", "new", "2023-11-03T10:01:00.000+07:00", NULL, T0);
  apply(&m, "new-order", "INV-2", "ready", "2023-11-03T10:02:00.000+07:00", NULL, T0);
  cJSON *j = order_json("INV-3", "preparing", "2023-11-03T10:03:00.000+07:00", NULL,
                        "[{\"name\":\"Kentang\",\"category\":\"BALUTAN\",\"qty\":3},"
                        "{\"name\":\"Corndog Mozzarella\",\"category\":\"ISI CORNDOG\",\"qty\":4}]",
                        NULL);
  model_apply(&m, "new-order", j, T0, NULL);
  cJSON_Delete(j);
  long n = model_allday(&m, &r);
  ok(n == 5, "five distinct items");
  /* ISI CORNDOG first (first seen), names sorted inside; then SAUS ASIN; then BALUTAN */
  ok(n == 5 && strcmp(r[0].name, "Corndog Mozzarella") == 0 && r[0].todo == 4 &&
         strcmp(r[1].name, "Corndog Sosis") == 0,
     "ISI CORNDOG grouped, names sorted");
  ok(n == 5 && r[1].todo == 2 && r[1].ready == 2, "Corndog Sosis: 2 to make, 2 ready");
  ok(n == 5 && strcmp(r[2].category, "SAUS ASIN") == 0 && strcmp(r[2].name, "Mayonaise") == 0 &&
         r[3].todo == 1,
     "SAUS ASIN next");
  ok(n == 5 && strcmp(r[4].category, "BALUTAN") == 0 && r[4].todo == 3, "BALUTAN last with 3");
  free(r);
  model_release(&m);
}

static void t_stats(void) {
  model_t m;
  size_t count;
  int64_t now;
  model_init(&m, NULL);
  model_parse_time("2023-11-03T12:00:00.000+07:00", &now);
  ok(model_avg_ticket_secs(&m, now, &count) == -1 && count == 0, "no data: -1");
  apply(&m, "new-order", "INV-1", "new", "2023-11-03T12:00:00.000+07:00", NULL, now);
  /* The stats are per local day: use TZ-independent checks by taking "today" from created. */
  apply(&m, "order-updated", "INV-1", "ready", "2023-11-03T12:00:00.000+07:00",
        "2023-11-03T12:04:00.000+07:00", now);
  apply(&m, "new-order", "INV-2", "new", "2023-11-03T12:01:00.000+07:00", NULL, now);
  apply(&m, "order-updated", "INV-2", "ready", "2023-11-03T12:01:00.000+07:00",
        "2023-11-03T12:03:00.000+07:00", now);
  ok(model_avg_ticket_secs(&m, now, &count) == 180 && count == 2, "average of 4 and 2 minutes: 3 minutes");
  /* recalled and bumped again: the new measure replaces the first */
  apply(&m, "order-updated", "INV-2", "preparing", "2023-11-03T12:01:00.000+07:00",
        "2023-11-03T12:05:00.000+07:00", now);
  apply(&m, "order-updated", "INV-2", "ready", "2023-11-03T12:01:00.000+07:00",
        "2023-11-03T12:07:00.000+07:00", now);
  ok(model_avg_ticket_secs(&m, now, &count) == 300 && count == 2, "one measure per ticket (4 and 6 minutes)");
  ok(model_avg_ticket_secs(&m, now + 86400000LL, &count) == -1 && count == 0, "a new day starts empty");
  model_release(&m);
}

static void t_ages(void) {
  model_t m;
  int64_t c;
  model_init(&m, NULL);
  apply(&m, "new-order", "INV-1", "new", "2023-11-03T12:00:00.000+07:00", NULL, T0);
  model_parse_time("2023-11-03T12:00:00.000+07:00", &c);
  ticket_t *t = model_find(&m, "INV-1");
  ok(model_age_level(&m, t, c + 4 * 60000) == 0, "4 min: fine");
  m.skew_ms = 60000; /* the server's clock is a minute ahead of ours */
  ok(model_age_level(&m, t, c + 4 * 60000) == 1, "4 min on our clock, 5 on the server's: warn");
  ok(model_age_ms(&m, t, c) == 60000, "ages on the server's clock");
  m.skew_ms = 0;
  ok(model_age_level(&m, t, c + 5 * 60000) == 1, "5 min: warn");
  ok(model_age_level(&m, t, c + 10 * 60000) == 2, "10 min: late");
  ok(model_late_count(&m, c + 11 * 60000) == 1, "late count");
  t->status = TS_READY;
  ok(model_age_level(&m, t, c + 11 * 60000) == 0, "a ready ticket is not late");
  model_release(&m);
}

static void t_recall(void) {
  model_t m;
  model_recall r;
  model_init(&m, NULL);
  ok(model_recall_pop(&m, T0, &r) == KDS_ENOTFOUND, "empty");
  model_recall_push(&m, "INV-1", TS_NEW, TS_READY, T0);
  model_recall_push(&m, "INV-2", TS_READY, TS_COMPLETED, T0 + 1000);
  ok(model_recall_pop(&m, T0 + 2000, &r) == 0 && strcmp(r.invoice, "INV-2") == 0 && r.to == TS_COMPLETED,
     "newest first");
  ok(model_recall_pop(&m, T0 + 2000, &r) == 0 && strcmp(r.invoice, "INV-1") == 0, "then the older");
  ok(model_recall_pop(&m, T0 + 2000, &r) == KDS_ENOTFOUND, "then nothing");
  for (int i = 0; i < 25; i++) {
    char inv[16];
    snprintf(inv, sizeof(inv), "INV-%d", i);
    model_recall_push(&m, inv, TS_READY, TS_COMPLETED, T0 + i);
  }
  ok(m.nrecall == MODEL_RECALL_MAX, "at most 20 kept");
  ok(model_recall_pop(&m, T0 + 100, &r) == 0 && strcmp(r.invoice, "INV-24") == 0, "the newest is on top");
  ok(model_recall_pop(&m, T0 + 31 * 60000, &r) == KDS_ENOTFOUND && m.nrecall == 0,
     "older than 30 minutes: gone");
  model_release(&m);
}

static void t_hostile(void) {
  model_t m;
  ticket_t *t;
  model_init(&m, NULL);
  const char *bad[] = {
      "[]",
      "null",
      "42",
      "\"x\"",
      "{}",
      "{\"invoice_number\":5}",
      "{\"invoice_number\":\"\"}",
      "{\"invoice_number\":\"INV-1\",\"lines\":7,\"status\":\"new\"}",
      "{\"invoice_number\":\"INV-2\",\"lines\":[1,\"x\",null,{\"qty\":\"many\"}],\"status\":\"new\"}",
      "{\"invoice_number\":\"INV-3\",\"status\":{\"a\":1},\"created_at\":5}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cJSON *j = cJSON_Parse(bad[i]);
    int rc = model_apply(&m, "new-order", j, T0, NULL);
    ok(rc == KDS_EINVAL || rc >= 0, "no crash on %s (rc %d)", bad[i], rc);
    cJSON_Delete(j);
  }
  ok(model_find(&m, "INV-1") && model_find(&m, "INV-1")->nlines == 0,
     "lines of the wrong type: a ticket without lines");
  ok(model_find(&m, "INV-1") && m.nvis == 0, "... which no screen shows (nothing to make)");
  ok(!model_find(&m, "INV-3"), "an unknown status (object) is not an open ticket");
  ok(model_apply(&m, "new-order", NULL, T0, NULL) == KDS_EINVAL, "NULL payload");
  cJSON *del = cJSON_Parse("{\"invoice_number\":7}");
  ok(model_apply(&m, "order-deleted", del, T0, NULL) == KDS_EINVAL, "order-deleted without a string invoice");
  cJSON_Delete(del);

  /* terminal escapes and bad UTF-8 in names and notes never reach the screen raw */
  cJSON *j = order_json("INV-\x1b[2J", "new", "2023-11-03T12:00:00.000+07:00", NULL,
                        "[{\"name\":\"Corn\\u001b[31mdog\\u0007\",\"category\":\"ISI\\u0000X\",\"qty\":1}]",
                        "\"note\":\"\\u009b31m hot \\t\\n\"");
  ok(model_apply(&m, "new-order", j, T0, &t) == MODEL_ADDED, "applied");
  cJSON_Delete(j);
  ok(t && strchr(t->invoice, 0x1b) == NULL, "no ESC in the invoice");
  ok(t && strcmp(t->lines[0].name, "Corn [31mdog") == 0, "ESC and BEL become spaces, trailing blank trimmed");
  ok(t && t->note && strcmp(t->note, "31m hot") == 0, "C1 control (U+009B) replaced, whitespace trimmed");
  ok(t && strcmp(t->lines[0].category, "ISI") == 0, "an embedded NUL ends the name");

  /* invalid UTF-8 bytes straight in the cJSON tree */
  j = order_json("INV-5", "new", "2023-11-03T12:00:00.000+07:00", NULL, "[{\"name\":\"x\",\"qty\":1}]", NULL);
  cJSON *lines = cJSON_GetObjectItem(j, "lines");
  cJSON *l0 = cJSON_GetArrayItem(lines, 0);
  cJSON_ReplaceItemInObject(l0, "name", cJSON_CreateString("Caf\xc3\xa9 \xff\xfe ok \xe2\x82"));
  model_apply(&m, "new-order", j, T0, &t);
  cJSON_Delete(j);
  ok(t && strcmp(t->lines[0].name, "Caf\xc3\xa9 ?? ok ??") == 0, "valid UTF-8 kept, invalid bytes as '?'");

  /* a very long name is cut at a character boundary */
  char longname[1024] = "";
  for (int i = 0; i < 300; i++) strcat(longname, "\xc3\xa9");
  j = order_json("INV-6", "new", "2023-11-03T12:00:00.000+07:00", NULL, "[{\"name\":\"x\",\"qty\":1}]", NULL);
  l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "lines"), 0);
  cJSON_ReplaceItemInObject(l0, "name", cJSON_CreateString(longname));
  model_apply(&m, "new-order", j, T0, &t);
  cJSON_Delete(j);
  ok(t && strlen(t->lines[0].name) == MODEL_MAX_TEXT && utf8_seq((unsigned char *)t->lines[0].name, 2) == 2,
     "cut to %d bytes on a boundary", MODEL_MAX_TEXT);

  /* more lines than the limit: the ticket shows the first MODEL_MAX_LINES */
  kds_buf b = KDS_BUF_INIT;
  kds_buf_adds(&b, "[");
  for (int i = 0; i < MODEL_MAX_LINES + 50; i++)
    kds_buf_addf(&b, "%s{\"name\":\"P%d\",\"qty\":1}", i ? "," : "", i);
  kds_buf_adds(&b, "]");
  j = order_json("INV-7", "new", "2023-11-03T12:00:00.000+07:00", NULL, b.base, NULL);
  kds_buf_release(&b);
  model_apply(&m, "new-order", j, T0, &t);
  cJSON_Delete(j);
  ok(t && t->nlines == MODEL_MAX_LINES, "lines capped");
  model_release(&m);
}

static void t_seed_shape(void) {
  model_t m;
  ticket_t *t;
  model_init(&m, NULL);
  /* a server that sends only the seed's keys (no lines): items per category */
  cJSON *j = cJSON_Parse(
      "{\"invoice_number\":\"INV-20231103-0001\",\"date\":\"2023-11-03\",\"total_amount\":15000,"
      "\"ISI CORNDOG\":{\"quantity\":2,\"total_amount\":12000,\"items\":[\"Corndog Sosis\"]},"
      "\"SAUS ASIN\":{\"quantity\":2,\"total_amount\":2000,\"items\":[\"Saus Tomat\",\"Mayonaise\"]}}");
  ok(model_apply(&m, "new-order", j, T0, &t) == MODEL_ADDED, "seed-only order accepted (status new)");
  cJSON_Delete(j);
  ok(t && t->nlines == 3 && t->lines[0].qty == 2 && strcmp(t->lines[0].name, "Corndog Sosis") == 0,
     "one item: the category quantity");
  ok(t && strcmp(t->lines[1].category, "SAUS ASIN") == 0, "items under their category");
  model_release(&m);
}

static void t_extensions(void) {
  model_t m;
  ticket_t *t;
  model_init(&m, NULL);
  cJSON *j =
      order_json("INV-1", "new", "2023-11-03T12:00:00.000+07:00", NULL,
                 "[{\"name\":\"Corndog Sosis\",\"category\":\"ISI CORNDOG\",\"qty\":2,\"note\":\"no mayo\"},"
                 "{\"name\":\"Mie\",\"category\":\"BALUTAN\",\"qty\":1}]",
                 "\"order_type\":\"dine_in\",\"table\":\"4\",\"customer_name\":\"Budi\",\"done_lines\":[1]");
  model_apply(&m, "new-order", j, T0, &t);
  cJSON_Delete(j);
  ok(t && t->context && strcmp(t->context, "DINE IN T4 Budi") == 0, "order context");
  ok(t && t->lines[0].note && strcmp(t->lines[0].note, "no mayo") == 0, "line note");
  ok(t && !t->lines[0].done && t->lines[1].done, "done_lines marks a line done");
  model_release(&m);
}

static void t_limit(void) {
  model_t m;
  int rc = 0;
  model_init(&m, NULL);
  for (int i = 0; i < MODEL_MAX_TICKETS + 1 && rc >= 0; i++) {
    char inv[32];
    snprintf(inv, sizeof(inv), "INV-%06d", i);
    rc = apply(&m, "new-order", inv, "new", "2023-11-03T12:00:00.000+07:00", NULL, T0);
  }
  ok(rc == KDS_EFULL && m.n == MODEL_MAX_TICKETS && m.refused == 1, "ticket limit: the next one is refused");
  model_release(&m);
}

/* Every allocation of the model fails in turn: an error comes back, nothing leaks (ASan),
 * and the model stays usable. */
static void t_alloc_failures(void) {
  int failures = 0, crashes = 0;
  for (long at = 0; at < 200; at++) {
    model_t m;
    model_init(&m, "ISI CORNDOG,SAUS ASIN");
    apply(&m, "new-order", "INV-0", "new", "2023-11-03T12:00:00.000+07:00", NULL, T0);
    alloc_count = 0;
    alloc_fail_at = at;
    cJSON *j = order_json("INV-1", "new", "2023-11-03T12:00:00.000+07:00", NULL, std_lines,
                          "\"note\":\"n\",\"order_type\":\"takeaway\"");
    int rc = model_apply(&m, "new-order", j, T0, NULL);
    cJSON *list = cJSON_CreateArray();
    cJSON_AddItemToArray(list, j);
    int rc2 = model_load(&m, list, T0, 1, NULL);
    model_allday_row *rows;
    long n = model_allday(&m, &rows);
    if (n >= 0) free(rows);
    int fired = alloc_fail_at >= 0 && alloc_count > at;
    alloc_fail_at = -1;
    cJSON_Delete(list);
    if (fired) failures++;
    if ((rc < 0 && rc != KDS_ENOMEM) || (rc2 < 0 && rc2 != KDS_ENOMEM) || (n < 0 && n != KDS_ENOMEM))
      crashes++;
    /* still usable */
    if (apply(&m, "new-order", "INV-2", "new", "2023-11-03T12:00:00.000+07:00", NULL, T0) < 0) crashes++;
    model_release(&m);
    if (!fired) break;
  }
  ok(failures > 10, "%d allocation points failed in turn", failures);
  ok(crashes == 0, "each failure gave KDS_ENOMEM and left the model usable");
}

int main(void) {
  setlocale(LC_ALL, "C.UTF-8");
  setenv("TZ", "WIB-7", 1); /* the stats are per local day: a fixed zone (UTC+7, no tzdata needed) */
  tzset();
  subtest("time", t_time);
  subtest("new-order", t_new_order);
  subtest("updates", t_updates);
  subtest("order", t_order);
  subtest("station", t_station);
  subtest("load", t_load);
  subtest("allday", t_allday);
  subtest("stats", t_stats);
  subtest("ages", t_ages);
  subtest("recall", t_recall);
  subtest("hostile", t_hostile);
  subtest("seed-shape", t_seed_shape);
  subtest("extensions", t_extensions);
  subtest("limit", t_limit);
  subtest("alloc", t_alloc_failures);
  return done_testing();
}
