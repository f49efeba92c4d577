/* db_sqlite.c: the SQLite backend of the store seam (db_store.h): schema and migrations,
 * WAL + synchronous=FULL + foreign keys, every statement prepared once and bound. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db_store.h"
#include "log.h"

/* Migrations, applied in order at open; schema_version holds how many ran. A new feature
 * (SPEC 10: order_type, table, customer_name, rush, line notes, done lines) is one more
 * entry of ALTER TABLE ... ADD COLUMN / CREATE TABLE: never an edit of an old one. */
static const char *const migrations[] = {
    /* 1: the base schema */
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
    "CREATE INDEX idempotency_by_time ON idempotency_keys(created_at);",
    /* 2: SPEC 10 (kitchen operations). The role CHECK gains `display`: SQLite cannot alter a
     * CHECK, so users is rebuilt (foreign keys are off while migrations run). */
    "CREATE TABLE users_v2 ("
    "  id            INTEGER PRIMARY KEY,"
    "  username      TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  role          TEXT NOT NULL CHECK (role IN ('admin', 'cashier', 'kitchen', 'display')),"
    "  outlet_id     INTEGER,"
    "  created_at    TEXT NOT NULL);"
    "INSERT INTO users_v2 SELECT id, username, password_hash, role, outlet_id, created_at FROM users;"
    "DROP TABLE users;"
    "ALTER TABLE users_v2 RENAME TO users;"
    "ALTER TABLE orders ADD COLUMN order_type TEXT;"
    "ALTER TABLE orders ADD COLUMN table_label TEXT;"
    "ALTER TABLE orders ADD COLUMN customer_name TEXT;"
    "ALTER TABLE orders ADD COLUMN rush INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE orders ADD COLUMN created_ms INTEGER;" /* epoch ms of created_at */
    "ALTER TABLE orders ADD COLUMN ready_ms INTEGER;"   /* first time it reached ready */
    "ALTER TABLE order_lines ADD COLUMN note TEXT;"
    "ALTER TABLE order_lines ADD COLUMN modifiers TEXT;" /* joined by U+001F (never in one) */
    "ALTER TABLE order_lines ADD COLUMN done INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE order_history ("
    "  id          INTEGER PRIMARY KEY,"
    "  order_id    INTEGER NOT NULL REFERENCES orders(id),"
    "  at_ms       INTEGER NOT NULL,"
    "  user_id     INTEGER," /* NULL: the server (auto-complete) */
    "  from_status TEXT,"    /* NULL: created */
    "  to_status   TEXT NOT NULL);"
    "CREATE INDEX order_history_by_time ON order_history(at_ms);"
    "CREATE INDEX order_history_by_order ON order_history(order_id, to_status);",
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* The columns read_order reads, in its order (voided_at is column 10). */
#define ORDER_COLUMNS                                                                             \
  "id, invoice_number, date, outlet_id, status, payment_method, note, total_amount, created_at, " \
  "updated_at, voided_at, order_type, table_label, customer_name, rush"

/* The statements, prepared once at open. */
#define STMT_MAP(XX)                                                                                         \
  XX(begin, "BEGIN IMMEDIATE")                                                                               \
  XX(commit, "COMMIT")                                                                                       \
  XX(rollback, "ROLLBACK")                                                                                   \
  XX(savepoint, "SAVEPOINT req")                                                                             \
  XX(release, "RELEASE req")                                                                                 \
  XX(rollback_to, "ROLLBACK TO req")                                                                         \
  XX(user_add,                                                                                               \
     "INSERT INTO users (username, password_hash, role, outlet_id, created_at) VALUES (?, ?, ?, ?, ?)")      \
  XX(user_by_name, "SELECT id, username, role, outlet_id, password_hash FROM users WHERE username = ?")      \
  XX(token_add,                                                                                              \
     "INSERT INTO tokens (token_hash, user_id, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")        \
  XX(token_user,                                                                                             \
     "SELECT u.id, u.username, u.role, u.outlet_id, t.expires_at FROM tokens t JOIN users u ON u.id = "      \
     "t.user_id "                                                                                            \
     "WHERE t.token_hash = ? AND t.revoked = 0 AND (t.expires_at IS NULL OR t.expires_at > ?)")              \
  XX(token_revoke, "UPDATE tokens SET revoked = 1 WHERE token_hash = ?")                                     \
  XX(menu_count, "SELECT (SELECT count(*) FROM categories) + (SELECT count(*) FROM products)")               \
  XX(categories, "SELECT id, name, sort_order FROM categories ORDER BY sort_order, id")                      \
  XX(category_by_id, "SELECT id, name, sort_order FROM categories WHERE id = ?")                             \
  XX(category_by_name, "SELECT id FROM categories WHERE name = ?")                                           \
  XX(category_add,                                                                                           \
     "INSERT INTO categories (id, name, sort_order) VALUES (?, ?, "                                          \
     "coalesce(?, (SELECT coalesce(max(sort_order), 0) + 1 FROM categories)))")                              \
  XX(products,                                                                                               \
     "SELECT p.id, p.name, p.price, p.category_id, c.name, c.sort_order, p.active "                          \
     "FROM products p JOIN categories c ON c.id = p.category_id ORDER BY p.id")                              \
  XX(product_by_id,                                                                                          \
     "SELECT p.id, p.name, p.price, p.category_id, c.name, c.sort_order, p.active "                          \
     "FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ?")                             \
  XX(product_add, "INSERT INTO products (id, name, price, category_id, active) VALUES (?, ?, ?, ?, 1)")      \
  XX(product_update, "UPDATE products SET name = ?, price = ?, category_id = ?, active = ? WHERE id = ?")    \
  XX(data_version, "PRAGMA data_version")                                                                    \
  XX(counter_get, "SELECT last_seq FROM invoice_counters WHERE day = ?")                                     \
  XX(counter_set, "UPDATE invoice_counters SET last_seq = ? WHERE day = ?")                                  \
  XX(counter_add, "INSERT INTO invoice_counters (day, last_seq) VALUES (?, ?)")                              \
  XX(order_add,                                                                                              \
     "INSERT INTO orders (invoice_number, date, outlet_id, status, payment_method, note, total_amount, "     \
     "created_by, created_at, updated_at, order_type, table_label, customer_name, rush, created_ms) "        \
     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")                                                 \
  XX(line_add,                                                                                               \
     "INSERT INTO order_lines (order_id, line_no, product_id, name, category_id, category, category_sort, "  \
     "qty, price, subtotal, note, modifiers, done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")          \
  XX(order_by_invoice, "SELECT " ORDER_COLUMNS " FROM orders WHERE invoice_number = ?")                      \
  XX(order_by_id, "SELECT " ORDER_COLUMNS " FROM orders WHERE id = ?")                                       \
  XX(order_lines,                                                                                            \
     "SELECT product_id, name, category_id, category, category_sort, qty, price, subtotal, note, "           \
     "modifiers, done FROM order_lines WHERE order_id = ? ORDER BY line_no")                                 \
  XX(order_id_of, "SELECT id, outlet_id FROM orders WHERE invoice_number = ?")                               \
  XX(order_set_status,                                                                                       \
     "UPDATE orders SET status = ?1, updated_at = ?2, "                                                      \
     "ready_ms = CASE WHEN ?1 = 'ready' AND ready_ms IS NULL THEN ?5 ELSE ready_ms END "                     \
     "WHERE id = ?3 AND status = ?4")                                                                        \
  XX(order_set_rush, "UPDATE orders SET rush = ?, updated_at = ? WHERE id = ?")                              \
  XX(line_set_done, "UPDATE order_lines SET done = ? WHERE order_id = ? AND line_no = ?")                    \
  XX(order_touch, "UPDATE orders SET updated_at = ? WHERE id = ?")                                           \
  XX(history_add,                                                                                            \
     "INSERT INTO order_history (order_id, at_ms, user_id, from_status, to_status) VALUES (?, ?, ?, ?, ?)")  \
  XX(recall_list,                                                                                            \
     "SELECT o.id, max(h.at_ms) AS bumped FROM order_history h JOIN orders o ON o.id = h.order_id "          \
     "WHERE h.at_ms >= ?1 AND h.to_status = o.status AND o.status IN ('ready', 'completed') "                \
     "AND o.voided_at IS NULL AND (?2 = 0 OR o.outlet_id = ?2) GROUP BY o.id ORDER BY bumped DESC, o.id "    \
     "DESC "                                                                                                 \
     "LIMIT ?3")                                                                                             \
  XX(ready_due,                                                                                              \
     "SELECT o.id FROM orders o WHERE o.status = 'ready' AND o.voided_at IS NULL AND coalesce((SELECT "      \
     "max(h.at_ms) FROM order_history h WHERE h.order_id = o.id AND h.to_status = 'ready'), 0) < ?1 "        \
     "ORDER BY o.id LIMIT ?2")                                                                               \
  XX(stats_orders,                                                                                           \
     "SELECT status, payment_method, created_at, total_amount, created_ms, ready_ms FROM orders "            \
     "WHERE date = ?1 AND voided_at IS NULL AND (?2 = 0 OR outlet_id = ?2)")                                 \
  XX(stats_categories,                                                                                       \
     "SELECT l.category, sum(l.qty), sum(l.subtotal) FROM order_lines l JOIN orders o ON o.id = l.order_id " \
     "WHERE o.date = ?1 AND o.voided_at IS NULL AND o.status <> 'cancelled' AND (?2 = 0 OR o.outlet_id = "   \
     "?2) "                                                                                                  \
     "GROUP BY l.category ORDER BY min(l.category_sort), min(l.category_id), l.category")                    \
  XX(order_void, "UPDATE orders SET voided_at = ? WHERE id = ? AND voided_at IS NULL")                       \
  XX(idem_find,                                                                                              \
     "SELECT request_hash, order_id FROM idempotency_keys WHERE user_id = ? AND key = ? AND created_at > ?") \
  XX(idem_put,                                                                                               \
     "INSERT OR REPLACE INTO idempotency_keys (user_id, key, request_hash, order_id, created_at) "           \
     "VALUES (?, ?, ?, ?, ?)")                                                                               \
  XX(idem_purge, "DELETE FROM idempotency_keys WHERE created_at <= ?")

enum {
#define XX(name, sql) ST_##name,
  STMT_MAP(XX)
#undef XX
      ST_COUNT
};

static const char *const stmt_sql[] = {
#define XX(name, sql) sql,
    STMT_MAP(XX)
#undef XX
};

/* GET /orders: one statement per combination of filters (built on first use, then kept):
 * each is a plain indexed query rather than one generic "? IS NULL OR ..." that no index fits. */
#define LIST_STATUS 1
#define LIST_DATE 2
#define LIST_OUTLET 4
#define LIST_BEFORE 8
#define LIST_VARIANTS 16

/* Which file a path named when it was opened: a deleted or replaced file is a different one. */
typedef struct file_id {
  dev_t dev;
  ino_t ino;
  int known;
} file_id;

/* The day's invoice counter as the one writer last wrote it (see invoice_next). */
typedef struct counter {
  char day[16];
  int64_t last; /* the last number handed out that day */
  int known;    /* 0: read it from the table first */
  int row;      /* its row exists (UPDATE), else INSERT */
} counter;

#define PRODUCT_BUCKETS 256
#define PRODUCT_CACHE_MAX 4096 /* products cached; past it the cache starts over */

/* A product as last read, with its own copies of the strings. */
typedef struct product_entry {
  struct product_entry *next; /* in its bucket */
  order_product p;            /* p.name / p.category point into the two strings below */
  char *name;
  char *category;
} product_entry;

typedef struct db_sqlite {
  char *path;
  file_id main, wal; /* the database file and its -wal as opened */
  sqlite3 *conn;
  sqlite3_stmt *st[ST_COUNT];
  sqlite3_stmt *list[LIST_VARIANTS];
  kds_buf s1, s2; /* strings handed out until the next call */

  /* In memory for the writer: the invoice counter (so that taking a number is one UPDATE,
   * not an UPSERT with RETURNING) and the products an order's lines look up. Both are
   * dropped when another connection has committed (PRAGMA data_version, read as each write
   * transaction begins) and follow our own savepoints and rollbacks. */
  counter ctr, ctr_txn, ctr_sp; /* now, at BEGIN, at the last SAVEPOINT */
  product_entry *products[PRODUCT_BUCKETS];
  size_t nproducts;
  int products_dirty; /* the menu was written since the last SAVEPOINT */
  int txn_open;       /* BEGIN ran, COMMIT or ROLLBACK not yet */
  int64_t data_version;
} db_sqlite;

static int fail(db_sqlite *s, const char *what) {
  log_error("database: %s failed: %s", what, sqlite3_errmsg(s->conn));
  return KDS_EDB;
}

/* Ends the use of a statement: reset it and drop its bindings. */
static void done(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no row; 0 or KDS_EDB. */
static int run(db_sqlite *s, int id, const char *what) {
  int rc = sqlite3_step(s->st[id]);
  done(s->st[id]);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(s, what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

/* Binds an id that is 0 for "none" (NULL in SQL). */
static void bind_id(sqlite3_stmt *st, int i, int64_t v) {
  if (v)
    sqlite3_bind_int64(st, i, v);
  else
    sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? (const char *)t : "";
}

static int keep(kds_buf *b, const char *v) {
  kds_buf_reset(b);
  return kds_buf_adds(b, v ? v : "");
}

static void products_forget(db_sqlite *s) {
  for (size_t i = 0; i < PRODUCT_BUCKETS; i++) {
    while (s->products[i]) {
      product_entry *e = s->products[i];
      s->products[i] = e->next;
      free(e->name);
      free(e->category);
      free(e);
    }
  }
  s->nproducts = 0;
}

/* What is in memory may no longer be what is in the file. */
static void cache_forget(db_sqlite *s) {
  memset(&s->ctr, 0, sizeof(s->ctr));
  products_forget(s);
}

/* ---- open / close ----------------------------------------------------------------------- */

static int exec(db_sqlite *s, const char *sql, char *err, size_t errlen) {
  char *msg = NULL;
  if (sqlite3_exec(s->conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(s->conn));
    sqlite3_free(msg);
    return KDS_EDB;
  }
  return 0;
}

static int migrate(db_sqlite *s, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int version = 0, rc;
  char buf[160];
  if (exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", err, errlen))
    return KDS_EDB;
  if (sqlite3_prepare_v2(s->conn, "SELECT max(version) FROM schema_version", -1, &st, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s", sqlite3_errmsg(s->conn));
    return KDS_EDB;
  }
  if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (version > (int)NMIGRATIONS) {
    snprintf(err, errlen, "the database has schema version %d, newer than this program's %d", version,
             (int)NMIGRATIONS);
    return KDS_EDB;
  }
  for (int v = version; v < (int)NMIGRATIONS; v++) {
    if (exec(s, "BEGIN IMMEDIATE", err, errlen)) return KDS_EDB;
    snprintf(buf, sizeof(buf), "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", v + 1);
    rc = exec(s, migrations[v], err, errlen);
    if (rc == 0) rc = exec(s, buf, err, errlen);
    if (rc == 0) rc = exec(s, "COMMIT", err, errlen);
    if (rc) {
      char ignore[8];
      exec(s, "ROLLBACK", ignore, sizeof(ignore));
      return rc;
    }
    log_info("database: schema migrated to version %d", v + 1);
  }
  return 0;
}

static void sqlite_close(void *self) {
  db_sqlite *s = self;
  if (s == NULL) return;
  for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
  for (int i = 0; i < LIST_VARIANTS; i++) sqlite3_finalize(s->list[i]);
  sqlite3_close(s->conn);
  free(s->path);
  kds_buf_release(&s->s1);
  kds_buf_release(&s->s2);
  products_forget(s);
  free(s);
}

/* 0 and fills `id` when `path` exists; -1 with errno otherwise. */
static int file_id_of(const char *path, file_id *id) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  id->known = 1;
  return 0;
}

static int wal_path(const db_sqlite *s, char *out, size_t size) {
  return snprintf(out, size, "%s-wal", s->path) < (int)size ? 0 : -1;
}

static int same_file(const char *path, const file_id *was, char *err, size_t errlen) {
  file_id now = {0};
  if (file_id_of(path, &now) != 0) {
    snprintf(err, errlen, "%s was deleted under the running server (%s)", path, strerror(errno));
    return KDS_EDB;
  }
  if (now.dev != was->dev || now.ino != was->ino) {
    snprintf(err, errlen, "%s was replaced by another file under the running server", path);
    return KDS_EDB;
  }
  return 0;
}

static int sqlite_check(void *self, char *err, size_t errlen) {
  db_sqlite *s = self;
  char wal[PATH_MAX + 8];
  int rc;
  if (!s->main.known) return 0; /* an in-memory database (tests): nothing to lose */
  if ((rc = same_file(s->path, &s->main, err, errlen)) != 0) return rc;
  if (wal_path(s, wal, sizeof(wal)) != 0) return 0;
  /* SQLite keeps the WAL while the connection is open; if it was not there yet, take it now */
  if (!s->wal.known) {
    file_id_of(wal, &s->wal);
    return 0;
  }
  return same_file(wal, &s->wal, err, errlen);
}

static int sqlite_open(const char *path, void **self, char *err, size_t errlen) {
  db_sqlite *s = calloc(1, sizeof(*s));
  sqlite3_stmt *st = NULL;
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return KDS_ENOMEM;
  }
  if (strcmp(path, ":memory:") != 0 && path[0] != '\0' && access(path, F_OK) != 0 && errno == ENOENT)
    /* said loudly: after a lost file this is where an empty database would begin */
    log_warn("database: %s does not exist; creating a new, empty database there", path);
  /* NOMUTEX: one thread at a time uses the connection (the opener, then the DB thread). */
  if (sqlite3_open_v2(path, &s->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", path, s->conn ? sqlite3_errmsg(s->conn) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(s->conn, 5000); /* the CLI may hold the lock for a moment */
  sqlite3_extended_result_codes(s->conn, 1);
  if (sqlite3_prepare_v2(s->conn, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW || strcmp(col_text(st, 0), "wal") != 0) {
    snprintf(err, errlen, "cannot switch %s to WAL: %s", path, sqlite3_errmsg(s->conn));
    sqlite3_finalize(st);
    goto fail;
  }
  sqlite3_finalize(st);
  /* FULL: a commit is on disk before we answer (SPEC 3: 201 after a durable commit). */
  if (exec(s, "PRAGMA synchronous = FULL", err, errlen)) goto fail;
  /* migrations run with foreign keys off: one of them rebuilds a table others refer to */
  if (migrate(s, err, errlen)) goto fail;
  if (exec(s, "PRAGMA foreign_keys = ON", err, errlen)) goto fail;
  for (int i = 0; i < ST_COUNT; i++) {
    if (sqlite3_prepare_v3(s->conn, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
        SQLITE_OK) {
      snprintf(err, errlen, "cannot prepare \"%s\": %s", stmt_sql[i], sqlite3_errmsg(s->conn));
      goto fail;
    }
  }
  if ((s->path = strdup(path)) == NULL) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (file_id_of(path, &s->main) == 0) {
    char wal[PATH_MAX + 8];
    if (wal_path(s, wal, sizeof(wal)) == 0) file_id_of(wal, &s->wal);
  }
  *self = s;
  return 0;
fail:
  sqlite_close(s);
  return KDS_EDB;
}

/* ---- transactions ------------------------------------------------------------------------ */

static int sqlite_begin(void *self) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_data_version];
  int64_t v = -1;
  int rc;
  if (s->txn_open) cache_forget(s); /* the last one ended in neither: SQLite rolled it back */
  if ((rc = run(s, ST_begin, "BEGIN")) != 0) return rc;
  s->txn_open = 1;
  /* read under the write lock: no other connection can commit until we end */
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  done(st);
  if (v < 0 || v != s->data_version) cache_forget(s);
  s->data_version = v;
  s->ctr_txn = s->ctr;
  return 0;
}

static int sqlite_commit(void *self) {
  db_sqlite *s = self;
  int rc = run(s, ST_commit, "COMMIT");
  s->txn_open = 0;
  if (rc) cache_forget(s); /* the caller rolls back */
  return rc;
}

static int sqlite_rollback(void *self) {
  db_sqlite *s = self;
  s->txn_open = 0;
  s->ctr = s->ctr_txn;
  products_forget(s); /* an update rolled back may have been read back into the cache */
  if (sqlite3_get_autocommit(s->conn)) return 0; /* SQLite already rolled it back */
  return run(s, ST_rollback, "ROLLBACK");
}

static int sqlite_in_transaction(void *self) {
  db_sqlite *s = self;
  return !sqlite3_get_autocommit(s->conn);
}

static int sqlite_savepoint(void *self) {
  db_sqlite *s = self;
  s->ctr_sp = s->ctr;
  s->products_dirty = 0;
  return run(s, ST_savepoint, "SAVEPOINT");
}

static int sqlite_release(void *self) {
  return run(self, ST_release, "RELEASE");
}

static int sqlite_rollback_to(void *self) {
  db_sqlite *s = self;
  int rc = run(s, ST_rollback_to, "ROLLBACK TO");
  s->ctr = s->ctr_sp; /* a number taken in the savepoint goes to the next order */
  if (s->products_dirty) products_forget(s);
  if (rc) cache_forget(s);
  return rc ? rc : run(s, ST_release, "RELEASE");
}

/* ---- users and tokens -------------------------------------------------------------------- */

static int sqlite_user_add(void *self, const char *name, const char *password_hash, const char *role,
                           int64_t outlet_id, const char *created_at, int64_t *id) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_user_add];
  int rc;
  bind_text(st, 1, name);
  bind_text(st, 2, password_hash);
  bind_text(st, 3, role);
  bind_id(st, 4, outlet_id);
  bind_text(st, 5, created_at);
  rc = sqlite3_step(st);
  done(st);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) return KDS_ESTATE;
  if (rc != SQLITE_DONE) return fail(s, "adding a user");
  *id = sqlite3_last_insert_rowid(s->conn);
  return 0;
}

static void read_user(sqlite3_stmt *st, kds_user *u) {
  memset(u, 0, sizeof(*u));
  u->id = sqlite3_column_int64(st, 0);
  snprintf(u->username, sizeof(u->username), "%s", col_text(st, 1));
  snprintf(u->role, sizeof(u->role), "%s", col_text(st, 2));
  u->outlet_id = sqlite3_column_int64(st, 3); /* NULL reads as 0: all outlets */
}

static int sqlite_user_by_name(void *self, const char *name, kds_user *u, const char **password_hash) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_user_by_name];
  int rc;
  bind_text(st, 1, name);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    read_user(st, u);
    if (keep(&s->s1, col_text(st, 4))) rc = SQLITE_NOMEM;
    *password_hash = s->s1.base;
  }
  done(st);
  if (rc == SQLITE_DONE) return KDS_ENOTFOUND;
  return rc == SQLITE_ROW ? 0 : fail(s, "looking up a user");
}

static int sqlite_token_add(void *self, const char *token_hash, int64_t user_id, const char *kind,
                            const char *created_at, int64_t expires_at) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_token_add];
  bind_text(st, 1, token_hash);
  sqlite3_bind_int64(st, 2, user_id);
  bind_text(st, 3, kind);
  bind_text(st, 4, created_at);
  bind_id(st, 5, expires_at);
  return run(s, ST_token_add, "adding a token");
}

