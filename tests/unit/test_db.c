/* Unit tests for server/store/db.c + db_sqlite.c on a real loop and a real file: migrations,
 * the invoice sequence across days and restarts, group commit with failing orders in the
 * batch (validation and a storage failure mid-order), idempotency keys, status changes,
 * voids, listings, tokens, menu rules, and close finishing queued commits. */
#include "test.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <uv.h>

#include "db.h"
#include "db_store.h"
#include "order.h"

static char dir[256], path[300];
static uv_loop_t loop;
static struct db *d;

/* results of the callbacks, in callback order */
#define MAXR 256
static struct result {
  int rc;
  int status;
  char code[48], field[64], current[16];
  char json[8192];
  int replayed;
  char invoice[48];
  int64_t outlet;
  kds_user user;
  char pw[256];
} res[MAXR];
static int nres;

static void on_done(db_req *r) {
  struct result *x = &res[nres < MAXR ? nres++ : MAXR - 1];
  memset(x, 0, sizeof(*x));
  x->rc = r->rc;
  x->status = r->err.status;
  snprintf(x->code, sizeof(x->code), "%s", r->err.code);
  snprintf(x->field, sizeof(x->field), "%s", r->err.field);
  snprintf(x->current, sizeof(x->current), "%s", r->err.current_status);
  snprintf(x->json, sizeof(x->json), "%s", r->json.base ? r->json.base : "");
  x->replayed = r->replayed;
  snprintf(x->invoice, sizeof(x->invoice), "%s", r->invoice);
  x->outlet = r->outlet_id;
  x->user = r->found;
  snprintf(x->pw, sizeof(x->pw), "%s", r->password_hash);
}

static int64_t fake_now;
static int64_t fake_clock(void) {
  return fake_now;
}

static void open_db(void) {
  int rc = db_new(&loop, path, 1, &d);
  ok(rc == 0, "db_new (%s)", kds_strerror(rc));
  db_set_clock(d, fake_clock);
}

static int closed;
static void on_closed(void *ud) {
  closed = *(int *)ud;
}

static void close_db(void) {
  static int one = 1;
  closed = 0;
  db_close(d, on_closed, &one);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(closed == 1, "db_close called back");
  d = NULL;
}

static void run(void) {
  uv_run(&loop, UV_RUN_DEFAULT);
}

static kds_user user(int64_t id, const char *role, int64_t outlet) {
  kds_user u = {id, "", "", outlet};
  snprintf(u.username, sizeof(u.username), "u%lld", (long long)id);
  snprintf(u.role, sizeof(u.role), "%s", role);
  return u;
}

static void create(kds_user u, const char *body, const char *key) {
  db_req *r = db_req_new(DB_ORDER_CREATE, on_done, NULL);
  r->user = u;
  r->in.order_create.body = cJSON_Parse(body);
  if (key) {
    r->in.order_create.key = strdup(key);
    order_body_hash(r->in.order_create.body, r->in.order_create.body_hash);
  }
  ok(db_submit(d, r) == 0, "submit create");
}

static void simple(db_op op, kds_user u, const char *invoice, const char *status) {
  db_req *r = db_req_new(op, on_done, NULL);
  r->user = u;
  if (op == DB_ORDER_STATUS) {
    if (invoice) r->in.order_status.invoice = strdup(invoice);
    if (status) snprintf(r->in.order_status.status, sizeof(r->in.order_status.status), "%s", status);
  } else if (invoice) {
    r->in.order.invoice = strdup(invoice);
  }
  ok(db_submit(d, r) == 0, "submit %d", op);
}

static const char *ORDER1 =
    "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1},{\"product_id\":5,\"qty\":2}]}";

/* local noon of 2024-03-0N in Jakarta (UTC+7, no DST) */
static int64_t day_ms(int n) {
  return (1709251200LL + (n - 1) * 86400LL + 5 * 3600LL) * 1000LL; /* 2024-03-01T05:00Z = 12:00 local */
}

