/* cli.h: kds-server's subcommands, run before (instead of) the server: `useradd`,
 * `token` and `backup`. They open the database synchronously (migrations applied) and exit. */
#ifndef KDS_CLI_H
#define KDS_CLI_H

#include "config.h"

/* `kds-server --db F useradd NAME --role R [--outlet ID]`: the password is the first line of
 * standard input (a trailing CR/LF removed), hashed with scrypt. Prints
 * `user NAME (id N, ROLE[, outlet ID]) created`. Returns the process exit code: 0, 1 (empty
 * password, the user exists, database error), 2 (usage). */
int cli_useradd(const kds_config *cfg);

/* `kds-server --db F token NAME [--ttl DAYS]`: issues a device token for NAME (never expires
 * unless --ttl) and prints it alone on the last line of standard output. Returns the exit
 * code: 0, 1 (no such user, database error), 2 (usage). */
int cli_token(const kds_config *cfg);

/* `kds-server --db F backup DEST`: a consistent copy of the SQLite store F at DEST while the
 * server may be running (db_backup.h); prints one line with the pages copied. Returns the exit
 * code: 0, 1 (no such database, SQLite or file error), 2 (usage, or a PostgreSQL --db). */
int cli_backup(const kds_config *cfg);

#endif