static int sqlite_token_user(void *self, const char *token_hash, int64_t now_ms, kds_user *u,
                             int64_t *expires_at) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_token_user];
  int rc;
  bind_text(st, 1, token_hash);
  sqlite3_bind_int64(st, 2, now_ms);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    read_user(st, u);
    *expires_at = sqlite3_column_int64(st, 4);
  }
  done(st);
  if (rc == SQLITE_DONE) return KDS_ENOTFOUND;
  return rc == SQLITE_ROW ? 0 : fail(s, "looking up a token");
}

static int sqlite_token_revoke(void *self, const char *token_hash) {
  db_sqlite *s = self;
  bind_text(s->st[ST_token_revoke], 1, token_hash);
  return run(s, ST_token_revoke, "revoking a token");
}

/* ---- menu ---------------------------------------------------------------------------------- */

static int sqlite_menu_empty(void *self, int *empty) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_menu_count];
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *empty = sqlite3_column_int64(st, 0) == 0;
  done(st);
  return rc == SQLITE_ROW ? 0 : fail(s, "counting the menu");
}

static void read_category(sqlite3_stmt *st, db_category *c) {
  c->id = sqlite3_column_int64(st, 0);
  c->name = col_text(st, 1);
  c->sort_order = sqlite3_column_int64(st, 2);
}

