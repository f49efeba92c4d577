/* db_rules.h: the store's rules, run on the DB thread inside the batch's transaction (in
 * the request's own savepoint for a write). They reach the data only through a
 * db_store_ops table, so a second backend (SPEC 9: PostgreSQL) reuses them unchanged. */
#ifndef KDS_DB_RULES_H
#define KDS_DB_RULES_H

#include <stdint.h>

#include "db.h"
#include "db_store.h"

/* Idempotency keys are honoured for a day (SPEC 11.8); db.c purges older ones. */
#define DB_IDEMPOTENCY_TTL_MS (24 * 3600 * 1000LL)

/* 1 for the ops that write (they run in a savepoint and count as the batch's writes). */
int db_rules_is_write(db_op op);

/* Runs `r` against the store at `now` (epoch ms): sets r->rc (0, KDS_EREQUEST with r->err
 * filled for a user error, or a store/KDS_ENOMEM code) and, on success, r->json and the
 * op's other outputs. r->json is empty when it fails. */
void db_rules_exec(const db_store_ops *ops, void *store, db_req *r, int64_t now);

#endif