static void t_migrations(void) {
  sqlite3 *c;
  sqlite3_stmt *st;
  int v = -1;
  open_db();
  close_db();
  ok(sqlite3_open(path, &c) == SQLITE_OK, "open with sqlite");
  sqlite3_prepare_v2(c, "SELECT version FROM schema_version", -1, &st, NULL);
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  ok(v == 2, "schema_version is 2 (the base schema and SPEC 10's)");
  sqlite3_prepare_v2(c, "PRAGMA journal_mode", -1, &st, NULL);
  ok(sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0, "WAL");
  sqlite3_finalize(st);
  sqlite3_prepare_v2(c, "SELECT count(*) FROM products", -1, &st, NULL);
  ok(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 8, "demo menu: 8 products");
  sqlite3_finalize(st);
  /* reopening does not migrate again nor reload the menu */
  sqlite3_exec(c, "UPDATE products SET name = 'Renamed' WHERE id = 1", NULL, NULL, NULL);
  open_db();
  close_db();
  sqlite3_prepare_v2(c, "SELECT name FROM products WHERE id = 1", -1, &st, NULL);
  ok(sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "Renamed") == 0,
     "the demo menu is not reloaded into a non-empty menu");
  sqlite3_finalize(st);
  sqlite3_exec(c, "UPDATE products SET name = 'Corndog Sosis' WHERE id = 1", NULL, NULL, NULL);
  /* a newer schema than ours is refused */
  sqlite3_exec(c, "UPDATE schema_version SET version = 99", NULL, NULL, NULL);
  struct db *d2 = NULL;
  ok(db_new(&loop, path, 0, &d2) == KDS_EDB && d2 == NULL, "a newer schema version is refused");
  sqlite3_exec(c, "UPDATE schema_version SET version = 2", NULL, NULL, NULL);
  sqlite3_close(c);

  /* users 1..5 for the tests below (orders reference their creator) */
  void *st5 = NULL;
  char err[256];
  int64_t id;
  static const char *roles[] = {"cashier", "cashier", "kitchen", "cashier", "admin"};
  ok(db_sqlite_ops.open(path, &st5, err, sizeof(err)) == 0, "store opens synchronously");
  for (int i = 0; i < 5; i++) {
    char name[16];
    snprintf(name, sizeof(name), "u%d", i + 1);
    db_sqlite_ops.user_add(st5, name, "scrypt$x", roles[i], 0, "now", &id);
  }
  ok(id == 5, "five users");
  db_sqlite_ops.close(st5);

  /* a file that is not a database */
  char bad[320];
  snprintf(bad, sizeof(bad), "%s/not-a-db", dir);
  FILE *f = fopen(bad, "w");
  fputs("this is not sqlite, just text that is long enough to be a header.............................", f);
  fclose(f);
  ok(db_new(&loop, bad, 0, &d2) == KDS_EDB, "a non-database file is refused");
  snprintf(bad, sizeof(bad), "%s/no/such/dir/kds.db", dir);
  ok(db_new(&loop, bad, 0, &d2) == KDS_EDB, "an impossible path is refused");
}

/* The schema as version 1 left it (a fixture: migrations never edit an old entry), with a
 * user, a token and an order in it. */
static const char v1_schema[] =
    "CREATE TABLE users ("
    "  id            INTEGER PRIMARY KEY,"
    "  username      TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL," /* scrypt$N$r$p$salt$key */
    "  role          TEXT NOT NULL CHECK (role IN ('admin', 'cashier', 'kitchen')),"
    "  outlet_id     INTEGER," /* NULL: sees every outlet */
    "  created_at    TEXT NOT NULL);"
    "CREATE TABLE tokens ("
    "  token_hash TEXT PRIMARY KEY," /* sha256 hex of the bearer token; never the token */
    "  user_id    INTEGER NOT NULL REFERENCES users(id),"
    "  kind       TEXT NOT NULL CHECK (kind IN ('session', 'device')),"
    "  created_at TEXT NOT NULL,"
    "  expires_at INTEGER," /* epoch ms; NULL: never */
    "  revoked    INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE categories ("
    "  id         INTEGER PRIMARY KEY,"
    "  name       TEXT NOT NULL UNIQUE,"
    "  sort_order INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE products ("
    "  id          INTEGER PRIMARY KEY,"
    "  name        TEXT NOT NULL,"
    "  price       INTEGER NOT NULL CHECK (price >= 0),"
    "  category_id INTEGER NOT NULL REFERENCES categories(id),"
    "  active      INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE invoice_counters (" /* the last number handed out per local day */
    "  day      TEXT PRIMARY KEY,"
    "  last_seq INTEGER NOT NULL);"
    "CREATE TABLE orders ("
    "  id             INTEGER PRIMARY KEY," /* creation order: newest first and `before` use it */
    "  invoice_number TEXT NOT NULL UNIQUE,"
    "  date           TEXT NOT NULL,"
    "  outlet_id      INTEGER NOT NULL,"
    "  status         TEXT NOT NULL,"
    "  payment_method TEXT NOT NULL,"
    "  note           TEXT,"
    "  total_amount   INTEGER NOT NULL,"
    "  created_by     INTEGER REFERENCES users(id),"
    "  created_at     TEXT NOT NULL,"
    "  updated_at     TEXT NOT NULL,"
    "  voided_at      TEXT);" /* set by DELETE: hidden from reads, number never reused */
    "CREATE INDEX orders_by_date ON orders(date);"
    "CREATE INDEX orders_by_status ON orders(status);"
    /* Lines copy the product and its category at order time: later menu edits never
     * rewrite history. */
    "CREATE TABLE order_lines ("
    "  order_id      INTEGER NOT NULL REFERENCES orders(id),"
    "  line_no       INTEGER NOT NULL,"
    "  product_id    INTEGER NOT NULL,"
    "  name          TEXT NOT NULL,"
    "  category_id   INTEGER NOT NULL,"
    "  category      TEXT NOT NULL,"
    "  category_sort INTEGER NOT NULL,"
    "  qty           INTEGER NOT NULL,"
    "  price         INTEGER NOT NULL,"
    "  subtotal      INTEGER NOT NULL,"
    "  PRIMARY KEY (order_id, line_no)) WITHOUT ROWID;"
    "CREATE TABLE idempotency_keys ("
    "  user_id      INTEGER NOT NULL,"
    "  key          TEXT NOT NULL,"
    "  request_hash TEXT NOT NULL," /* sha256 of the canonical JSON body */
    "  order_id     INTEGER NOT NULL REFERENCES orders(id),"
    "  created_at   INTEGER NOT NULL," /* epoch ms; kept 24 h */
    "  PRIMARY KEY (user_id, key));"
    "CREATE INDEX idempotency_by_time ON idempotency_keys(created_at);";