static int sqlite_category_list(void *self, int (*each)(void *ud, const db_category *c), void *ud) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_categories];
  int rc, urc = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    db_category c;
    read_category(st, &c);
    if ((urc = each(ud, &c)) != 0) break;
  }
  done(st);
  if (urc) return urc;
  return rc == SQLITE_DONE ? 0 : fail(s, "listing categories");
}

static int sqlite_category_by_id(void *self, int64_t id, db_category *c) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_category_by_id];
  int rc;
  sqlite3_bind_int64(st, 1, id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    read_category(st, c);
    if (keep(&s->s1, c->name)) rc = SQLITE_NOMEM;
    c->name = s->s1.base;
  }
  done(st);
  if (rc == SQLITE_DONE) return KDS_ENOTFOUND;
  return rc == SQLITE_ROW ? 0 : fail(s, "looking up a category");
}

static int sqlite_category_by_name(void *self, const char *name, int64_t *id) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_category_by_name];
  int rc;
  bind_text(st, 1, name);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
  done(st);
  if (rc == SQLITE_DONE) return KDS_ENOTFOUND;
  return rc == SQLITE_ROW ? 0 : fail(s, "looking up a category");
}

static int sqlite_category_add(void *self, const char *name, int has_sort, int64_t sort_order, int64_t id,
                               int64_t *new_id) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_category_add];
  int rc;
  bind_id(st, 1, id);
  bind_text(st, 2, name);
  if (has_sort)
    sqlite3_bind_int64(st, 3, sort_order);
  else
    sqlite3_bind_null(st, 3);
  rc = sqlite3_step(st);
  done(st);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) return KDS_ESTATE;
  if (rc != SQLITE_DONE) return fail(s, "adding a category");
  *new_id = sqlite3_last_insert_rowid(s->conn);
  return 0;
}

