/* model.h: what the kitchen display knows, with no I/O and no curses: the open tickets
 * (orders that are new, preparing or ready) oldest first, the station filter, all-day totals,
 * today's average ticket time and the recall stack. Events go in (the order JSON of SPEC 2 as
 * cJSON), views read the fields below. Time is always passed in (ms since the epoch), so the
 * tests control it. */
#ifndef KDS_TUI_MODEL_H
#define KDS_TUI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Limits: a hostile or broken server cannot make the display grow without bound. */
#define MODEL_MAX_TICKETS 5000           /* open tickets kept; more are refused (and counted) */
#define MODEL_MAX_LINES 200              /* lines per ticket (the server's own limit) */
#define MODEL_MAX_TEXT 160               /* bytes kept of a product/category name or note */
#define MODEL_MAX_STATIONS 32            /* categories in --station */
#define MODEL_RECALL_MAX 20              /* bumps kept for recall (SPEC 10) */
#define MODEL_RECALL_MS (30 * 60 * 1000) /* ... made in the last 30 minutes */
#define MODEL_TOMBS 1024                 /* recently closed invoices remembered against stale events */
#define MODEL_MAX_MODS 10                /* modifiers kept per line (the server's own limit, SPEC 10.1) */
#define MODEL_LEAVING_MAX 16             /* cancelled/voided tickets still on screen (SPEC 10.8) */
#define MODEL_LEAVE_MS 5000              /* ... for this long, then they go */
#define MODEL_CHANGED_MS 6000            /* an order whose lines or rush changed stands out this long */

enum ticket_status { TS_NEW, TS_PREPARING, TS_READY, TS_COMPLETED, TS_CANCELLED, TS_UNKNOWN };

/* One line of a ticket: "2x Corndog Sosis" under its category. Strings are owned by the
 * ticket, NUL-terminated, cleaned of control characters (they go to a terminal). */
typedef struct model_line {
  char *category;
  char *name;
  char *note;  /* the line's note (SPEC 10.1), or NULL */
  char **mods; /* its modifiers ("no mayo"), nmods of them (NULL when none) */
  size_t nmods;
  int64_t n;   /* the line's position in the order's `lines` (1-based, for line-done); 0 unknown */
  int qty;     /* exact quantity; 0 when the server sent only category `items` (unknown) */
  int done;    /* SPEC 10 item-level done: drawn dimmed, with a mark */
  int visible; /* passes the station filter */
} model_line;

/* Why a ticket is leaving the screen (SPEC 10.8): shown as such for MODEL_LEAVE_MS. */
enum ticket_gone { TG_NONE, TG_CANCELLED, TG_VOIDED };

typedef struct ticket {
  char invoice[48];
  enum ticket_status status;
  int64_t created_ms; /* server's created_at, ms since the epoch (0 if unparsable) */
  int64_t updated_ms; /* server's updated_at: orders each change of one order */
  int64_t seen_ms;    /* when this display first showed it: the "new ticket" highlight */
  int64_t outlet_id;
  int rush;          /* SPEC 10: goes to the front, with a marker */
  char *note;        /* order note, or NULL */
  char *context;     /* "dine in T4", "takeaway Budi"... (SPEC 10 keys), or NULL */
  model_line *lines; /* grouped by category, categories in the order's display order */
  size_t nlines;
  size_t nvisible;       /* lines passing the station filter; 0 hides the ticket */
  size_t nopen;          /* of those, the ones not done: a station screen hides the ticket at 0 */
  int pending;           /* a status change was sent and its ack is awaited */
  int64_t changed_ms;    /* when an update changed its lines or rush (the "changed" highlight); 0 never */
  enum ticket_gone gone; /* cancelled or voided: on the leaving list, no longer open */
  int64_t gone_ms;       /* when it was */
  uint64_t load_gen;     /* the model_load that added it (counts what a listing added) */
} ticket_t;

/* What one applied event did, for the caller (bell, plain output). */
enum model_change { MODEL_NONE, MODEL_ADDED, MODEL_UPDATED, MODEL_REMOVED, MODEL_STALE };

typedef struct model_recall {
  char invoice[48];
  enum ticket_status from, to; /* the bump was from -> to; recalling asks for `from` again */
  int64_t at_ms;
} model_recall;

typedef struct model_stat {
  char invoice[48];
  int64_t secs; /* created -> ready */
} model_stat;

typedef struct model {
  ticket_t **tickets; /* open tickets, sorted: rush first, then oldest created first */
  size_t n, cap;
  ticket_t **vis; /* the ones the station filter lets through, same order */
  size_t nvis;
  ticket_t **disp; /* what the screen shows: vis plus the leaving tickets at their place */
  size_t ndisp, disp_cap;

  /* Cancelled or voided tickets, kept MODEL_LEAVE_MS so every screen shows them as such
   * (SPEC 10.8). They are not open: model_find, counts and all-day never see them. */
  ticket_t *leaving[MODEL_LEAVING_MAX];
  size_t nleaving;

  char *stations[MODEL_MAX_STATIONS]; /* --station categories; none = show everything */
  size_t nstations;

  model_recall recall[MODEL_RECALL_MAX]; /* a stack: recall[nrecall-1] is the newest */
  size_t nrecall;

  char today[11];    /* YYYY-MM-DD (local) the stats below are about */
  model_stat *stats; /* today's created->ready times, one per invoice */
  size_t nstats, stats_cap;

  struct {
    char invoice[48];
    int64_t updated_ms;
  } tombs[MODEL_TOMBS]; /* ring */
  size_t ntombs, tomb_next;

  uint64_t version;         /* bumped on every change: the UI redraws when it moves */
  uint64_t load_gen;        /* model_load calls so far */
  uint64_t refused;         /* tickets refused for MODEL_MAX_TICKETS */
  int64_t warn_ms, late_ms; /* age thresholds (default 5 and 10 minutes) */
  int64_t skew_ms;          /* server clock - our clock, added to "now" for ages (0 if unknown) */
} model_t;

