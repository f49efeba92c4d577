/* db_store.h: the storage seam (SPEC 9, STYLE 17): the narrow, synchronous operations a
 * backend implements. SQLite (db_sqlite.c) now; PostgreSQL would be one more table of the
 * same ops. The rules (validation, idempotency, transitions, outlet scoping) live once in
 * db_rules.c, above this seam; the DB thread (db.c) drives the transactions. A store is
 * used by one thread at a time: the DB thread while the server runs, the CLI before any
 * thread exists.
 *
 * What the layers above assume, and nothing more (checked for a second backend):
 * - ids are int64_t, money is int64_t Rupiah, times are the ISO strings and epoch ms the
 *   rules hand in (no date functions of the backend are used above the seam);
 * - errors are codes from err.h: KDS_ENOTFOUND and KDS_ESTATE where an op says so, else
 *   KDS_EDB with the backend's message logged by the backend; no SQL text, SQLSTATE or
 *   backend error string crosses the seam;
 * - one write transaction per batch (begin ... commit) with one savepoint per request
 *   (savepoint, then release or rollback_to); after a failed statement the request's
 *   savepoint is rolled back, which is also what PostgreSQL needs to leave the aborted
 *   state; in_transaction tells the DB thread when the backend dropped the whole
 *   transaction itself;
 * - invoice_next is gapless per day and visible to nobody until commit: a number taken in
 *   a savepoint that is rolled back goes to the next order. With several writers (nodes on
 *   one PostgreSQL) it must serialise on the day's counter row inside the transaction
 *   (UPDATE ... RETURNING takes the row lock until commit); a backend may keep the counter
 *   in memory only while it is the sole writer, as the SQLite one does;
 * - order_insert sets o->id; order ids increase with insertion (the `before` cursor of
 *   order_list relies on it);
 * - caches are the backend's business and must not outlive a change by someone else. */
#ifndef KDS_DB_STORE_H
#define KDS_DB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "order.h"

typedef struct db_category {
  int64_t id;
  const char *name; /* valid until the next call on the store */
  int64_t sort_order;
} db_category;

/* GET /orders filters (SPEC 11.13); zero fields do not filter. */
typedef struct db_list_query {
  unsigned statuses; /* order_status_bit() set; 0 = any */
  const char *date;  /* YYYY-MM-DD or NULL */
  int64_t outlet_id; /* 0 = every outlet */
  int64_t before_id; /* 0 = from the newest; else orders with id < before_id */
  int64_t limit;     /* >= 1 */
} db_list_query;

/* An order as the day's figures need it (SPEC 10.5). Strings valid during the callback. */
typedef struct db_stat_order {
  const char *status;
  const char *payment_method;
  const char *created_at; /* local ISO time: its hour is the chart's */
  int64_t total_amount;
  int64_t created_ms; /* 0: unknown (an order from before the history was kept) */
  int64_t ready_ms;   /* the first time it reached `ready`; 0: never */
} db_stat_order;

/* A category's share of a day's sales (cancelled and voided orders left out). */
typedef struct db_stat_category {
  const char *name;
  int64_t quantity;
  int64_t total_amount;
} db_stat_category;

/* Every op returns 0, KDS_ENOTFOUND where it says so, or KDS_EDB (logged with the
 * backend's message). Strings handed out (names, hashes) stay valid until the next call. */
