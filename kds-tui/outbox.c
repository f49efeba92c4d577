/* outbox.c: the queue of changes on their way to the server, with their action ids. */
#include "outbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "sio.h"

void outbox_init(outbox *ob, uint64_t random64) {
  memset(ob, 0, sizeof(*ob));
  snprintf(ob->prefix, sizeof(ob->prefix), "k%016" PRIx64, random64);
}

outbox_item *outbox_at(outbox *ob, size_t i) {
  return i < ob->n ? &ob->items[(ob->head + i) % OUTBOX_MAX] : NULL;
}

outbox_item *outbox_head(outbox *ob) {
  return outbox_at(ob, 0);
}

int outbox_add(outbox *ob, const outbox_item *change, outbox_item **out) {
  outbox_item *it;
  if (ob->n >= OUTBOX_MAX) return KDS_EFULL;
  it = &ob->items[(ob->head + ob->n) % OUTBOX_MAX];
  *it = *change;
  it->sends = 0;
  snprintf(it->id, sizeof(it->id), "%s-%lu", ob->prefix, ++ob->count);
  ob->n++;
  if (out) *out = it;
  return 0;
}

outbox_item *outbox_next(outbox *ob) {
  outbox_item *it = outbox_head(ob);
  if (!it || ob->in_flight) return NULL;
  ob->in_flight = 1;
  it->sends++;
  return it;
}

int outbox_settle(outbox *ob, outbox_item *done) {
  if (!ob->in_flight || ob->n == 0) return KDS_ENOTFOUND;
  if (done) *done = ob->items[ob->head];
  ob->head = (ob->head + 1) % OUTBOX_MAX;
  ob->n--;
  ob->in_flight = 0;
  return 0;
}

int outbox_unanswered(outbox *ob) {
  outbox_item *it = outbox_head(ob);
  if (!ob->in_flight || !it) return 0;
  ob->in_flight = 0;
  return it->sends >= OUTBOX_MAX_SENDS;
}

size_t outbox_count_for(const outbox *ob, const char *invoice) {
  size_t c = 0;
  for (size_t i = 0; i < ob->n; i++)
    if (strcmp(ob->items[(ob->head + i) % OUTBOX_MAX].invoice, invoice) == 0) c++;
  return c;
}

const char *outbox_event(const outbox_item *it) {
  return it->kind == OUTBOX_LINE ? "line-done" : "order-status";
}

int outbox_payload(const outbox_item *it, kds_buf *b) {
  int rc = kds_buf_adds(b, "{\"invoice_number\":");
  if (!rc) rc = sio_json_quote(b, it->invoice, strlen(it->invoice));
  if (!rc && it->kind == OUTBOX_LINE)
    rc = kds_buf_addf(b, ",\"line\":%" PRId64 ",\"done\":%s", it->line, it->done ? "true" : "false");
  else if (!rc)
    rc = kds_buf_addf(b, ",\"status\":\"%s\"", model_status_name(it->to));
  if (!rc) rc = kds_buf_addf(b, ",\"action_id\":\"%s\"}", it->id);
  return rc ? KDS_ENOMEM : 0;
}