static void t_migrate_v1(void) {
  char p1[320], err[256];
  sqlite3 *c;
  void *store = NULL;
  kds_user u;
  const char *hash;
  order_t o;
  int64_t id;
  snprintf(p1, sizeof(p1), "%s/v1.db", dir);
  ok(sqlite3_open(p1, &c) == SQLITE_OK, "a version 1 database");
  ok(sqlite3_exec(c, v1_schema, NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_exec(
             c,
             "CREATE TABLE schema_version (version INTEGER NOT NULL);"
             "INSERT INTO schema_version VALUES (1);"
             "INSERT INTO users VALUES (1, 'old', 'scrypt$x', 'kitchen', 2, 'then');"
             "INSERT INTO tokens VALUES ('abc', 1, 'device', 'then', NULL, 0);"
             "INSERT INTO orders VALUES (1, 'INV-20231103-0001', '2023-11-03', 2, 'ready', 'CASH', "
             "NULL, 6000, 1, '2023-11-03T10:00:00.000+07:00', '2023-11-03T10:05:00.000+07:00', NULL);"
             "INSERT INTO order_lines VALUES (1, 1, 1, 'Corndog Sosis', 1, 'ISI CORNDOG', 1, 1, 6000, 6000);",
             NULL, NULL, NULL) == SQLITE_OK,
     "filled as version 1 (%s)", sqlite3_errmsg(c));
  sqlite3_close(c);
  ok(db_sqlite_ops.open(p1, &store, err, sizeof(err)) == 0, "migrates to version 2 (%s)", err);
  if (store == NULL) return;
  ok(db_sqlite_ops.user_by_name(store, "old", &u, &hash) == 0 && u.id == 1 &&
         strcmp(u.role, "kitchen") == 0 && u.outlet_id == 2,
     "the user is kept");
  ok(db_sqlite_ops.token_user(store, "abc", 0, &u, &id) == 0 && u.id == 1, "its token still finds it");
  ok(db_sqlite_ops.user_add(store, "board", "scrypt$x", "display", 2, "now", &id) == 0, "a display user");
  order_init(&o);
  ok(db_sqlite_ops.order_by_invoice(store, "INV-20231103-0001", 1, &o) == 0 && o.nlines == 1 && !o.rush &&
         !o.order_type[0] && o.table == NULL && o.lines[0].note == NULL && !o.lines[0].done,
     "the old order reads back with no SPEC 10 keys");
  kds_buf b = KDS_BUF_INIT;
  ok(order_render(&o, &b) == 0 && strstr(b.base, "\"rush\"") == NULL && strstr(b.base, "\"done\"") == NULL,
     "and renders as before");
  kds_buf_release(&b);
  order_release(&o);
  db_sqlite_ops.close(store);
  ok(sqlite3_open(p1, &c) == SQLITE_OK, "reopen with sqlite");
  sqlite3_stmt *st;
  sqlite3_prepare_v2(c, "PRAGMA foreign_key_check", -1, &st, NULL);
  ok(sqlite3_step(st) == SQLITE_DONE, "no foreign key is left dangling");
  sqlite3_finalize(st);
  sqlite3_close(c);
}

static void t_sequence(void) {
  kds_user cashier = user(1, "cashier", 1);
  open_db();
  nres = 0;
  fake_now = day_ms(1);
  for (int i = 0; i < 3; i++) create(cashier, ORDER1, NULL);
  run();
  ok(nres == 3 && res[0].rc == 0 && strcmp(res[0].invoice, "INV-20240301-0001") == 0 &&
         strcmp(res[2].invoice, "INV-20240301-0003") == 0,
     "day 1: 0001..0003 (%s)", res[2].invoice);
  ok(strstr(res[0].json, "\"created_at\":\"2024-03-01T12:00:00.000+07:00\"") != NULL,
     "created_at from the clock");
  ok(strstr(res[0].json, "\"total_amount\":8000,\"ISI CORNDOG\":{\"quantity\":1,") != NULL &&
         strstr(res[0].json,
                "\"SAUS ASIN\":{\"quantity\":2,\"total_amount\":2000,\"items\":[\"Saus Tomat\"]}") != NULL,
     "rendered with categories");
  nres = 0;
  fake_now = day_ms(2);
  create(cashier, ORDER1, NULL);
  create(cashier, ORDER1, NULL);
  run();
  ok(strcmp(res[0].invoice, "INV-20240302-0001") == 0 && strcmp(res[1].invoice, "INV-20240302-0002") == 0,
     "day 2 starts again at 0001");
  close_db();

  /* restart on the same file: each day continues where it was */
  open_db();
  nres = 0;
  fake_now = day_ms(2);
  create(cashier, ORDER1, NULL);
  run();
  fake_now = day_ms(1);
  create(cashier, ORDER1, NULL);
  run();
  ok(strcmp(res[0].invoice, "INV-20240302-0003") == 0, "after restart day 2 continues: %s", res[0].invoice);
  ok(strcmp(res[1].invoice, "INV-20240301-0004") == 0, "and day 1 too: %s", res[1].invoice);
  close_db();
}

/* Holds the write lock from a second connection so that the DB thread blocks on its first
 * BEGIN while the test queues the rest: they then form one batch, deterministically. */
static sqlite3 *blocker;
static void block_writer(void) {
  sqlite3_open(path, &blocker);
  ok(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
     "second connection holds the lock");
}
static void unblock_writer(void) {
  sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL);
  sqlite3_close(blocker);
}

