/* db.h: the store of kds-server, run on ONE dedicated thread (never the loop thread).
 * The loop thread queues requests (mutex + condvar); the DB thread runs them in batches;
 * results come back on the loop thread through an eventfd the loop polls (uv_poll), in commit order.
 *
 * Group commit: the DB thread takes every request queued while the previous batch ran and
 * runs them in ONE write transaction (one fsync with synchronous=FULL), each request in its
 * own SAVEPOINT so that a failing request rolls back alone. There is no timer wait: with one
 * client a batch is one request. Callbacks run only after the commit is durable. */
#ifndef KDS_DB_H
#define KDS_DB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "list.h"

struct server;
struct cJSON;
struct db;
typedef struct uv_loop_s uv_loop_t;

/* A signed-in user (the contract of auth.h, which includes this header). */
typedef struct kds_user {
  int64_t id;
  char username[64];
  char role[16];     /* admin | cashier | kitchen | display */
  int64_t outlet_id; /* 0 = all outlets */
} kds_user;

/* One op per request; its input is the member of db_req.in of the same name, its outputs
 * are listed here. Errors a user sees come back as KDS_EREQUEST with req->err. */
typedef enum db_op {
  DB_USER_BY_NAME,   /* in.user_by_name -> found, password_hash; KDS_ENOTFOUND */
  DB_TOKEN_USER,     /* in.token -> found, expires_at; KDS_ENOTFOUND (also revoked/expired) */
  DB_TOKEN_ADD,      /* in.token_add */
  DB_TOKEN_REVOKE,   /* in.token */
  DB_CATEGORY_LIST,  /* -> json [{id,name,sort_order}] */
  DB_CATEGORY_ADD,   /* in.menu_add {name, sort_order?} -> json; 422 name/sort_order, 409 already_exists */
  DB_PRODUCT_LIST,   /* -> json [{id,name,price,category_id,category,active}] */
  DB_PRODUCT_ADD,    /* in.menu_add -> json; 422 name/price/category_id */
  DB_PRODUCT_UPDATE, /* in.product_update -> json; 404, 422 */
  DB_ORDER_CREATE,   /* user, in.order_create -> json, replayed, outlet_id, invoice */
  DB_ORDER_STATUS,   /* user, in.order_status -> json, outlet_id, replayed; 401, 422 status/action_id,
                        403, 404, 409 with current_status, 409 action_id_reused */
  DB_ORDER_VOID,     /* user, in.order -> json {invoice_number}, outlet_id, invoice; 404 */
  DB_ORDER_GET,      /* user, in.order -> json; 404 */
  DB_ORDER_LIST,     /* user (outlet scope), in.order_list -> json array; 400 before */
  DB_ORDER_PRIORITY, /* user, in.order_priority -> json, changed, outlet_id; 401, 403, 404, 409, 422 rush */
  DB_ORDER_LINE,     /* user, in.order_line -> json, changed, outlet_id, replayed; 401, 403, 404, 409,
                        422 line/done/action_id */
  DB_RECALL,         /* user (outlet scope) -> json array of orders with bumped_at */
  DB_STATS,          /* user (outlet scope), in.stats -> json (SPEC 10.5) */
  DB_AUTO_COMPLETE,  /* in.auto_complete -> items: the orders completed, rendered one after another */
  DB_OP_COUNT
} db_op;

typedef struct db_req db_req;

/* Runs on the loop thread when the request is done (after its commit). The request is
 * freed by the db after the callback returns; take what you need (kds_buf_detach on
 * req->json is fine). */
typedef void (*db_cb)(db_req *req);

struct db_req {
  kds_list node; /* private: queue link */
  db_op op;
  db_cb cb;
  void *ud;
  kds_user user; /* in: the acting user (orders: creator, outlet scope) */