static void read_product(sqlite3_stmt *st, order_product *p) {
  p->id = sqlite3_column_int64(st, 0);
  p->name = col_text(st, 1);
  p->price = sqlite3_column_int64(st, 2);
  p->category_id = sqlite3_column_int64(st, 3);
  p->category = col_text(st, 4);
  p->category_sort = sqlite3_column_int64(st, 5);
  p->active = sqlite3_column_int(st, 6) != 0;
}

static int sqlite_product_list(void *self, int (*each)(void *ud, const order_product *p), void *ud) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_products];
  int rc, urc = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    order_product p;
    read_product(st, &p);
    if ((urc = each(ud, &p)) != 0) break;
  }
  done(st);
  if (urc) return urc;
  return rc == SQLITE_DONE ? 0 : fail(s, "listing products");
}

static product_entry **product_slot(db_sqlite *s, int64_t id) {
  return &s->products[(uint64_t)id % PRODUCT_BUCKETS];
}

/* Keeps a copy of `p`; a failure only means the next lookup reads the table again. */
static void product_remember(db_sqlite *s, const order_product *p) {
  product_entry *e;
  if (s->nproducts >= PRODUCT_CACHE_MAX) products_forget(s);
  if ((e = calloc(1, sizeof(*e))) == NULL) return;
  if ((e->name = strdup(p->name)) == NULL || (e->category = strdup(p->category)) == NULL) {
    free(e->name);
    free(e);
    return;
  }
  e->p = *p;
  e->p.name = e->name;
  e->p.category = e->category;
  e->next = *product_slot(s, p->id);
  *product_slot(s, p->id) = e;
  s->nproducts++;
}