typedef struct db_store_ops {
  const char *name;

  /* Opens (creating if needed) the store at `path`, applies migrations. On failure writes
   * a one-line reason into err and returns KDS_EDB. */
  int (*open)(const char *path, void **self, char *err, size_t errlen);
  void (*close)(void *self); /* NULL-safe; finalizes everything */

  /* 0 while the store is still the one that was opened; KDS_EDB with a one-line reason in
   * err when it is not (SQLite: the database file or its WAL was deleted or replaced under
   * the running server, so commits would land in unlinked files and be lost). Cheap: the
   * DB thread calls it before every batch of writes. */
  int (*check)(void *self, char *err, size_t errlen);

  /* Transactions: one write transaction per batch, one savepoint per request in it. */
  int (*begin)(void *self); /* takes the write lock */
  int (*commit)(void *self);
  int (*rollback)(void *self);
  int (*in_transaction)(void *self); /* 0 if the backend rolled the transaction back itself */
  int (*savepoint)(void *self);
  int (*release)(void *self);
  int (*rollback_to)(void *self); /* rolls back to the savepoint and releases it */

  /* users and tokens */
  int (*user_add)(void *self, const char *name, const char *password_hash, const char *role,
                  int64_t outlet_id, const char *created_at, int64_t *id); /* KDS_ESTATE: the name exists */
  int (*user_by_name)(void *self, const char *name, kds_user *u, const char **password_hash); /* ENOTFOUND */
  int (*token_add)(void *self, const char *token_hash, int64_t user_id, const char *kind,
                   const char *created_at, int64_t expires_at /* epoch ms, 0 = never */);
  int (*token_user)(void *self, const char *token_hash, int64_t now_ms, kds_user *u,
                    int64_t *expires_at); /* ENOTFOUND: unknown, revoked or expired */
  int (*token_revoke)(void *self, const char *token_hash);

  /* menu */
  int (*menu_empty)(void *self, int *empty);
  int (*category_list)(void *self, int (*each)(void *ud, const db_category *c), void *ud);
  int (*category_by_id)(void *self, int64_t id, db_category *c);      /* ENOTFOUND */
  int (*category_by_name)(void *self, const char *name, int64_t *id); /* ENOTFOUND */
  int (*category_add)(void *self, const char *name, int has_sort, int64_t sort_order,
                      int64_t id /* 0 = next */, int64_t *new_id);
  int (*product_list)(void *self, int (*each)(void *ud, const order_product *p), void *ud);
  int (*product_by_id)(void *self, int64_t id, order_product *p); /* ENOTFOUND */
  int (*product_add)(void *self, const char *name, int64_t price, int64_t category_id,
                     int64_t id /* 0 = next */, int64_t *new_id);
  int (*product_update)(void *self, int64_t id, const char *name, int64_t price, int64_t category_id,
                        int active);

  /* orders */
  /* The day's next invoice number: gapless per day, taken inside the caller's savepoint
   * (so a rollback returns it), durable with the commit. */
  int (*invoice_next)(void *self, const char *day, int64_t *seq);
  /* Stores the order, its lines and their SPEC 10 extras; created_ms is the epoch ms of
   * created_at (ticket times). Sets o->id. */
  int (*order_insert)(void *self, order_t *o, int64_t created_by, int64_t created_ms);
  /* Loads the order (and its lines) by invoice number; `live` skips voided ones. ENOTFOUND. */
  int (*order_by_invoice)(void *self, const char *invoice, int live, order_t *o);
  int (*order_by_id)(void *self, int64_t id, order_t *o); /* ENOTFOUND */
  /* id of `invoice` (voided too) in outlet `outlet_id` (0: any outlet); KDS_ENOTFOUND when
   * there is none or it is another outlet's (so its existence does not leak). */
  int (*order_id_of)(void *self, const char *invoice, int64_t outlet_id, int64_t *id);
  /* Moves the order from `from` to `to` (*changed = 0 when it was not in `from`); the first
   * move to `ready` also keeps at_ms as its ready time. */
  int (*order_set_status)(void *self, int64_t id, const char *from, const char *to, const char *at,
                          int64_t at_ms, int *changed);
  int (*order_set_rush)(void *self, int64_t id, int rush, const char *at);
  int (*line_set_done)(void *self, int64_t id, int64_t n /* 1-based */, int done, const char *at);
  /* The status history (SPEC 10.5: who, when, from, to); from NULL: created; user 0: the
   * server itself (auto-complete). */
  int (*history_add)(void *self, int64_t order_id, int64_t user_id, const char *from, const char *to,
                     int64_t at_ms);
  /* Live orders now `ready` or `completed` that got there at or after since_ms, newest move
   * first, at most `limit` (SPEC 10.4); bumped_ms is when they got there. */
  int (*recall_list)(void *self, int64_t outlet_id, int64_t since_ms, int64_t limit,
                     int (*each)(void *ud, order_t *o, int64_t bumped_ms), void *ud);
  /* Ids of live `ready` orders that became ready before before_ms, at most `max`. */
  int (*ready_due)(void *self, int64_t before_ms, int64_t *ids, size_t max, size_t *n);
  /* The live orders of `date` (outlet 0: all), and the categories of its sales. */
  int (*stats_orders)(void *self, const char *date, int64_t outlet_id,
                      int (*each)(void *ud, const db_stat_order *so), void *ud);
  int (*stats_categories)(void *self, const char *date, int64_t outlet_id,
                          int (*each)(void *ud, const db_stat_category *c), void *ud);
  int (*order_void)(void *self, int64_t id, const char *at, int *changed);
  /* Live orders matching q, newest first; `each` returning non-zero stops with that code. */
  int (*order_list)(void *self, const db_list_query *q, int (*each)(void *ud, order_t *o), void *ud);

  /* idempotency keys (SPEC 3, 11.8) */
  int (*idem_find)(void *self, int64_t user_id, const char *key, int64_t since_ms, const char **request_hash,
                   int64_t *order_id); /* ENOTFOUND */
  int (*idem_put)(void *self, int64_t user_id, const char *key, const char *request_hash, int64_t order_id,
                  int64_t at_ms);
  int (*idem_purge)(void *self, int64_t before_ms, int64_t *purged);
} db_store_ops;

/* The SQLite backend. */
extern const db_store_ops db_sqlite_ops;

/* Loads the demo menu (SPEC 7) through `ops` when the menu has no category and no product
 * (SPEC 11.5: users may exist). Sets *loaded. Runs in its own transaction. */
int db_store_seed_demo(const db_store_ops *ops, void *self, int *loaded);

#endif
