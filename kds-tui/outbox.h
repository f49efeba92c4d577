/* outbox.h: the display's changes on their way to the server (SPEC 5.1): status changes and
 * line-done marks, in the order they were made, each with an action id the server remembers.
 * A change made while the link is down waits here (the ticket shows it as pending) and goes
 * out on reconnect; one whose ack was lost is sent again with the same id, and the server
 * answers it without applying it twice. Changes go out one at a time, so they land in the
 * order they were made. Pure data, no I/O: app_net.c sends and reports the acks. */
#ifndef KDS_TUI_OUTBOX_H
#define KDS_TUI_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "model.h"

#define OUTBOX_MAX 200     /* waiting changes; more are refused (a kitchen offline for hours) */
#define OUTBOX_ID_SIZE 40  /* "k" + 16 random hex digits + "-" + a counter, NUL */
#define OUTBOX_MAX_SENDS 5 /* attempts (lost acks) before a change is given up and reported */

enum outbox_kind { OUTBOX_STATUS, OUTBOX_LINE };

typedef struct outbox_item {
  enum outbox_kind kind;
  char id[OUTBOX_ID_SIZE];
  char invoice[48];
  enum ticket_status from, to; /* OUTBOX_STATUS */
  int push;                    /* a bump: goes on the recall stack when acknowledged */
  int recall;                  /* a recall (for the messages) */
  int64_t line;                /* OUTBOX_LINE: the 1-based line */
  int done;                    /* OUTBOX_LINE */
  int64_t made_ms;             /* when the cook made it */
  unsigned sends;              /* times sent so far */
} outbox_item;

typedef struct outbox {
  outbox_item items[OUTBOX_MAX]; /* a ring: items[(head + i) % OUTBOX_MAX], i < n */
  size_t head, n;
  int in_flight;       /* the head was sent and its ack is awaited */
  char prefix[20];     /* "k" + 16 random hex digits: unique to this run of the display */
  unsigned long count; /* ids made so far */
} outbox;

/* Sets up an empty outbox; `random64` seeds the id prefix (two displays signed in as the same
 * user must never make the same id). */
void outbox_init(outbox *ob, uint64_t random64);

/* Appends a change (its id is made here; *out, if not NULL, points at the stored item until
 * the next outbox call). Returns 0 or KDS_EFULL. */
int outbox_add(outbox *ob, const outbox_item *change, outbox_item **out);

/* The change to send next (the oldest) when none is in flight, else NULL. Marks it in flight
 * and counts the attempt. */
outbox_item *outbox_next(outbox *ob);

/* The oldest change (sent or not), or NULL when empty. */
outbox_item *outbox_head(outbox *ob);

/* The in-flight change was answered (accepted or refused: either way it is done): removes
 * it. `*done` (may be NULL) gets a copy. Returns 0 or KDS_ENOTFOUND when nothing was in
 * flight. */
int outbox_settle(outbox *ob, outbox_item *done);

/* The in-flight change got no answer (timeout, link lost): it stays first, to be sent again
 * with the same id. Returns 1 when it has been tried OUTBOX_MAX_SENDS times (the caller
 * should settle and report it), else 0. */
int outbox_unanswered(outbox *ob);

/* Changes waiting for `invoice` (in flight included). */
size_t outbox_count_for(const outbox *ob, const char *invoice);

/* The i-th waiting change, oldest first (0 <= i < ob->n). */
outbox_item *outbox_at(outbox *ob, size_t i);

/* Appends the socket payload of `it` to `b`: order-status {invoice_number, status, action_id}
 * or line-done {invoice_number, line, done, action_id}. Returns 0 or KDS_ENOMEM. */
int outbox_payload(const outbox_item *it, kds_buf *b);

/* The socket event name of `it`. */
const char *outbox_event(const outbox_item *it);

#endif
