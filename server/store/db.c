/* db.c: the DB thread: the queue, group commit (one transaction per batch, one savepoint
 * per request), the store check before writes, the idempotency-key purge, and replies
 * through an eventfd in commit order. What each request does is db_rules.c's. */
#include "db.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include "db_rules.h"
#include "db_store.h"
#include "log.h"
#include "order.h"
#include "server.h"

#define DB_QUEUE_MAX 16384 /* requests waiting for the DB thread */
#define DB_BATCH_MAX 1024  /* requests per transaction */
#define PURGE_EVERY_MS (3600 * 1000LL)
#define DB_TRIM_THRESHOLD (512 * 1024) /* bytes of free heap top malloc may keep */

typedef struct db db;

struct db {
  uv_loop_t *loop;
  struct server *srv; /* NULL in tests */
  const db_store_ops *ops;
  void *store;
  /* Results ready: the DB thread writes wake_fd, the loop polls it. Not uv_async: with
   * both threads on one core (the server pinned), the loop woke inside uv_async_send and
   * spun (~1000 PAUSEs, then sched_yield) until the DB thread finished the call; measured
   * at concurrency 1: ~3 yields per order, a visible share of the reply's latency. */
  uv_poll_t wake;
  int wake_fd;
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cv;

  /* guarded by mu */
  kds_list queue;
  kds_list done;
  size_t queued;
  int stopping;
  int exited;
  int notified; /* wake_fd written, not yet drained by the loop */
  uint64_t batches;
  uint64_t batched;
  char broken[256]; /* why the store can no longer be trusted with writes; "" while it can */

  /* loop thread */
  size_t pending; /* submitted, callback not yet run */
  int closing;
  int joined;
  void (*close_cb)(void *ud);
  void *close_ud;

  /* DB thread */
  int64_t last_purge;
  int64_t (*now)(void); /* order_now_ms; tests move days with db_set_clock */
};

/* ---- requests ------------------------------------------------------------------------------ */

db_req *db_req_new(db_op op, db_cb cb, void *ud) {
  db_req *req = calloc(1, sizeof(*req));
  if (req == NULL) return NULL;
  kds_list_init(&req->node);
  req->op = op;
  req->cb = cb;
  req->ud = ud;
  return req;
}

void db_req_free(db_req *req) {
  if (req == NULL) return;
  switch (req->op) {
    case DB_USER_BY_NAME:
      free(req->in.user_by_name.name);
      break;
    case DB_CATEGORY_ADD:
    case DB_PRODUCT_ADD:
      cJSON_Delete(req->in.menu_add.body);
      break;
    case DB_PRODUCT_UPDATE:
      free(req->in.product_update.id_text);
      cJSON_Delete(req->in.product_update.body);
      break;
    case DB_ORDER_CREATE:
      cJSON_Delete(req->in.order_create.body);
      free(req->in.order_create.key);
      break;
    case DB_ORDER_STATUS:
      free(req->in.order_status.invoice);
      free(req->in.order_status.action_id);
      break;
    case DB_ORDER_VOID:
    case DB_ORDER_GET:
      free(req->in.order.invoice);
      break;
    case DB_ORDER_LIST:
      free(req->in.order_list.before);
      break;
    case DB_ORDER_PRIORITY:
      free(req->in.order_priority.invoice);
      break;
    case DB_ORDER_LINE:
      free(req->in.order_line.invoice);
      free(req->in.order_line.action_id);
      break;
    default: /* nothing owned */
      break;
  }
  kds_buf_release(&req->json);
  free(req->items);
  free(req);
}

/* Resets a request's results (a commit failed after it ran) and marks it failed. */
static void req_fail(db_req *req, int rc) {
  kds_buf_reset(&req->json);
  kds_err_clear(&req->err);
  req->replayed = 0;
  req->changed = 0;
  req->nitems = 0;
  req->rc = rc;
}

/* ---- the DB thread ------------------------------------------------------------------------- */

static void purge_keys(db *d, int64_t now) {
  int64_t n = 0;
  if (d->ops->savepoint(d->store) != 0) return;
  if (d->ops->idem_purge(d->store, now - DB_IDEMPOTENCY_TTL_MS, &n) == 0) {
    d->ops->release(d->store);
    if (n) log_info("database: %" PRId64 " expired idempotency keys purged", n);
  } else {
    d->ops->rollback_to(d->store);
  }
  d->last_purge = now;
}