/* Embedded lifecycle. `stations` is a comma-separated list of category names ("SAUS ASIN,
 * SAUS MANIS"; blanks around names ignored, matched without regard to ASCII case) or NULL for
 * all. Returns 0, KDS_EINVAL (more than MODEL_MAX_STATIONS names or an empty list) or
 * KDS_ENOMEM; on error nothing is left to release. release is safe after a failed init. */
int model_init(model_t *m, const char *stations);
void model_release(model_t *m);

/* Applies one live event: "new-order" and "order-updated" (payload: the order) insert, update
 * or remove (a status other than new/preparing/ready closes the ticket); "order-deleted"
 * ({invoice_number}) removes. An event older than what is known (its updated_at before the
 * ticket's, or the invoice was closed later) changes nothing (MODEL_STALE). Unknown events
 * are MODEL_NONE. `*out` (may be NULL) gets the ticket touched (valid until the next model
 * call; NULL when removed or ignored). Returns the change (>= 0) or KDS_EINVAL for a payload
 * that is not an order (missing invoice_number...), KDS_EFULL if the ticket was refused for
 * the ticket limit, KDS_ENOMEM. */
int model_apply(model_t *m, const char *event, const cJSON *payload, int64_t now_ms, ticket_t **out);

/* Replaces the open tickets by a REST listing (a JSON array of orders, as
 * GET /api/v1/orders?status=new,preparing,ready returns): tickets missing from it are closed,
 * the others inserted or updated. `highlight` 0 (the first load at start-up) does not mark
 * the new ones as just arrived. `*added` (may be NULL) gets the number of tickets this
 * display had not shown before. Entries that are not orders are skipped. Returns 0,
 * KDS_EINVAL if `list` is not an array, KDS_ENOMEM. */
int model_load(model_t *m, const cJSON *list, int64_t now_ms, int highlight, size_t *added);

/* Drops the leaving tickets (cancelled or voided) shown for MODEL_LEAVE_MS already. Returns
 * how many went (the screen changed). */
size_t model_tick(model_t *m, int64_t now_ms);

/* The open ticket with this invoice number, or NULL. Hidden (filtered) tickets count. */
ticket_t *model_find(model_t *m, const char *invoice);

/* Marks a ticket's status change as in flight (pending = 1) or done (0). No-op if unknown. */
void model_set_pending(model_t *m, const char *invoice, int pending);

/* Recall stack: push records a bump made from this display (oldest dropped past
 * MODEL_RECALL_MAX); pop takes the newest entry made within MODEL_RECALL_MS into `*out`.
 * pop returns 0 or KDS_ENOTFOUND (nothing to recall). */
void model_recall_push(model_t *m, const char *invoice, enum ticket_status from, enum ticket_status to,
                       int64_t now_ms);
int model_recall_pop(model_t *m, int64_t now_ms, model_recall *out);

/* Ages, on the server's clock (now_ms + skew_ms). model_age_ms: now - created (never
 * negative). model_age_level: 0 fine, 1 warn (past warn_ms), 2 late (past late_ms); a ready
 * ticket is never late. */
int64_t model_age_ms(const model_t *m, const ticket_t *t, int64_t now_ms);
int model_age_level(const model_t *m, const ticket_t *t, int64_t now_ms);

/* Today's (local date of now_ms) average created->ready time in seconds over the tickets this
 * display saw become ready today; -1 when there are none. `*count` (may be NULL) gets how many. */
int64_t model_avg_ticket_secs(model_t *m, int64_t now_ms, size_t *count);

/* Visible open tickets past the late threshold. */
size_t model_late_count(const model_t *m, int64_t now_ms);

/* All-day totals over the visible tickets' visible lines: one row per (category, item), in
 * category order of first appearance, then item name. `todo` counts new+preparing tickets,
 * `ready` ready ones. The caller frees *rows (strings point into the model: valid until the
 * next model call). Returns the row count or KDS_ENOMEM. */
typedef struct model_allday_row {
  const char *category;
  const char *name;
  long todo;
  long ready;
} model_allday_row;
long model_allday(const model_t *m, model_allday_row **rows);

/* "new", "preparing"... and back. model_status_parse returns TS_UNKNOWN for anything else. */
const char *model_status_name(enum ticket_status s);
/* The status as the screen shows it: "NEW", "PREPARING", ... ("?" when unknown). */
const char *model_status_label(enum ticket_status s);
enum ticket_status model_status_parse(const char *s);

/* Parses ISO-8601 "2023-11-03T10:15:02.123+07:00" (also "Z", no fraction) to ms since the
 * epoch. Returns 0 or KDS_EINVAL. */
int model_parse_time(const char *s, int64_t *out_ms);

/* The local calendar date of `ms` as YYYY-MM-DD into out[11]. */
void model_local_date(int64_t ms, char out[11]);

#endif
