/* ordersvc.h: the order rules shared by REST and the Socket.IO `order-status` event: create
 * (validation, idempotency keys), status changes (role, then transition), void, get, list.
 * The work runs on the DB thread; callbacks run on the loop thread after the commit is
 * durable, and then the change is broadcast (realtime_publish) — a broadcast failure never
 * fails the order. */
#ifndef KDS_ORDERSVC_H
#define KDS_ORDERSVC_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "err.h"

struct server;
struct cJSON;

/* The result of an order operation: rc 0 with the JSON (the order; for a void
 * {"invoice_number"}; for a list an array), valid during the call only; or rc -1 with `err`
 * (a user-facing 4xx); or another negative code with `err` filled as a 500. */
typedef void (*ordersvc_cb)(void *ud, int rc, const kds_err *err, const char *json, size_t len);

/* Create's result: as ordersvc_cb, plus `replayed` (1: an idempotent replay, answer 200 with
 * Idempotent-Replayed: true; 0: a new order, 201). */
typedef void (*ordersvc_create_cb)(void *ud, int rc, const kds_err *err, const char *json, size_t len,
                                   int replayed);

/* Creates an order for `user` from the body of POST /api/v1/orders (`body` is taken over,
 * in every case). `key` is the Idempotency-Key (NULL: none; the caller checked its length,
 * 1..255). Validation, the idempotency check and the invoice number happen in the order's
 * own transaction; a replay or a 409 uses no number. On a new order, broadcasts `new-order`
 * and logs the seed's line. Returns 0, or KDS_ECLOSED/KDS_EFULL/KDS_ENOMEM: cb never runs. */
int ordersvc_create(struct server *srv, const kds_user *user, struct cJSON *body, const char *key,
                    ordersvc_create_cb cb, void *ud);

/* Sets the status of order `invoice` (SPEC 3, 11.1, 11.2): 401 when `user` is NULL, 422 for
 * an unknown status (`invoice` and `status` may be NULL: not given), 403 when the role may
 * not set it, 404 when the user cannot see the order, 409 with current_status for a
 * transition not allowed. Broadcasts `order-updated` after the commit. `action_id` (NULL:
 * none; the socket commands' id, SPEC 5.1) makes a repeat of the same command answer the
 * order as it is now without applying anything again. Returns as above. */
int ordersvc_change_status(struct server *srv, const kds_user *user, const char *invoice, const char *status,
                           const char *action_id, ordersvc_cb cb, void *ud);

/* Voids order `invoice` (the caller checked the admin role): 404 when not visible.
 * Broadcasts `order-deleted` {invoice_number}. Returns as above. */
int ordersvc_void(struct server *srv, const kds_user *user, const char *invoice, ordersvc_cb cb, void *ud);

/* Rush (SPEC 10.2): `rush` 0 or 1, -1 when the body had no boolean (422 on `rush`). 401
 * without a user, 403 for a role other than cashier, kitchen, admin, 404, 409 for a closed
 * order. Broadcasts `order-updated` when it changed. Returns as above. */
int ordersvc_set_rush(struct server *srv, const kds_user *user, const char *invoice, int rush, ordersvc_cb cb,
                      void *ud);

/* Item-level done (SPEC 10.3): line `line` (1-based; < 1 is no line: a 422 on `line`, or
 * a 404 when `in_path`, the REST path's) done (0/1; -1: not a boolean, 422 on `done`). The
 * kitchen and admin only; every line done makes the order ready, a line undone recalls a
 * ready order; one `order-updated` when something changed. `action_id` as for status
 * changes. Returns as above. */
int ordersvc_line_done(struct server *srv, const kds_user *user, const char *invoice, int64_t line, int done,
                       int in_path, const char *action_id, ordersvc_cb cb, void *ud);

/* GET /api/v1/recall (SPEC 10.4), outlet-scoped. Returns as above. */
int ordersvc_recall(struct server *srv, const kds_user *user, ordersvc_cb cb, void *ud);

/* GET /api/v1/stats (SPEC 10.5): `date` YYYY-MM-DD already checked (NULL: today),
 * `outlet_id` an admin's choice (0: the user's scope; 403 for others). Returns as above. */
int ordersvc_stats(struct server *srv, const kds_user *user, const char *date, int64_t outlet_id,
                   ordersvc_cb cb, void *ud);

/* --auto-complete (SPEC 10.7): completes ready orders that became ready more than the
 * configured minutes before now_ms, broadcasting each. A no-op when the option is off.
 * Returns 0 or the submit error. */
int ordersvc_auto_complete(struct server *srv, int64_t now_ms);

/* One order, if `user` may see it (404 otherwise). Returns as above. */
int ordersvc_get(struct server *srv, const kds_user *user, const char *invoice, ordersvc_cb cb, void *ud);

/* GET /api/v1/orders filters, checked by ordersvc_query_parse. */
typedef struct ordersvc_query {
  unsigned statuses; /* order_status_bit set; 0: any */
  char date[16];     /* "" : any */
  int64_t limit;     /* 1..1000 */
  char *before;      /* owned; NULL: none */
} ordersvc_query;

/* Checks the raw (decoded) query values, each NULL when absent (SPEC 11.13): status a
 * comma list of known statuses, date YYYY-MM-DD, limit an integer >= 1 (cut to 1000),
 * before any text (checked against the store later). Fills `q` (release with
 * ordersvc_query_release) or returns KDS_EREQUEST with `err` (400 invalid_query with its field). */
int ordersvc_query_parse(const char *status, const char *date, const char *limit, const char *before,
                         ordersvc_query *q, kds_err *err);
void ordersvc_query_release(ordersvc_query *q);

/* Lists the live orders `user` may see matching `q` (its `before` is taken over), newest
 * first: 400 for an unknown `before`. Returns as above. */
int ordersvc_list(struct server *srv, const kds_user *user, ordersvc_query *q, ordersvc_cb cb, void *ud);

#endif