static void t_group_commit(void) {
  kds_user cashier = user(1, "cashier", 1);
  uint64_t b0, r0, b1, r1;
  sqlite3 *c;
  open_db();
  fake_now = day_ms(5);
  /* a trigger that makes a line with qty 13 fail in the middle of its order's writes
   * (after the invoice number and the order row): the savepoint must undo both */
  sqlite3_open(path, &c);
  ok(sqlite3_exec(c,
                  "CREATE TRIGGER boom BEFORE INSERT ON order_lines WHEN NEW.qty = 13 "
                  "BEGIN SELECT RAISE(ABORT, 'boom'); END",
                  NULL, NULL, NULL) == SQLITE_OK,
     "failure trigger");
  db_stats(d, &b0, &r0);
  nres = 0;
  block_writer();
  create(cashier, ORDER1, NULL); /* the DB thread takes this one and waits for the lock */
  usleep(200 * 1000);            /* let it block in BEGIN */
  create(cashier, ORDER1, NULL);
  create(cashier, "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":99,\"qty\":1}]}", NULL); /* 422 */
  create(
      cashier,
      "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1},{\"product_id\":3,\"qty\":13}]}",
      NULL); /* storage failure after taking a number */
  create(cashier, ORDER1, NULL);
  unblock_writer();
  run();
  db_stats(d, &b1, &r1);
  ok(nres == 5, "five answers");
  ok(b1 - b0 == 2 && r1 - r0 == 5, "two batches: 1 + 4 requests (got %llu batches)",
     (unsigned long long)(b1 - b0));
  ok(res[0].rc == 0 && strcmp(res[0].invoice, "INV-20240305-0001") == 0, "first alone: 0001");
  ok(res[1].rc == 0 && strcmp(res[1].invoice, "INV-20240305-0002") == 0, "batch #1 ok: 0002");
  ok(res[2].rc == KDS_EREQUEST && res[2].status == 422 && strcmp(res[2].field, "items[0].product_id") == 0,
     "batch #2: 422 rolls back alone");
  ok(res[3].rc == KDS_EDB && res[3].status == 0, "batch #3: storage failure is an internal error");
  ok(res[4].rc == 0 && strcmp(res[4].invoice, "INV-20240305-0003") == 0,
     "batch #4 commits with the next number: no gap (%s)", res[4].invoice);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(c,
                     "SELECT count(*), (SELECT count(*) FROM order_lines WHERE qty = 13) FROM orders "
                     "WHERE date = '2024-03-05'",
                     -1, &st, NULL);
  ok(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 3 && sqlite3_column_int(st, 1) == 0,
     "exactly the three good orders are stored");
  sqlite3_finalize(st);
  sqlite3_exec(c, "DROP TRIGGER boom", NULL, NULL, NULL);
  sqlite3_close(c);

  /* many at once: fewer transactions than orders, every number once */
  nres = 0;
  block_writer();
  create(cashier, ORDER1, NULL);
  usleep(100 * 1000);
  for (int i = 0; i < 99; i++) create(cashier, ORDER1, NULL);
  unblock_writer();
  run();
  int good = nres == 100;
  for (int i = 0; i < nres; i++) {
    char want[48];
    order_invoice_format(want, "2024-03-05", i + 4);
    if (res[i].rc != 0 || strcmp(res[i].invoice, want) != 0) good = 0;
  }
  ok(good, "100 orders answered in commit order, 0004..0103");
  close_db();
}

static void t_idempotency(void) {
  kds_user cashier = user(1, "cashier", 1), other = user(2, "cashier", 1);
  open_db();
  fake_now = day_ms(7);
  nres = 0;
  create(cashier, ORDER1, "key-1");
  run();
  create(
      cashier,
      "{\"items\":[{\"qty\":1,\"product_id\":1},{\"product_id\":5,\"qty\":2}],\"payment_method\":\"CASH\"}",
      "key-1");
  run();
  create(cashier, "{\"payment_method\":\"QRIS\",\"items\":[{\"product_id\":1,\"qty\":1}]}", "key-1");
  run();
  create(other, ORDER1, "key-1"); /* keys are per user */
  create(cashier, ORDER1, NULL);
  run();
  ok(res[0].rc == 0 && !res[0].replayed && strcmp(res[0].invoice, "INV-20240307-0001") == 0,
     "first: created");
  ok(res[1].rc == 0 && res[1].replayed && strcmp(res[1].invoice, "INV-20240307-0001") == 0 &&
         strcmp(res[1].json, res[0].json) == 0,
     "same key, same body in another key order: replay of the same order");
  ok(res[2].rc == KDS_EREQUEST && res[2].status == 409 && strcmp(res[2].code, "idempotency_key_reused") == 0,
     "same key, other body: 409");
  ok(res[3].rc == 0 && !res[3].replayed && strcmp(res[3].invoice, "INV-20240307-0002") == 0,
     "another user's same key is a new order");
  ok(strcmp(res[4].invoice, "INV-20240307-0003") == 0, "replays and 409s used no number");
  /* a replay returns the order as it is now */
  simple(DB_ORDER_STATUS, user(3, "kitchen", 1), "INV-20240307-0001", "preparing");
  run();
  create(cashier, ORDER1, "key-1");
  run();
  ok(res[6].replayed && strstr(res[6].json, "\"status\":\"preparing\"") != NULL,
     "replay shows the current status");
  /* 24 h later the key is free again */
  fake_now = day_ms(8) + 1;
  create(cashier, ORDER1, "key-1");
  run();
  ok(res[7].rc == 0 && !res[7].replayed && strcmp(res[7].invoice, "INV-20240308-0001") == 0,
     "after 24 h the key makes a new order");
  close_db();
}

