/* cli.c: the useradd and token subcommands, on the store used synchronously. */
#include "cli.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "db_backup.h"
#include "db_store.h"
#include "log.h"
#include "order.h"

#define PASSWORD_MAX 1024

static int open_store(const kds_config *cfg, void **store) {
  char err[512];
  if (db_sqlite_ops.open(cfg->db_path, store, err, sizeof(err)) != 0) {
    fprintf(stderr, "kds-server: database: %s\n", err);
    return 1;
  }
  return 0;
}

int cli_useradd(const kds_config *cfg) {
  char password[PASSWORD_MAX + 2], hash[AUTH_PASSWORD_HASH_SIZE], now[ORDER_TIME_SIZE];
  void *store = NULL;
  size_t n;
  int64_t id = 0;
  int rc;
  if (!cfg->command_arg[0]) {
    fprintf(stderr, "kds-server: useradd needs a user name\n");
    return 2;
  }
  if (strlen(cfg->command_arg) >= sizeof(((kds_user *)0)->username)) {
    fprintf(stderr, "kds-server: a user name has at most %zu bytes\n", sizeof(((kds_user *)0)->username) - 1);
    return 2;
  }
  if (!order_role_valid(cfg->role)) {
    fprintf(stderr, "kds-server: useradd needs --role admin|cashier|kitchen|display\n");
    return 2;
  }
  if (fgets(password, sizeof(password), stdin) == NULL) password[0] = '\0';
  n = strcspn(password, "\r\n");
  if (n > PASSWORD_MAX) {
    fprintf(stderr, "kds-server: the password is longer than %d bytes\n", PASSWORD_MAX);
    return 1;
  }
  password[n] = '\0';
  if (n == 0) {
    fprintf(stderr, "kds-server: the password (first line of standard input) is empty\n");
    return 1;
  }
  rc = auth_password_hash(password, hash);
  OPENSSL_cleanse(password, sizeof(password));
  if (rc != 0) {
    fprintf(stderr, "kds-server: cannot hash the password: %s\n", kds_strerror(rc));
    return 1;
  }
  if (open_store(cfg, &store) != 0) return 1;
  order_local_iso(order_now_ms(), now);
  rc = db_sqlite_ops.user_add(store, cfg->command_arg, hash, cfg->role, cfg->outlet, now, &id);
  db_sqlite_ops.close(store);
  if (rc == KDS_ESTATE) {
    fprintf(stderr, "kds-server: user \"%s\" already exists\n", cfg->command_arg);
    return 1;
  }
  if (rc != 0) {
    fprintf(stderr, "kds-server: cannot add user \"%s\": %s\n", cfg->command_arg, kds_strerror(rc));
    return 1;
  }
  if (cfg->outlet)
    printf("user %s (id %lld, %s, outlet %lld) created\n", cfg->command_arg, (long long)id, cfg->role,
           (long long)cfg->outlet);
  else
    printf("user %s (id %lld, %s) created\n", cfg->command_arg, (long long)id, cfg->role);
  fflush(stdout);
  return 0;
}

int cli_token(const kds_config *cfg) {
  char token[AUTH_TOKEN_SIZE], hash[AUTH_HASH_SIZE], now[ORDER_TIME_SIZE];
  const char *stored;
  void *store = NULL;
  kds_user u;
  int64_t expires = 0, at = order_now_ms();
  int rc;
  if (!cfg->command_arg[0]) {
    fprintf(stderr, "kds-server: token needs a user name\n");
    return 2;
  }
  if (open_store(cfg, &store) != 0) return 1;
  rc = db_sqlite_ops.user_by_name(store, cfg->command_arg, &u, &stored);
  if (rc == KDS_ENOTFOUND) {
    db_sqlite_ops.close(store);
    fprintf(stderr, "kds-server: no user \"%s\"\n", cfg->command_arg);
    return 1;
  }
  if (rc == 0) rc = auth_token_new(token, hash);
  if (rc == 0) {
    order_local_iso(at, now);
    if (cfg->ttl_days > 0) expires = at + cfg->ttl_days * 86400000LL;
    rc = db_sqlite_ops.token_add(store, hash, u.id, "device", now, expires);
  }
  db_sqlite_ops.close(store);
  if (rc != 0) {
    fprintf(stderr, "kds-server: cannot issue a token for \"%s\": %s\n", cfg->command_arg, kds_strerror(rc));
    return 1;
  }
  printf("%s\n", token);
  fflush(stdout);
  OPENSSL_cleanse(token, sizeof(token));
  return 0;
}

int cli_backup(const kds_config *cfg) {
  db_backup_stats st;
  char err[512];
  int rc;
  if (!cfg->command_arg[0]) {
    fprintf(stderr, "kds-server: backup needs a destination file\n");
    return 2;
  }
  if (strncmp(cfg->db_path, "postgres", 8) == 0) {
    fprintf(stderr, "kds-server: backup copies SQLite stores; back PostgreSQL up with pg_dump\n");
    return 2;
  }
  rc = db_backup_sqlite(cfg->db_path, cfg->command_arg, &st, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "kds-server: %s\n", err);
    return 1;
  }
  printf("backup: %s -> %s (%d pages, %d steps, %d restarts)\n", cfg->db_path, cfg->command_arg, st.pages,
         st.steps, st.restarts);
  fflush(stdout);
  return 0;
}