/* Marks every write of the batch up to and including `upto` as failed: the transaction
 * they were in is gone. */
static void fail_writes(kds_list *batch, db_req *upto) {
  for (kds_list *n = batch->next; n != batch; n = n->next) {
    db_req *r = kds_container_of(n, db_req, node);
    if (db_rules_is_write(r->op) && r->rc == 0) req_fail(r, KDS_EDB);
    if (r == upto) break;
  }
}

/* 1 when the store still is the one opened. Once it is not (its files deleted or replaced
 * under us), it stays refused until a restart: a write acknowledged then would be lost. */
static int store_trusted(db *d) {
  char why[sizeof(d->broken)] = "";
  int first;
  uv_mutex_lock(&d->mu);
  first = d->broken[0] == '\0';
  uv_mutex_unlock(&d->mu);
  if (!first) return 0;
  if (d->ops->check == NULL || d->ops->check(d->store, why, sizeof(why)) == 0) return 1;
  log_error(
      "database: %s; refusing every write until the server is restarted (restore the file "
      "from a backup first: a restart would otherwise start an empty database)",
      why);
  uv_mutex_lock(&d->mu);
  snprintf(d->broken, sizeof(d->broken), "%s", why);
  uv_mutex_unlock(&d->mu);
  return 0;
}

static void fail_untrusted(kds_list *batch) {
  for (kds_list *n = batch->next; n != batch; n = n->next) {
    db_req *r = kds_container_of(n, db_req, node);
    if (!db_rules_is_write(r->op)) continue;
    req_fail(r, KDS_EREQUEST);
    kds_err_set(&r->err, 503, "storage_unavailable", NULL,
                "the order store is unavailable (its database file is gone); nothing was saved");
  }
}

/* One batch: every write in one transaction, one savepoint per request; reads inside it.
 * A request that fails rolls back to its savepoint; the others commit together. */
static void run_batch(db *d, kds_list *batch) {
  int writes = 0, in_txn = 0;
  int64_t now = d->now();
  for (kds_list *n = batch->next; n != batch; n = n->next)
    if (db_rules_is_write(kds_container_of(n, db_req, node)->op)) writes = 1;

  if (writes && !store_trusted(d)) {
    fail_untrusted(batch);
    writes = 0;
  }
  if (writes) in_txn = d->ops->begin(d->store) == 0;
  if (in_txn && now - d->last_purge > PURGE_EVERY_MS) purge_keys(d, now);

  for (kds_list *n = batch->next; n != batch; n = n->next) {
    db_req *r = kds_container_of(n, db_req, node);
    if (!db_rules_is_write(r->op)) {
      db_rules_exec(d->ops, d->store, r, d->now());
      continue;
    }
    if (!writes) continue; /* failed by fail_untrusted */
    if (!in_txn || d->ops->savepoint(d->store) != 0) {
      req_fail(r, KDS_EDB);
      continue;
    }
    db_rules_exec(d->ops, d->store, r, d->now());
    if (r->rc != 0 ? d->ops->rollback_to(d->store) != 0 : d->ops->release(d->store) != 0) {
      if (r->rc == 0) req_fail(r, KDS_EDB);
    }
    if (!d->ops->in_transaction(d->store)) {
      /* the backend rolled the whole transaction back (I/O error, disk full): every
       * write so far is undone; start over for the rest */
      log_error("database: the transaction was rolled back; failing %s", "the batch's writes so far");
      fail_writes(batch, r);
      in_txn = d->ops->begin(d->store) == 0;
    }
  }
  if (in_txn && d->ops->commit(d->store) != 0) {
    d->ops->rollback(d->store);
    fail_writes(batch, NULL);
  }
}

/* DB thread: one eventfd write per batch at most (`notified` coalesces them until the loop
 * drains). EAGAIN cannot lose a wakeup: the counter is non-zero, so the loop will run. */