static void t_status_void_get(void) {
  kds_user cashier1 = user(1, "cashier", 1), cashier2 = user(4, "cashier", 2), admin = user(5, "admin", 0);
  kds_user kitchen1 = user(3, "kitchen", 1);
  open_db();
  fake_now = day_ms(10);
  nres = 0;
  create(cashier1, ORDER1, NULL); /* 0001 outlet 1 */
  create(cashier2, ORDER1, NULL); /* 0002 outlet 2 */
  create(admin, ORDER1, NULL);    /* 0003 outlet 1 (default) */
  run();
  ok(res[0].outlet == 1 && res[1].outlet == 2 && res[2].outlet == 1,
     "orders take their creator's outlet, admin 1");
  nres = 0;
  fake_now += 60000;
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240310-0001", "preparing");
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240310-0001", "preparing");
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240310-0002", "preparing"); /* other outlet */
  simple(DB_ORDER_STATUS, kitchen1, "INV-nope", "ready");
  run();
  ok(res[0].rc == 0 && strstr(res[0].json, "\"status\":\"preparing\"") &&
         strstr(res[0].json, "\"updated_at\":\"2024-03-10T12:01:00.000+07:00\"") &&
         strstr(res[0].json, "\"created_at\":\"2024-03-10T12:00:00.000+07:00\""),
     "new -> preparing, updated_at moves");
  ok(res[1].rc == KDS_EREQUEST && res[1].status == 409 && strcmp(res[1].current, "preparing") == 0 &&
         strcmp(res[1].code, "invalid_transition") == 0,
     "preparing -> preparing: 409 with current_status");
  ok(res[2].rc == KDS_EREQUEST && res[2].status == 404, "another outlet's order is a 404");
  ok(res[3].rc == KDS_EREQUEST && res[3].status == 404, "unknown invoice 404");

  nres = 0;
  simple(DB_ORDER_GET, cashier2, "INV-20240310-0002", NULL);
  simple(DB_ORDER_GET, cashier2, "INV-20240310-0001", NULL);
  simple(DB_ORDER_GET, admin, "INV-20240310-0001", NULL);
  simple(DB_ORDER_VOID, admin, "INV-20240310-0003", NULL);
  simple(DB_ORDER_GET, admin, "INV-20240310-0003", NULL);
  simple(DB_ORDER_VOID, admin, "INV-20240310-0003", NULL);
  simple(DB_ORDER_STATUS, admin, "INV-20240310-0003", "ready");
  run();
  ok(res[0].rc == 0 && res[1].status == 404 && res[2].rc == 0, "get respects outlets");
  ok(res[3].rc == 0 && strcmp(res[3].json, "{\"invoice_number\":\"INV-20240310-0003\"}") == 0 &&
         res[3].outlet == 1,
     "void returns {invoice_number} and the outlet");
  ok(res[4].status == 404 && res[5].status == 404 && res[6].status == 404, "a voided order is gone");
  create(cashier1, ORDER1, NULL);
  run();
  ok(strcmp(res[7].invoice, "INV-20240310-0004") == 0, "its number is never reused");
  close_db();
}

static void list(kds_user u, unsigned statuses, const char *date, const char *before, int64_t limit) {
  db_req *r = db_req_new(DB_ORDER_LIST, on_done, NULL);
  r->user = u;
  r->in.order_list.statuses = statuses;
  if (date) snprintf(r->in.order_list.date, sizeof(r->in.order_list.date), "%s", date);
  if (before) r->in.order_list.before = strdup(before);
  r->in.order_list.limit = limit;
  db_submit(d, r);
  run();
}

/* invoice numbers of a listing, comma-separated */
static void invoices(const char *json, char *out, size_t size) {
  cJSON *a = cJSON_Parse(json), *o;
  out[0] = '\0';
  cJSON_ArrayForEach(o, a) {
    const cJSON *inv = cJSON_GetObjectItem(o, "invoice_number");
    size_t n = strlen(out);
    snprintf(out + n, size - n, "%s%s", n ? "," : "", inv->valuestring + 13);
  }
  cJSON_Delete(a);
}