static int sqlite_product_by_id(void *self, int64_t id, order_product *p) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_product_by_id];
  int rc;
  /* only inside a write transaction: that is where data_version was checked */
  if (s->txn_open) {
    for (product_entry *e = *product_slot(s, id); e; e = e->next) {
      if (e->p.id == id) {
        *p = e->p; /* valid until the cache is dropped, which only a later call can do */
        return 0;
      }
    }
  }
  sqlite3_bind_int64(st, 1, id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    read_product(st, p);
    if (keep(&s->s1, p->name) || keep(&s->s2, p->category)) rc = SQLITE_NOMEM;
    p->name = s->s1.base;
    p->category = s->s2.base;
    if (rc == SQLITE_ROW && s->txn_open) product_remember(s, p);
  }
  done(st);
  if (rc == SQLITE_DONE) return KDS_ENOTFOUND;
  return rc == SQLITE_ROW ? 0 : fail(s, "looking up a product");
}

static int sqlite_product_add(void *self, const char *name, int64_t price, int64_t category_id, int64_t id,
                              int64_t *new_id) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_product_add];
  int rc;
  products_forget(s);
  s->products_dirty = 1;
  bind_id(st, 1, id);
  bind_text(st, 2, name);
  sqlite3_bind_int64(st, 3, price);
  sqlite3_bind_int64(st, 4, category_id);
  rc = sqlite3_step(st);
  done(st);
  if (rc != SQLITE_DONE) return fail(s, "adding a product");
  *new_id = sqlite3_last_insert_rowid(s->conn);
  return 0;
}

static int sqlite_product_update(void *self, int64_t id, const char *name, int64_t price, int64_t category_id,
                                 int active) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_product_update];
  products_forget(s);
  s->products_dirty = 1;
  bind_text(st, 1, name);
  sqlite3_bind_int64(st, 2, price);
  sqlite3_bind_int64(st, 3, category_id);
  sqlite3_bind_int(st, 4, active ? 1 : 0);
  sqlite3_bind_int64(st, 5, id);
  return run(s, ST_product_update, "updating a product");
}

/* ---- orders ------------------------------------------------------------------------------- */

/* Gapless per day: the next number is the counter + 1, written in the caller's savepoint.
 * The counter is read from the table once (per day, per external change, or after a
 * failure) and then kept in memory by this, the only writer; savepoints and rollbacks
 * restore it with the table (sqlite_rollback_to, sqlite_rollback). */
static int sqlite_invoice_next(void *self, const char *day, int64_t *seq) {
  db_sqlite *s = self;
  sqlite3_stmt *st;
  int64_t next;
  int rc;
  if (!s->txn_open || !s->ctr.known || strcmp(s->ctr.day, day) != 0) {
    memset(&s->ctr, 0, sizeof(s->ctr));
    st = s->st[ST_counter_get];
    bind_text(st, 1, day);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      s->ctr.last = sqlite3_column_int64(st, 0);
      s->ctr.row = 1;
    }
    done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(s, "reading the invoice counter");
    if (strlen(day) >= sizeof(s->ctr.day)) return KDS_EINVAL;
    memcpy(s->ctr.day, day, strlen(day) + 1);
    s->ctr.known = 1;
  }
  next = s->ctr.last + 1;
  st = s->st[s->ctr.row ? ST_counter_set : ST_counter_add];
  if (s->ctr.row) {
    sqlite3_bind_int64(st, 1, next);
    bind_text(st, 2, day);
  } else {
    bind_text(st, 1, day);
    sqlite3_bind_int64(st, 2, next);
  }
  rc = sqlite3_step(st);
  done(st);
  if (rc != SQLITE_DONE || sqlite3_changes(s->conn) != 1) {
    s->ctr.known = 0;
    return fail(s, "taking an invoice number");
  }
  s->ctr.last = next;
  s->ctr.row = 1;
  *seq = next;
  return 0;
}