static void wake_loop(db *d) {
  uint64_t one = 1;
  ssize_t n;
  do {
    n = write(d->wake_fd, &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
}

static void db_thread(void *arg) {
  db *d = arg;
  kds_list batch;
  int wake;
  kds_list_init(&batch);
  for (;;) {
    size_t n = 0;
    uv_mutex_lock(&d->mu);
    while (kds_list_empty(&d->queue) && !d->stopping) uv_cond_wait(&d->cv, &d->mu);
    if (kds_list_empty(&d->queue)) { /* stopping, and everything queued is done */
      uv_mutex_unlock(&d->mu);
      break;
    }
    while (!kds_list_empty(&d->queue) && n < DB_BATCH_MAX) {
      kds_list *node = d->queue.next;
      kds_list_remove(node);
      kds_list_push(&batch, node);
      n++;
    }
    d->queued -= n;
    uv_mutex_unlock(&d->mu);

    run_batch(d, &batch);

    uv_mutex_lock(&d->mu);
    kds_list_splice(&d->done, &batch);
    d->batches++;
    d->batched += n;
    wake = !d->notified;
    d->notified = 1;
    uv_mutex_unlock(&d->mu);
    if (wake) wake_loop(d);
  }
  uv_mutex_lock(&d->mu);
  d->exited = 1;
  wake = !d->notified;
  d->notified = 1;
  uv_mutex_unlock(&d->mu);
  if (wake) wake_loop(d);
}

/* ---- the loop side ------------------------------------------------------------------------ */

static void on_wake_closed(uv_handle_t *h) {
  db *d = h->data;
  void (*cb)(void *) = d->close_cb;
  void *ud = d->close_ud;
  if (d->srv && d->srv->db == d) d->srv->db = NULL;
  close(d->wake_fd);
  uv_mutex_destroy(&d->mu);
  uv_cond_destroy(&d->cv);
  free(d);
  if (cb) cb(ud);
}

static void on_wake(uv_poll_t *h, int status, int events) {
  db *d = h->data;
  kds_list ready;
  uint64_t count;
  int exited;
  (void)status; /* an error on an eventfd cannot happen; draining the list is right anyway */
  (void)events;
  kds_list_init(&ready);
  /* drain first, then take the list: a batch added after the splice writes again */
  if (read(d->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN) log_warn("database: wake read failed");
  uv_mutex_lock(&d->mu);
  kds_list_splice(&ready, &d->done);
  d->notified = 0;
  exited = d->exited;
  uv_mutex_unlock(&d->mu);

  while (!kds_list_empty(&ready)) {
    db_req *r = kds_container_of(ready.next, db_req, node);
    kds_list_remove(&r->node);
    d->pending--;
    if (r->cb) r->cb(r);
    db_req_free(r);
  }
  if (d->pending == 0 && !d->closing) uv_unref((uv_handle_t *)&d->wake);

  if (exited && !d->joined) {
    d->joined = 1;
    uv_thread_join(&d->thread);
    d->ops->close(d->store);
    d->store = NULL;
    uv_close((uv_handle_t *)&d->wake, on_wake_closed);
  }
}

int db_submit(db *d, db_req *req) {
  int rc = 0;
  if (d == NULL || d->closing) {
    db_req_free(req);
    return KDS_ECLOSED;
  }
  uv_mutex_lock(&d->mu);
  if (d->queued >= DB_QUEUE_MAX) {
    rc = KDS_EFULL;
  } else {
    kds_list_push(&d->queue, &req->node);
    d->queued++;
  }
  uv_mutex_unlock(&d->mu);
  /* after the unlock: the DB thread wakes to a free mutex instead of blocking on ours */
  if (rc == 0) uv_cond_signal(&d->cv);
  if (rc) {
    log_warn("database: queue full (%d requests); refusing a request", DB_QUEUE_MAX);
    db_req_free(req);
    return rc;
  }
  /* the loop stays alive while the DB thread owes answers */
  if (d->pending++ == 0) uv_ref((uv_handle_t *)&d->wake);
  return 0;
}

static int db_create(uv_loop_t *loop, struct server *srv, const char *path, int demo, db **out) {
  char err[512] = "";
  db *d = calloc(1, sizeof(*d));
  int rc, loaded = 0;
  if (d == NULL) return KDS_ENOMEM;
#ifdef __GLIBC__
  /* SQLite allocates and frees ~150 KB per order (the savepoint's in-memory statement
   * journal chunk, RETURNING's ephemeral table cache). At glibc's default 128 KB trim
   * threshold the DB thread's arena gave that back with madvise() after every order and
   * faulted it in again: a TLB flush each time, more CPU than the order itself. Keep up
   * to 512 KiB of free heap top instead (bounded: idle memory barely moves). */
  mallopt(M_TRIM_THRESHOLD, DB_TRIM_THRESHOLD);
#endif
  d->loop = loop;
  d->srv = srv;
  d->ops = &db_sqlite_ops;
  d->now = order_now_ms;
  kds_list_init(&d->queue);
  kds_list_init(&d->done);
  if ((rc = d->ops->open(path, &d->store, err, sizeof(err))) != 0) {
    log_error("database: %s", err);
    free(d);
    return rc;
  }
  if (demo) {
    if ((rc = db_store_seed_demo(d->ops, d->store, &loaded)) != 0) {
      log_error("database: cannot load the demo menu into %s", path);
      goto fail_store;
    }
    if (loaded) log_info("demo menu loaded");
  }
  /* expired idempotency keys from earlier runs */
  if ((rc = d->ops->begin(d->store)) == 0) {
    purge_keys(d, order_now_ms());
    if ((rc = d->ops->commit(d->store)) != 0) d->ops->rollback(d->store);
  }
  if (rc) goto fail_store;
  if ((rc = uv_mutex_init(&d->mu)) != 0) goto fail_store;
  if ((rc = uv_cond_init(&d->cv)) != 0) goto fail_mutex;
  if ((d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
    rc = uv_translate_sys_error(errno);
    goto fail_cond;
  }
  if ((rc = uv_poll_init(loop, &d->wake, d->wake_fd)) != 0) {
    close(d->wake_fd);
    goto fail_cond;
  }
  d->wake.data = d;
  if ((rc = uv_poll_start(&d->wake, UV_READABLE, on_wake)) != 0) {
    d->joined = 1;
    d->closing = 1;
    uv_close((uv_handle_t *)&d->wake, on_wake_closed); /* frees d; the store first */
    d->ops->close(d->store);
    return rc;
  }
  uv_unref((uv_handle_t *)&d->wake);
  if ((rc = uv_thread_create(&d->thread, db_thread, d)) != 0) {
    log_error("database: cannot start the DB thread: %s", uv_strerror(rc));
    d->joined = 1;
    d->closing = 1;
    uv_close((uv_handle_t *)&d->wake, on_wake_closed); /* frees d; the store first */
    d->ops->close(d->store);
    return rc;
  }
  log_info("database: %s open (%s, WAL, synchronous=FULL, group commit)", path, d->ops->name);
  *out = d;
  return 0;
fail_cond:
  uv_cond_destroy(&d->cv);
fail_mutex:
  uv_mutex_destroy(&d->mu);
fail_store:
  d->ops->close(d->store);
  free(d);
  return rc;
}

int db_new(uv_loop_t *loop, const char *path, int demo, db **out) {
  return db_create(loop, NULL, path, demo, out);
}

int db_open(struct server *srv) {
  db *d = NULL;
  int rc = db_create(srv->loop, srv, srv->cfg.db_path, srv->cfg.demo, &d);
  if (rc == 0) srv->db = d;
  return rc;
}

void db_close(db *d, void (*cb)(void *ud), void *ud) {
  if (d == NULL || d->closing) return;
  d->closing = 1;
  d->close_cb = cb;
  d->close_ud = ud;
  uv_ref((uv_handle_t *)&d->wake);
  uv_mutex_lock(&d->mu);
  d->stopping = 1;
  uv_cond_signal(&d->cv);
  uv_mutex_unlock(&d->mu);
}

void db_set_clock(db *d, int64_t (*now_ms)(void)) {
  d->now = now_ms ? now_ms : order_now_ms;
}

size_t db_pending(const db *d) {
  return d ? d->pending : 0;
}

int db_health(const db *d, char *why, size_t size) {
  int ok;
  if (d == NULL) {
    snprintf(why, size, "the database is closed");
    return KDS_ECLOSED;
  }
  uv_mutex_lock((uv_mutex_t *)&d->mu);
  ok = d->broken[0] == '\0';
  snprintf(why, size, "%s", d->broken);
  uv_mutex_unlock((uv_mutex_t *)&d->mu);
  return ok ? 0 : KDS_EDB;
}

void db_stats(const db *d, uint64_t *batches, uint64_t *requests) {
  uv_mutex_lock((uv_mutex_t *)&d->mu);
  *batches = d->batches;
  *requests = d->batched;
  uv_mutex_unlock((uv_mutex_t *)&d->mu);
}