static void t_list(void) {
  kds_user c1 = user(1, "cashier", 1), c2 = user(4, "cashier", 2), admin = user(5, "admin", 0);
  char got[512];
  open_db();
  nres = 0;
  fake_now = day_ms(12);
  for (int i = 0; i < 6; i++) create(i % 2 ? c2 : c1, ORDER1, NULL); /* 1,3,5 outlet 1; 2,4,6 outlet 2 */
  run();
  fake_now = day_ms(13);
  create(c1, ORDER1, NULL); /* day 13: 0001 */
  run();
  simple(DB_ORDER_STATUS, admin, "INV-20240312-0003", "ready");
  simple(DB_ORDER_VOID, admin, "INV-20240312-0005", NULL);
  run();
  nres = 0;
  list(admin, 0, "2024-03-12", NULL, 100);
  invoices(res[0].json, got, sizeof(got));
  ok(strcmp(got, "0006,0004,0003,0002,0001") == 0, "newest first, voided hidden: %s", got);
  list(c1, 0, NULL, NULL, 3);
  invoices(res[1].json, got, sizeof(got));
  ok(strcmp(got, "0001,0003,0001") == 0, "outlet 1 only, every date: %s", got);
  list(admin, order_status_bit("ready"), NULL, NULL, 100);
  invoices(res[2].json, got, sizeof(got));
  ok(strcmp(got, "0003") == 0, "status filter: %s", got);
  list(admin, order_status_bit("new") | order_status_bit("ready"), "2024-03-12", "INV-20240312-0004", 2);
  invoices(res[3].json, got, sizeof(got));
  ok(strcmp(got, "0003,0002") == 0, "before is exclusive, limit 2: %s", got);
  list(admin, 0, "2024-03-12", "INV-20240312-0005", 100); /* a voided order still marks a place */
  invoices(res[4].json, got, sizeof(got));
  ok(strcmp(got, "0004,0003,0002,0001") == 0, "before a voided order: %s", got);
  list(admin, 0, NULL, "INV-20990101-0001", 100);
  ok(res[5].rc == KDS_EREQUEST && res[5].status == 400 && strcmp(res[5].field, "before") == 0 &&
         strcmp(res[5].code, "invalid_query") == 0,
     "unknown before: 400");
  list(c2, 0, "2024-03-13", NULL, 100);
  ok(strcmp(res[6].json, "[]") == 0, "empty listing is []");
  close_db();
}

static void t_tokens_users(void) {
  void *st = NULL;
  char err[256];
  int64_t id;
  const db_store_ops *ops = &db_sqlite_ops;
  /* the CLI path: the store used synchronously */
  ok(ops->open(path, &st, err, sizeof(err)) == 0, "store opens synchronously");
  ok(ops->user_add(st, "ana", "scrypt$x", "kitchen", 2, "now", &id) == 0, "user added");
  ok(ops->user_add(st, "ana", "scrypt$y", "admin", 0, "now", &id) == KDS_ESTATE, "duplicate user refused");
  ok(ops->token_add(st, "h-dev", id, "device", "now", 0) == 0, "device token");
  ok(ops->token_add(st, "h-exp", id, "session", "now", 1000) == 0, "expiring token");
  ops->close(st);

  open_db();
  nres = 0;
  fake_now = 500;
  db_req *r = db_req_new(DB_USER_BY_NAME, on_done, NULL);
  r->in.user_by_name.name = strdup("ana");
  db_submit(d, r);
  r = db_req_new(DB_USER_BY_NAME, on_done, NULL);
  r->in.user_by_name.name = strdup("nobody");
  db_submit(d, r);
  const char *hashes[] = {"h-dev", "h-exp", "h-none"};
  for (int i = 0; i < 3; i++) {
    r = db_req_new(DB_TOKEN_USER, on_done, NULL);
    snprintf(r->in.token.token_hash, sizeof(r->in.token.token_hash), "%s", hashes[i]);
    db_submit(d, r);
  }
  run();
  ok(res[0].rc == 0 && strcmp(res[0].user.role, "kitchen") == 0 && res[0].user.outlet_id == 2 &&
         strcmp(res[0].pw, "scrypt$x") == 0,
     "user by name with its hash");
  ok(res[1].rc == KDS_ENOTFOUND, "unknown user");
  ok(res[2].rc == 0 && strcmp(res[2].user.username, "ana") == 0, "device token -> user");
  ok(res[3].rc == 0, "session token before expiry");
  ok(res[4].rc == KDS_ENOTFOUND, "unknown token");
  fake_now = 1000;
  r = db_req_new(DB_TOKEN_USER, on_done, NULL);
  snprintf(r->in.token.token_hash, sizeof(r->in.token.token_hash), "h-exp");
  db_submit(d, r);
  r = db_req_new(DB_TOKEN_REVOKE, on_done, NULL);
  snprintf(r->in.token.token_hash, sizeof(r->in.token.token_hash), "h-dev");
  db_submit(d, r);
  r = db_req_new(DB_TOKEN_USER, on_done, NULL);
  snprintf(r->in.token.token_hash, sizeof(r->in.token.token_hash), "h-dev");
  db_submit(d, r);
  run();
  ok(res[5].rc == KDS_ENOTFOUND, "expired token refused");
  ok(res[6].rc == 0 && res[7].rc == KDS_ENOTFOUND, "revoked token refused");
  close_db();
}

static void body_req(db_op op, const char *body, int64_t id, const char *idtext) {
  db_req *r = db_req_new(op, on_done, NULL);
  r->user = user(5, "admin", 0);
  if (op == DB_PRODUCT_UPDATE) {
    r->in.product_update.body = cJSON_Parse(body);
    r->in.product_update.id = id;
    if (idtext) r->in.product_update.id_text = strdup(idtext);
  } else {
    r->in.menu_add.body = cJSON_Parse(body);
  }
  db_submit(d, r);
}

