/* test_db_sqlite.c: what the SQLite store keeps in memory for the writer (the day's invoice
 * counter, the products) follows its savepoints and rollbacks, and drops what another
 * connection changed (PRAGMA data_version). */
#include "test.h"

#include <sqlite3.h>

#include "db_store.h"

static char dir[256], path[300];
static const db_store_ops *ops = &db_sqlite_ops;

static int64_t take(void *st, const char *day) {
  int64_t seq = -1;
  if (ops->invoice_next(st, day, &seq) != 0) return -1;
  return seq;
}

/* Runs `sql` on a second connection to the same file, as another process would. */
static int external(const char *sql) {
  sqlite3 *db;
  int rc;
  if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
  sqlite3_busy_timeout(db, 2000);
  rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}

static void t_counter(void) {
  char err[256];
  void *st;
  int64_t n;
  ok(ops->open(path, &st, err, sizeof(err)) == 0, "open");
  ops->begin(st);
  ok(take(st, "2026-12-07") == 1, "the first number of a day is 1");
  ops->savepoint(st);
  ok(take(st, "2026-12-07") == 2, "2 in a savepoint");
  ops->rollback_to(st);
  ops->savepoint(st);
  n = take(st, "2026-12-07");
  ok(n == 2, "rolled back: the next order gets 2 again (%lld)", (long long)n);
  ops->release(st);
  ops->commit(st);

  ops->begin(st);
  ok(take(st, "2026-12-07") == 3, "3 after the commit");
  ops->rollback(st);
  ops->begin(st);
  n = take(st, "2026-12-07");
  ok(n == 3, "a whole rollback hands 3 out again (%lld)", (long long)n);
  ok(take(st, "2026-12-08") == 1, "another day starts at 1");
  ok(take(st, "2026-12-07") == 4, "and the first day goes on");
  ops->commit(st);

  ok(external("UPDATE invoice_counters SET last_seq = 41 WHERE day = '2026-12-07'") == 0,
     "another connection moves the counter");
  ops->begin(st);
  n = take(st, "2026-12-07");
  ok(n == 42, "the next transaction sees it: 42 (%lld)", (long long)n);
  ops->commit(st);
  ops->close(st);

  ok(ops->open(path, &st, err, sizeof(err)) == 0, "reopen");
  ops->begin(st);
  ok(take(st, "2026-12-07") == 43 && take(st, "2026-12-08") == 2, "reopened: both days continue");
  ops->commit(st);
  ops->close(st);
}

static int64_t price_of(void *st, int64_t id) {
  order_product p;
  return ops->product_by_id(st, id, &p) == 0 ? p.price : -1;
}

static void t_products(void) {
  char err[256];
  void *st;
  int loaded = 0;
  int64_t v;
  ok(ops->open(path, &st, err, sizeof(err)) == 0 && db_store_seed_demo(ops, st, &loaded) == 0 && loaded,
     "demo menu");
  ops->begin(st);
  ok(price_of(st, 1) == 6000 && price_of(st, 1) == 6000, "read twice (the second from memory)");
  ops->commit(st);
  ok(external("UPDATE products SET price = 6500 WHERE id = 1") == 0, "another connection changes a price");
  ops->begin(st);
  v = price_of(st, 1);
  ok(v == 6500, "the next transaction reads the new price (%lld)", (long long)v);
  ops->savepoint(st);
  ops->product_update(st, 1, "Corndog Sosis", 7000, 1, 1);
  ok(price_of(st, 1) == 7000, "our own update is read back");
  ops->rollback_to(st);
  v = price_of(st, 1);
  ok(v == 6500, "rolled back: the old price again (%lld)", (long long)v);
  ops->savepoint(st);
  ops->product_update(st, 1, "Corndog Sosis", 7100, 1, 1);
  ok(price_of(st, 1) == 7100, "updated again");
  ops->release(st);
  ops->rollback(st);
  ops->begin(st);
  v = price_of(st, 1);
  ok(v == 6500, "the transaction rolled back: 6500 (%lld)", (long long)v);
  ok(price_of(st, 999) == -1, "an unknown product is not found");
  ops->commit(st);
  ops->close(st);
}

int main(void) {
  snprintf(dir, sizeof(dir), "/tmp/kds-test-db-sqlite-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof(path), "%s/kds.db", dir);
  subtest("invoice counter", t_counter);
  snprintf(path, sizeof(path), "%s/menu.db", dir);
  subtest("product cache", t_products);
  return done_testing();
}