  /* in: the member named for `op` (owned pointers are freed by db_req_free) */
  union {
    struct {
      char *name; /* owned */
    } user_by_name;
    struct {
      char token_hash[65];
    } token; /* DB_TOKEN_USER, DB_TOKEN_REVOKE */
    struct {
      char token_hash[65];
      int64_t user_id;
      int device;         /* 1: a device token (no expiry by default), 0: a login session */
      int64_t expires_at; /* epoch ms, 0 = never */
    } token_add;
    struct {
      struct cJSON *body; /* owned */
    } menu_add;           /* DB_CATEGORY_ADD, DB_PRODUCT_ADD */
    struct {
      int64_t id;         /* 0: the path's id was not a number */
      char *id_text;      /* owned: the id as given, for the 404 */
      struct cJSON *body; /* owned */
    } product_update;
    struct {
      struct cJSON *body; /* owned */
      char *key;          /* owned: Idempotency-Key, NULL: none */
      char body_hash[65]; /* order_body_hash of body, when key */
    } order_create;
    struct {
      char *invoice;   /* owned; NULL: none given */
      char status[16]; /* "": none given */
      int anonymous;   /* nobody is signed in (a socket without a user): 401 */
      char *action_id; /* owned: the socket command's action id (SPEC 5.1), NULL: none */
    } order_status;
    struct {
      char *invoice; /* owned */
    } order;         /* DB_ORDER_VOID, DB_ORDER_GET */
    struct {
      unsigned statuses; /* order_status_bit() set; 0 = any */
      char date[16];     /* YYYY-MM-DD; "" = any date */
      char *before;      /* owned: an invoice number, NULL: from the newest */
      int64_t limit;     /* 0: the default */
    } order_list;
    struct {
      char *invoice; /* owned */
      int rush;      /* 0 or 1; -1: the body had no boolean `rush` (422) */
      int anonymous;
    } order_priority;
    struct {
      char *invoice; /* owned */
      int64_t line;  /* the 1-based position; 0: not a positive integer (422 on `line`) */
      int done;      /* 0 or 1; -1: not a boolean (422 on `done`) */
      int anonymous;
      int in_path;     /* the line came from the REST path: a bad one is a 404, not a 422 */
      char *action_id; /* owned: as order_status.action_id */
    } order_line;
    struct {
      char date[16];        /* YYYY-MM-DD; "" = today */
      int64_t outlet_id;    /* an admin's outlet_id=N; 0: the user's scope */
      int64_t late_after_s; /* --late-after */
    } stats;
    struct {
      int64_t before_ms; /* ready orders that became ready before this are completed */
    } auto_complete;
  } in;

  /* out: rc is 0, KDS_EREQUEST with `err` filled (a user-facing error: 4xx), or another
   * KDS_E* code (500) */
  int rc;
  kds_err err;
  kds_buf json; /* response body when rc == 0 */
  int replayed; /* DB_ORDER_CREATE: an idempotent replay; DB_ORDER_STATUS/LINE: an action id seen
                   before (nothing applied, nothing to broadcast) */
  int64_t outlet_id;
  char invoice[48];
  kds_user found;          /* DB_USER_BY_NAME, DB_TOKEN_USER */
  char password_hash[256]; /* DB_USER_BY_NAME */
  int64_t expires_at;      /* DB_TOKEN_USER: epoch ms, 0 = never */
  int changed;             /* DB_ORDER_PRIORITY, DB_ORDER_LINE: 0 when it already was so */
  struct db_item {         /* DB_AUTO_COMPLETE: orders in json, one after another */
    int64_t outlet_id;
    size_t off, len;
  } * items; /* owned, freed by db_req_free */
  size_t nitems;
};

/* Opens srv->cfg.db_path on srv->loop (migrations applied; the demo menu loaded when
 * srv->cfg.demo and the menu is empty), starts the DB thread and sets srv->db. Runs on the
 * loop thread before the loop starts. Returns 0, or KDS_EDB/KDS_ENOMEM/a libuv error
 * (logged with the reason; srv->db stays NULL). */
int db_open(struct server *srv);

/* The same with explicit arguments (tests): `demo` loads the demo menu into an empty menu.
 * `*out` is set on success. */
int db_new(uv_loop_t *loop, const char *path, int demo, struct db **out);

/* A request for `op` with everything zeroed (fill req->in's member for `op`), or NULL when
 * out of memory. */
db_req *db_req_new(db_op op, db_cb cb, void *ud);

/* Frees a request that was never submitted (and everything it owns). NULL-safe. */
void db_req_free(db_req *req);

/* Queues `req` for the DB thread; `req->cb` runs on the loop thread when it is done.
 * Takes ownership of req in every case. Returns 0, or KDS_ECLOSED (closing), KDS_EFULL
 * (queue over its limit): then the request is freed and the callback never runs.
 * Loop thread only. */
int db_submit(struct db *db, db_req *req);

/* Stops taking requests, lets the DB thread finish every queued request (their callbacks
 * run), joins it, closes the store, and then calls cb (if not NULL) from a close callback,
 * after which `db` is freed. With a server, srv->db is set to NULL before cb runs.
 * Idempotent; NULL is a no-op. */
void db_close(struct db *db, void (*cb)(void *ud), void *ud);

/* Tests: the clock the DB thread reads for created_at, the invoice day, token expiry
 * (NULL: the real one). Call while no request is queued. */
void db_set_clock(struct db *db, int64_t (*now_ms)(void));

/* Requests queued or running (for /metrics and tests). */
size_t db_pending(const struct db *db);

/* Batches committed so far and requests they held (tests: group commit happened). */
void db_stats(const struct db *db, uint64_t *batches, uint64_t *requests);

/* 0 while the store takes writes; KDS_EDB once it refuses them for good (its files were
 * deleted or replaced under the running server: see db_store_ops.check), KDS_ECLOSED for
 * NULL. `why` gets the reason ("" when healthy). Loop thread; any time. */
int db_health(const struct db *db, char *why, size_t size);

#endif