static void t_menu(void) {
  open_db();
  nres = 0;
  body_req(DB_CATEGORY_ADD, "{\"name\":\"  MINUMAN \"}", 0, NULL);
  body_req(DB_CATEGORY_ADD, "{\"name\":\"MINUMAN\"}", 0, NULL);
  body_req(DB_CATEGORY_ADD, "{\"name\":\"lines\"}", 0, NULL);
  body_req(DB_CATEGORY_ADD, "{\"name\":\"\"}", 0, NULL);
  body_req(DB_CATEGORY_ADD, "{\"name\":\"X\",\"sort_order\":1.5}", 0, NULL);
  body_req(DB_CATEGORY_ADD, "{\"name\":\"FIRST\",\"sort_order\":0}", 0, NULL);
  run();
  ok(res[0].rc == 0 && strcmp(res[0].json, "{\"id\":5,\"name\":\"MINUMAN\",\"sort_order\":5}") == 0,
     "category added, trimmed, next sort order: %s", res[0].json);
  ok(res[1].status == 409 && strcmp(res[1].code, "already_exists") == 0 && strcmp(res[1].field, "name") == 0,
     "duplicate category: 409");
  ok(res[2].status == 422 && strcmp(res[2].field, "name") == 0, "reserved key refused");
  ok(res[3].status == 422 && strcmp(res[3].field, "name") == 0, "empty name refused");
  ok(res[4].status == 422 && strcmp(res[4].field, "sort_order") == 0, "non-integer sort_order refused");
  nres = 0;
  db_submit(d, db_req_new(DB_CATEGORY_LIST, on_done, NULL));
  run();
  ok(strncmp(res[0].json,
             "[{\"id\":6,\"name\":\"FIRST\",\"sort_order\":0},{\"id\":1,\"name\":\"ISI CORNDOG\"", 62) == 0,
     "categories by sort order: %.80s", res[0].json);

  nres = 0;
  body_req(DB_PRODUCT_ADD, "{\"name\":\"Es Teh\",\"price\":3000,\"category_id\":5}", 0, NULL);
  body_req(DB_PRODUCT_ADD, "{\"name\":\"Es Teh\",\"price\":-1,\"category_id\":5}", 0, NULL);
  body_req(DB_PRODUCT_ADD, "{\"name\":\"Es Teh\",\"price\":1,\"category_id\":77}", 0, NULL);
  body_req(DB_PRODUCT_ADD, "{\"price\":1,\"category_id\":5}", 0, NULL);
  body_req(DB_PRODUCT_UPDATE, "{\"active\":false}", 9, "9");
  body_req(DB_PRODUCT_UPDATE, "{\"active\":\"no\"}", 9, "9");
  body_req(DB_PRODUCT_UPDATE, "{\"price\":2500}", 99, "99");
  body_req(DB_PRODUCT_UPDATE, "{\"name\":null}", 9, "9");
  run();
  ok(res[0].rc == 0 &&
         strcmp(res[0].json,
                "{\"id\":9,\"name\":\"Es "
                "Teh\",\"price\":3000,\"category_id\":5,\"category\":\"MINUMAN\",\"active\":true}") == 0,
     "product added: %s", res[0].json);
  ok(res[1].status == 422 && strcmp(res[1].field, "price") == 0, "negative price refused");
  ok(res[2].status == 422 && strcmp(res[2].field, "category_id") == 0, "unknown category refused");
  ok(res[3].status == 422 && strcmp(res[3].field, "name") == 0, "missing name refused");
  ok(res[4].rc == 0 && strstr(res[4].json, "\"active\":false") != NULL, "deactivated");
  ok(res[5].status == 422 && strcmp(res[5].field, "active") == 0, "active must be boolean");
  ok(res[6].status == 404 && strcmp(res[6].code, "not_found") == 0, "unknown product 404");
  ok(res[7].status == 422 && strcmp(res[7].field, "name") == 0, "null name refused");
  nres = 0;
  create(user(1, "cashier", 1), "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":9,\"qty\":1}]}",
         NULL);
  run();
  ok(res[0].status == 422 && strcmp(res[0].field, "items[0].product_id") == 0,
     "an inactive product cannot be ordered");
  close_db();
}

static void stats(kds_user u, const char *date, int64_t outlet) {
  db_req *r = db_req_new(DB_STATS, on_done, NULL);
  r->user = u;
  snprintf(r->in.stats.date, sizeof(r->in.stats.date), "%s", date);
  r->in.stats.outlet_id = outlet;
  r->in.stats.late_after_s = 600;
  ok(db_submit(d, r) == 0, "submit stats");
}

/* SPEC 10.5 on a clock the test moves: ticket times known to the millisecond, with ties,
 * a first `ready` that counts over a later one, a cancelled order that is no sale. */