/* A line's modifiers as one column: joined by U+001F, which order_validate never lets into a
 * modifier. NULL (nothing in *b) when there are none. */
static const char *modifiers_join(kds_buf *b, const order_line *l) {
  kds_buf_reset(b);
  if (l->nmodifiers == 0) return NULL;
  for (size_t m = 0; m < l->nmodifiers; m++)
    if ((m && kds_buf_addc(b, 0x1f)) || kds_buf_adds(b, l->modifiers[m])) return NULL;
  return b->base;
}

static int modifiers_split(order_line *l, const char *joined) {
  while (joined && *joined) {
    const char *end = strchr(joined, 0x1f);
    size_t n = end ? (size_t)(end - joined) : strlen(joined);
    char *m = strndup(joined, n);
    int rc = m ? order_line_add_modifier(l, m) : KDS_ENOMEM;
    free(m);
    if (rc) return rc;
    joined = end ? end + 1 : NULL;
  }
  return 0;
}

static int sqlite_order_insert(void *self, order_t *o, int64_t created_by, int64_t created_ms) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_order_add];
  int rc;
  bind_text(st, 1, o->invoice_number);
  bind_text(st, 2, o->date);
  sqlite3_bind_int64(st, 3, o->outlet_id);
  bind_text(st, 4, o->status);
  bind_text(st, 5, o->payment_method);
  bind_text(st, 6, o->note);
  sqlite3_bind_int64(st, 7, o->total_amount);
  bind_id(st, 8, created_by);
  bind_text(st, 9, o->created_at);
  bind_text(st, 10, o->updated_at);
  bind_text(st, 11, o->order_type[0] ? o->order_type : NULL);
  bind_text(st, 12, o->table);
  bind_text(st, 13, o->customer_name);
  sqlite3_bind_int(st, 14, o->rush != 0);
  bind_id(st, 15, created_ms);
  rc = sqlite3_step(st);
  done(st);
  if (rc != SQLITE_DONE) return fail(s, "adding an order");
  o->id = sqlite3_last_insert_rowid(s->conn);
  st = s->st[ST_line_add];
  for (size_t i = 0; i < o->nlines; i++) {
    const order_line *l = &o->lines[i];
    sqlite3_bind_int64(st, 1, o->id);
    sqlite3_bind_int64(st, 2, (int64_t)i + 1);
    sqlite3_bind_int64(st, 3, l->product_id);
    bind_text(st, 4, l->name);
    sqlite3_bind_int64(st, 5, l->category_id);
    bind_text(st, 6, l->category);
    sqlite3_bind_int64(st, 7, l->category_sort);
    sqlite3_bind_int64(st, 8, l->qty);
    sqlite3_bind_int64(st, 9, l->price);
    sqlite3_bind_int64(st, 10, l->subtotal);
    bind_text(st, 11, l->note);
    if (l->nmodifiers && modifiers_join(&s->s1, l) == NULL) {
      done(st);
      return KDS_ENOMEM;
    }
    bind_text(st, 12, l->nmodifiers ? s->s1.base : NULL);
    sqlite3_bind_int(st, 13, l->done != 0);
    if (run(s, ST_line_add, "adding an order line")) return KDS_EDB;
  }
  return 0;
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int i) {
  snprintf(dst, size, "%s", col_text(st, i));
}

/* Reads the order row at `st` (the columns of order_by_id) and then its lines. */
static int read_order(db_sqlite *s, sqlite3_stmt *st, order_t *o) {
  sqlite3_stmt *ls = s->st[ST_order_lines];
  int rc;
  order_release(o);
  o->id = sqlite3_column_int64(st, 0);
  copy_col(o->invoice_number, sizeof(o->invoice_number), st, 1);
  copy_col(o->date, sizeof(o->date), st, 2);
  o->outlet_id = sqlite3_column_int64(st, 3);
  copy_col(o->status, sizeof(o->status), st, 4);
  copy_col(o->payment_method, sizeof(o->payment_method), st, 5);
  if (sqlite3_column_type(st, 6) != SQLITE_NULL && order_set_note(o, col_text(st, 6))) return KDS_ENOMEM;
  o->total_amount = sqlite3_column_int64(st, 7);
  copy_col(o->created_at, sizeof(o->created_at), st, 8);
  copy_col(o->updated_at, sizeof(o->updated_at), st, 9);
  copy_col(o->order_type, sizeof(o->order_type), st, 11);
  if (sqlite3_column_type(st, 12) != SQLITE_NULL && order_str_set(&o->table, col_text(st, 12)))
    return KDS_ENOMEM;
  if (sqlite3_column_type(st, 13) != SQLITE_NULL && order_str_set(&o->customer_name, col_text(st, 13)))
    return KDS_ENOMEM;
  o->rush = sqlite3_column_int(st, 14) != 0;
  sqlite3_bind_int64(ls, 1, o->id);
  while ((rc = sqlite3_step(ls)) == SQLITE_ROW) {
    if (order_line_add(o, sqlite3_column_int64(ls, 0), col_text(ls, 1), sqlite3_column_int64(ls, 2),
                       col_text(ls, 3), sqlite3_column_int64(ls, 4), sqlite3_column_int64(ls, 5),
                       sqlite3_column_int64(ls, 6)) != 0) {
      done(ls);
      return KDS_ENOMEM;
    }
    order_line *l = &o->lines[o->nlines - 1];
    l->subtotal = sqlite3_column_int64(ls, 7);
    l->done = sqlite3_column_int(ls, 10) != 0;
    if ((sqlite3_column_type(ls, 8) != SQLITE_NULL && order_str_set(&l->note, col_text(ls, 8))) ||
        (sqlite3_column_type(ls, 9) != SQLITE_NULL && modifiers_split(l, col_text(ls, 9)))) {
      done(ls);
      return KDS_ENOMEM;
    }
  }
  done(ls);
  return rc == SQLITE_DONE ? 0 : fail(s, "reading order lines");
}

