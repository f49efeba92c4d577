/* db_backup.c: the online backup of a SQLite store, in short steps (see db_backup.h). */
#include "db_backup.h"

#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define BACKUP_STEP_PAGES 256 /* 1 MiB at 4 KiB pages: a step holds the read lock ~1 ms */
#define BACKUP_PAUSE_MS 5     /* between steps, so that writers are never held up for long */
#define BACKUP_MAX_RESTARTS 8 /* then one last attempt in a single step */

static int fail(char *err, size_t errlen, int rc, const char *what, sqlite3 *db) {
  snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
  return rc;
}

/* One backup pass from src into dst: in steps (`pages` each, -1 = all at once). Returns 0 when
 * the copy is complete, 1 when too many writes made it restart, or a negative error. */
static int backup_pass(sqlite3 *dst, sqlite3 *src, int pages, db_backup_stats *st, char *err, size_t errlen) {
  sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
  int rc, last_remaining = -1;
  if (b == NULL) return fail(err, errlen, KDS_EDB, "backup", dst);
  for (;;) {
    rc = sqlite3_backup_step(b, pages);
    st->steps++;
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    /* The source changed under a stepped copy: it starts over (remaining grows back). */
    if (last_remaining >= 0 && sqlite3_backup_remaining(b) > last_remaining &&
        ++st->restarts > BACKUP_MAX_RESTARTS) {
      sqlite3_backup_finish(b);
      return 1;
    }
    last_remaining = sqlite3_backup_remaining(b);
    sqlite3_sleep(BACKUP_PAUSE_MS);
  }
  st->pages = sqlite3_backup_pagecount(b);
  if (sqlite3_backup_finish(b) != SQLITE_OK || rc != SQLITE_DONE) {
    snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc == SQLITE_DONE ? sqlite3_errcode(dst) : rc));
    return KDS_EDB;
  }
  return 0;
}

/* Runs one statement that must succeed; for quick_check, the single row must say "ok". */
static int exec_check(sqlite3 *db, const char *sql, const char *want, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && want && strcmp((const char *)sqlite3_column_text(st, 0), want) != 0) {
    snprintf(err, errlen, "%s: %s", sql, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return KDS_EDB;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(err, errlen, KDS_EDB, sql, db);
  return 0;
}

/* fsync of the folder holding `path`, so that the rename is durable. */
static void sync_dir_of(const char *path) {
  char *copy = strdup(path);
  int fd;
  if (copy == NULL) return;
  if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) >= 0) {
    fsync(fd);
    close(fd);
  }
  free(copy);
}

/* 1 when `dest` is the store itself or one of its companions (-wal, -shm, -journal), under
 * any spelling (a symlink, "dir/../kds.db", a hard link): the rename would put the copy in
 * place of the live file, and every write after it would go to the unlinked old one. */
static int dest_is_store(const char *src_path, const char *dest) {
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  struct stat d, s;
  char path[4096];
  if (stat(dest, &d) != 0) return 0;
  for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
    if (snprintf(path, sizeof(path), "%s%s", src_path, suffix[i]) >= (int)sizeof(path)) continue;
    if (stat(path, &s) == 0 && s.st_dev == d.st_dev && s.st_ino == d.st_ino) return 1;
  }
  return 0;
}

int db_backup_sqlite(const char *src_path, const char *dest, db_backup_stats *st_out, char *err,
                     size_t errlen) {
  db_backup_stats st = {0, 0, 0};
  sqlite3 *src = NULL, *dst = NULL;
  char tmp[4096];
  int rc;
  err[0] = '\0';
  if (strncmp(src_path, "sqlite:", 7) == 0) src_path += 7;
  if (dest[0] == '\0' || snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp)) {
    snprintf(err, errlen, "backup: a bad destination path");
    return KDS_EINVAL;
  }
  if (access(src_path, R_OK) != 0) {
    snprintf(err, errlen, "backup: cannot read %s", src_path);
    return KDS_EINVAL;
  }
  if (dest_is_store(src_path, dest)) {
    snprintf(err, errlen, "backup: %s is the database itself (or its -wal, -shm, -journal)", dest);
    return KDS_EINVAL;
  }
  if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    rc = fail(err, errlen, KDS_EDB, src_path, src);
    goto out;
  }
  sqlite3_busy_timeout(src, 5000);
  unlink(tmp);
  if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    rc = fail(err, errlen, KDS_EDB, tmp, dst);
    goto out;
  }
  if ((rc = backup_pass(dst, src, BACKUP_STEP_PAGES, &st, err, errlen)) == 1)
    rc = backup_pass(dst, src, -1, &st, err, errlen);
  if (rc != 0) goto out;
  /* A self-contained copy: one file, no -wal beside it, durable before the rename. */
  if ((rc = exec_check(dst, "PRAGMA journal_mode = DELETE", "delete", err, errlen)) != 0 ||
      (rc = exec_check(dst, "PRAGMA quick_check", "ok", err, errlen)) != 0)
    goto out;
  if (sqlite3_close(dst) != SQLITE_OK) {
    rc = fail(err, errlen, KDS_EDB, tmp, dst);
    goto out;
  }
  dst = NULL;
  if (rename(tmp, dest) != 0) {
    snprintf(err, errlen, "backup: cannot rename %s to %s", tmp, dest);
    rc = KDS_EDB;
    goto out;
  }
  sync_dir_of(dest);
out:
  if (dst) {
    sqlite3_close(dst);
    unlink(tmp);
  } else if (rc != 0) {
    unlink(tmp);
  }
  sqlite3_close(src);
  if (st_out) *st_out = st;
  return rc;
}