static void t_stats(void) {
  kds_user cashier1 = user(1, "cashier", 1), cashier2 = user(4, "cashier", 2),
           kitchen1 = user(3, "kitchen", 1);
  kds_user admin = user(5, "admin", 0);
  static const char *QRIS =
      "{\"payment_method\":\"QRIS\",\"items\":[{\"product_id\":1,\"qty\":1},{\"product_id\":5,\"qty\":2}]}";
  int64_t t0 = day_ms(25);
  open_db();
  fake_now = t0;
  nres = 0;
  stats(cashier1, "2024-03-25", 0);
  run();
  ok(res[0].rc == 0 &&
         strcmp(res[0].json,
                "{\"date\":\"2024-03-25\",\"outlet_id\":1,\"orders\":{\"total\":0,\"new\":0,\"preparing\":0,"
                "\"ready\":0,\"completed\":0,\"cancelled\":0},\"sales\":{\"total_amount\":0,\"by_payment_"
                "method\":{}},"
                "\"ticket_time\":{\"count\":0,\"avg_s\":null,\"p50_s\":null,\"p90_s\":null,\"late\":0,"
                "\"late_after_s\":600},\"categories\":[],\"hours\":[]}") == 0,
     "no orders: zeros, nulls and empty lists (%s)", res[0].json);
  nres = 0;
  create(cashier1, ORDER1, NULL); /* 0001 */
  create(cashier1, QRIS, NULL);   /* 0002 */
  create(cashier1, ORDER1, NULL); /* 0003 */
  create(cashier1, ORDER1, NULL); /* 0004 */
  create(cashier1, ORDER1, NULL); /* 0005: cancelled */
  create(cashier2, ORDER1, NULL); /* 0006: outlet 2 */
  run();
  nres = 0;
  fake_now = t0 + 300000; /* a tie: two tickets of 300 s */
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240325-0001", "ready");
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240325-0002", "ready");
  simple(DB_ORDER_STATUS, cashier1, "INV-20240325-0005", "cancelled");
  run();
  fake_now = t0 + 600500;
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240325-0003", "ready");
  run();
  fake_now = t0 + 900000;
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240325-0004", "ready");
  run();
  fake_now = t0 + 950000; /* recalled and bumped again: the first ready counts */
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240325-0004", "preparing");
  run();
  fake_now = t0 + 1000000;
  simple(DB_ORDER_STATUS, kitchen1, "INV-20240325-0004", "ready");
  run();
  for (int i = 0; i < nres; i++) ok(res[i].rc == 0, "change %d (%s)", i, res[i].json);
  nres = 0;
  stats(cashier1, "2024-03-25", 0);
  stats(admin, "2024-03-25", 2);
  stats(kitchen1, "2024-03-25", 2);
  stats(admin, "2024-03-26", 0);
  run();
  /* tickets 300, 300, 600.5, 900 s: mean 525.125, nearest rank p50 = 2nd = 300, p90 = 4th */
  ok(res[0].rc == 0 &&
         strcmp(res[0].json,
                "{\"date\":\"2024-03-25\",\"outlet_id\":1,\"orders\":{\"total\":5,\"new\":0,\"preparing\":0,"
                "\"ready\":4,\"completed\":0,\"cancelled\":1},\"sales\":{\"total_amount\":32000,"
                "\"by_payment_method\":{\"CASH\":24000,\"QRIS\":8000}},\"ticket_time\":{\"count\":4,"
                "\"avg_s\":525.125,\"p50_s\":300,\"p90_s\":900,\"late\":2,\"late_after_s\":600},"
                "\"categories\":[{\"name\":\"ISI CORNDOG\",\"quantity\":4,\"total_amount\":24000},"
                "{\"name\":\"SAUS ASIN\",\"quantity\":8,\"total_amount\":8000}],"
                "\"hours\":[{\"hour\":12,\"orders\":4,\"total_amount\":32000}]}") == 0,
     "the day's figures (%s)", res[0].json);
  ok(res[1].rc == 0 && strstr(res[1].json, "\"outlet_id\":2,\"orders\":{\"total\":1,\"new\":1") &&
         strstr(res[1].json, "\"count\":0,\"avg_s\":null"),
     "an admin chooses the outlet (%s)", res[1].json);
  ok(res[2].rc == KDS_EREQUEST && res[2].status == 403 && strcmp(res[2].field, "outlet_id") == 0,
     "nobody else does");
  ok(res[3].rc == 0 &&
         strstr(res[3].json, "{\"date\":\"2024-03-26\",\"outlet_id\":null,\"orders\":{\"total\":0"),
     "another day, every outlet (%s)", res[3].json);
  close_db();
}

static void t_close_finishes(void) {
  sqlite3 *c;
  sqlite3_stmt *st;
  open_db();
  fake_now = day_ms(20);
  nres = 0;
  for (int i = 0; i < 30; i++) create(user(1, "cashier", 1), ORDER1, NULL);
  static int one = 1;
  closed = 0;
  db_close(d, on_closed, &one);
  /* after db_close: refused, the callback never runs */
  db_req *r = db_req_new(DB_ORDER_GET, on_done, NULL);
  ok(db_submit(d, r) == KDS_ECLOSED, "submit after close is refused");
  uv_run(&loop, UV_RUN_DEFAULT);
  d = NULL;
  ok(closed && nres == 30, "every queued order was answered before the close callback (%d)", nres);
  int good = 1;
  for (int i = 0; i < nres; i++) good &= res[i].rc == 0;
  ok(good, "and committed");
  sqlite3_open(path, &c);
  sqlite3_prepare_v2(c, "SELECT count(*) FROM orders WHERE date = '2024-03-20'", -1, &st, NULL);
  ok(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 30, "30 orders on disk");
  sqlite3_finalize(st);
  sqlite3_close(c);
}

int main(void) {
  setenv("TZ", "Asia/Jakarta", 1);
  tzset();
  snprintf(dir, sizeof(dir), "/tmp/kds-test-db-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof(path), "%s/kds.db", dir);
  uv_loop_init(&loop);
  subtest("migrations", t_migrations);
  subtest("migration from version 1", t_migrate_v1);
  subtest("sequence", t_sequence);
  subtest("group commit", t_group_commit);
  subtest("idempotency", t_idempotency);
  subtest("status, void, get", t_status_void_get);
  subtest("list", t_list);
  subtest("tokens and users", t_tokens_users);
  subtest("menu", t_menu);
  subtest("stats", t_stats);
  subtest("close", t_close_finishes);
  ok(uv_loop_close(&loop) == 0, "nothing left on the loop");
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0) return 1;
  return done_testing();
}
