/* db_backup.h: `kds-server --db F backup DEST`, a consistent copy of a live SQLite store
 * through SQLite's online backup API (SPEC 12). PostgreSQL stores are backed up with pg_dump. */
#ifndef KDS_DB_BACKUP_H
#define KDS_DB_BACKUP_H

#include <stddef.h>

typedef struct db_backup_stats {
  int pages;    /* pages in the copy */
  int steps;    /* backup steps taken (each holds the source's read lock briefly) */
  int restarts; /* times a write to the source made the copy start over */
} db_backup_stats;

/* Copies the SQLite database `src` (which must exist; it is opened read-only, so run this as
 * the user that owns it) to `dest`, while other processes may be writing to it: the copy is one
 * consistent snapshot (every committed order or none of a transaction). It is made in steps of
 * a few hundred pages with short pauses between them, written to "DEST.tmp", turned into a
 * single self-contained file (rollback journal, no -wal), checked (PRAGMA quick_check), synced
 * and renamed over `dest`: a failed backup never leaves a half copy at DEST. When writes keep
 * restarting the stepped copy, the last attempt copies in one step (in WAL mode that blocks no
 * writer). Fills `st` (may be NULL). Returns 0, or KDS_EINVAL (a bad path, no such source, a DEST that is the
 * store itself or its -wal/-shm/-journal),
 * KDS_EDB (an SQLite or file error), each with a reason in `err`. */
int db_backup_sqlite(const char *src, const char *dest, db_backup_stats *st, char *err, size_t errlen);

#endif