static int load_one(db_sqlite *s, int id, int live, order_t *o) {
  sqlite3_stmt *st = s->st[id];
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && live && sqlite3_column_type(st, 10) != SQLITE_NULL) rc = SQLITE_DONE; /* voided */
  if (rc == SQLITE_ROW) {
    int r = read_order(s, st, o);
    done(st);
    return r;
  }
  done(st);
  if (rc == SQLITE_DONE) return KDS_ENOTFOUND;
  return fail(s, "reading an order");
}

static int sqlite_order_by_invoice(void *self, const char *invoice, int live, order_t *o) {
  db_sqlite *s = self;
  bind_text(s->st[ST_order_by_invoice], 1, invoice);
  return load_one(s, ST_order_by_invoice, live, o);
}

static int sqlite_order_by_id(void *self, int64_t id, order_t *o) {
  db_sqlite *s = self;
  sqlite3_bind_int64(s->st[ST_order_by_id], 1, id);
  return load_one(s, ST_order_by_id, 0, o);
}

static int sqlite_order_id_of(void *self, const char *invoice, int64_t outlet_id, int64_t *id) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_order_id_of];
  int rc, other = 0;
  bind_text(st, 1, invoice);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    other = outlet_id != 0 && sqlite3_column_int64(st, 1) != outlet_id;
  }
  done(st);
  if (rc == SQLITE_DONE || other) return KDS_ENOTFOUND;
  return rc == SQLITE_ROW ? 0 : fail(s, "looking up an order");
}

static int sqlite_order_set_status(void *self, int64_t id, const char *from, const char *to, const char *at,
                                   int64_t at_ms, int *changed) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_order_set_status];
  bind_text(st, 1, to);
  bind_text(st, 2, at);
  sqlite3_bind_int64(st, 3, id);
  bind_text(st, 4, from);
  sqlite3_bind_int64(st, 5, at_ms);
  if (run(s, ST_order_set_status, "changing an order's status")) return KDS_EDB;
  *changed = sqlite3_changes(s->conn) == 1;
  return 0;
}

static int sqlite_order_void(void *self, int64_t id, const char *at, int *changed) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_order_void];
  bind_text(st, 1, at);
  sqlite3_bind_int64(st, 2, id);
  if (run(s, ST_order_void, "voiding an order")) return KDS_EDB;
  *changed = sqlite3_changes(s->conn) == 1;
  return 0;
}

static sqlite3_stmt *list_stmt(db_sqlite *s, unsigned mask) {
  kds_buf sql = KDS_BUF_INIT;
  if (s->list[mask]) return s->list[mask];
  kds_buf_adds(&sql, "SELECT " ORDER_COLUMNS " FROM orders WHERE voided_at IS NULL");
  if (mask & LIST_STATUS) kds_buf_adds(&sql, " AND status IN (?1, ?2, ?3, ?4, ?5)");
  if (mask & LIST_DATE) kds_buf_adds(&sql, " AND date = ?6");
  if (mask & LIST_OUTLET) kds_buf_adds(&sql, " AND outlet_id = ?7");
  if (mask & LIST_BEFORE) kds_buf_adds(&sql, " AND id < ?8");
  if (kds_buf_adds(&sql, " ORDER BY id DESC LIMIT ?9") == 0 &&
      sqlite3_prepare_v3(s->conn, sql.base, -1, SQLITE_PREPARE_PERSISTENT, &s->list[mask], NULL) !=
          SQLITE_OK) {
    fail(s, "preparing the order listing");
    s->list[mask] = NULL;
  }
  kds_buf_release(&sql);
  return s->list[mask];
}

static int sqlite_order_list(void *self, const db_list_query *q, int (*each)(void *ud, order_t *o),
                             void *ud) {
  db_sqlite *s = self;
  unsigned mask = (q->statuses ? LIST_STATUS : 0) | (q->date ? LIST_DATE : 0) |
                  (q->outlet_id ? LIST_OUTLET : 0) | (q->before_id ? LIST_BEFORE : 0);
  sqlite3_stmt *st = list_stmt(s, mask);
  order_t o;
  int rc, urc = 0, n = 1;
  if (st == NULL) return KDS_EDB;
  if (q->statuses) {
    for (int i = 0; i < 5; i++)
      if (q->statuses & (1u << i)) sqlite3_bind_text(st, n++, order_statuses[i], -1, SQLITE_STATIC);
    while (n <= 5) sqlite3_bind_null(st, n++); /* NULL never matches IN */
  }
  if (q->date) bind_text(st, 6, q->date);
  if (q->outlet_id) sqlite3_bind_int64(st, 7, q->outlet_id);
  if (q->before_id) sqlite3_bind_int64(st, 8, q->before_id);
  sqlite3_bind_int64(st, 9, q->limit);
  order_init(&o);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if ((urc = read_order(s, st, &o)) != 0) break;
    if ((urc = each(ud, &o)) != 0) break;
  }
  order_release(&o);
  done(st);
  if (urc) return urc;
  return rc == SQLITE_DONE ? 0 : fail(s, "listing orders");
}

/* ---- kitchen operations (SPEC 10) -------------------------------------------------------- */

static int sqlite_order_set_rush(void *self, int64_t id, int rush, const char *at) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_order_set_rush];
  sqlite3_bind_int(st, 1, rush != 0);
  bind_text(st, 2, at);
  sqlite3_bind_int64(st, 3, id);
  return run(s, ST_order_set_rush, "changing an order's rush");
}

static int sqlite_line_set_done(void *self, int64_t id, int64_t n, int is_done, const char *at) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_line_set_done];
  sqlite3_bind_int(st, 1, is_done != 0);
  sqlite3_bind_int64(st, 2, id);
  sqlite3_bind_int64(st, 3, n);
  if (run(s, ST_line_set_done, "marking an order line")) return KDS_EDB;
  st = s->st[ST_order_touch];
  bind_text(st, 1, at);
  sqlite3_bind_int64(st, 2, id);
  return run(s, ST_order_touch, "marking an order line");
}

static int sqlite_history_add(void *self, int64_t order_id, int64_t user_id, const char *from, const char *to,
                              int64_t at_ms) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_history_add];
  sqlite3_bind_int64(st, 1, order_id);
  sqlite3_bind_int64(st, 2, at_ms);
  bind_id(st, 3, user_id);
  bind_text(st, 4, from);
  bind_text(st, 5, to);
  return run(s, ST_history_add, "keeping an order's history");
}

/* Steps `st` (first column an order id, second a time) to the end, collecting at most `max`
 * rows: callers load and change orders only after the scan is over. */
static int collect_ids(db_sqlite *s, sqlite3_stmt *st, int64_t *ids, int64_t *times, size_t max, size_t *n,
                       const char *what) {
  int rc;
  *n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
    ids[*n] = sqlite3_column_int64(st, 0);
    if (times) times[*n] = sqlite3_column_int64(st, 1);
    (*n)++;
  }
  done(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(s, what);
}

static int sqlite_recall_list(void *self, int64_t outlet_id, int64_t since_ms, int64_t limit,
                              int (*each)(void *ud, order_t *o, int64_t bumped_ms), void *ud) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_recall_list];
  int64_t ids[64], times[64];
  size_t n;
  order_t o;
  int rc;
  if (limit > 64) limit = 64;
  sqlite3_bind_int64(st, 1, since_ms);
  sqlite3_bind_int64(st, 2, outlet_id);
  sqlite3_bind_int64(st, 3, limit);
  if ((rc = collect_ids(s, st, ids, times, (size_t)limit, &n, "listing the recall list")) != 0) return rc;
  order_init(&o);
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = sqlite_order_by_id(s, ids[i], &o);
    if (rc == 0) rc = each(ud, &o, times[i]);
  }
  order_release(&o);
  return rc;
}

static int sqlite_ready_due(void *self, int64_t before_ms, int64_t *ids, size_t max, size_t *n) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_ready_due];
  sqlite3_bind_int64(st, 1, before_ms);
  sqlite3_bind_int64(st, 2, (int64_t)max);
  return collect_ids(s, st, ids, NULL, max, n, "finding ready orders to complete");
}

static int sqlite_stats_orders(void *self, const char *date, int64_t outlet_id,
                               int (*each)(void *ud, const db_stat_order *so), void *ud) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_stats_orders];
  int rc, urc = 0;
  bind_text(st, 1, date);
  sqlite3_bind_int64(st, 2, outlet_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    db_stat_order so = {col_text(st, 0),
                        col_text(st, 1),
                        col_text(st, 2),
                        sqlite3_column_int64(st, 3),
                        sqlite3_column_int64(st, 4),
                        sqlite3_column_int64(st, 5)};
    if ((urc = each(ud, &so)) != 0) break;
  }
  done(st);
  if (urc) return urc;
  return rc == SQLITE_DONE ? 0 : fail(s, "reading the day's orders");
}

static int sqlite_stats_categories(void *self, const char *date, int64_t outlet_id,
                                   int (*each)(void *ud, const db_stat_category *c), void *ud) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_stats_categories];
  int rc, urc = 0;
  bind_text(st, 1, date);
  sqlite3_bind_int64(st, 2, outlet_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    db_stat_category c = {col_text(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)};
    if ((urc = each(ud, &c)) != 0) break;
  }
  done(st);
  if (urc) return urc;
  return rc == SQLITE_DONE ? 0 : fail(s, "reading the day's categories");
}

/* ---- idempotency keys -------------------------------------------------------------------- */

static int sqlite_idem_find(void *self, int64_t user_id, const char *key, int64_t since_ms,
                            const char **request_hash, int64_t *order_id) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_idem_find];
  int rc;
  sqlite3_bind_int64(st, 1, user_id);
  bind_text(st, 2, key);
  sqlite3_bind_int64(st, 3, since_ms);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    if (keep(&s->s1, col_text(st, 0))) rc = SQLITE_NOMEM;
    *request_hash = s->s1.base;
    *order_id = sqlite3_column_int64(st, 1);
  }
  done(st);
  if (rc == SQLITE_DONE) return KDS_ENOTFOUND;
  return rc == SQLITE_ROW ? 0 : fail(s, "looking up an idempotency key");
}

static int sqlite_idem_put(void *self, int64_t user_id, const char *key, const char *request_hash,
                           int64_t order_id, int64_t at_ms) {
  db_sqlite *s = self;
  sqlite3_stmt *st = s->st[ST_idem_put];
  sqlite3_bind_int64(st, 1, user_id);
  bind_text(st, 2, key);
  bind_text(st, 3, request_hash);
  sqlite3_bind_int64(st, 4, order_id);
  sqlite3_bind_int64(st, 5, at_ms);
  return run(s, ST_idem_put, "storing an idempotency key");
}

static int sqlite_idem_purge(void *self, int64_t before_ms, int64_t *purged) {
  db_sqlite *s = self;
  sqlite3_bind_int64(s->st[ST_idem_purge], 1, before_ms);
  if (run(s, ST_idem_purge, "purging idempotency keys")) return KDS_EDB;
  *purged = sqlite3_changes(s->conn);
  return 0;
}

const db_store_ops db_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .check = sqlite_check,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .in_transaction = sqlite_in_transaction,
    .savepoint = sqlite_savepoint,
    .release = sqlite_release,
    .rollback_to = sqlite_rollback_to,
    .user_add = sqlite_user_add,
    .user_by_name = sqlite_user_by_name,
    .token_add = sqlite_token_add,
    .token_user = sqlite_token_user,
    .token_revoke = sqlite_token_revoke,
    .menu_empty = sqlite_menu_empty,
    .category_list = sqlite_category_list,
    .category_by_id = sqlite_category_by_id,
    .category_by_name = sqlite_category_by_name,
    .category_add = sqlite_category_add,
    .product_list = sqlite_product_list,
    .product_by_id = sqlite_product_by_id,
    .product_add = sqlite_product_add,
    .product_update = sqlite_product_update,
    .invoice_next = sqlite_invoice_next,
    .order_insert = sqlite_order_insert,
    .order_by_invoice = sqlite_order_by_invoice,
    .order_by_id = sqlite_order_by_id,
    .order_id_of = sqlite_order_id_of,
    .order_set_status = sqlite_order_set_status,
    .order_void = sqlite_order_void,
    .order_list = sqlite_order_list,
    .order_set_rush = sqlite_order_set_rush,
    .line_set_done = sqlite_line_set_done,
    .history_add = sqlite_history_add,
    .recall_list = sqlite_recall_list,
    .ready_due = sqlite_ready_due,
    .stats_orders = sqlite_stats_orders,
    .stats_categories = sqlite_stats_categories,
    .idem_find = sqlite_idem_find,
    .idem_put = sqlite_idem_put,
    .idem_purge = sqlite_idem_purge,
};
