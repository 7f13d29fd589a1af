/* db.h - what every SQLite connection of memwatchd shares: how it is opened and set up, and
 * how SQLite's result codes become errno values.  store.c and profstore.c each keep their own
 * connection to the one database file. */
#ifndef MEMWATCH_DB_H
#define MEMWATCH_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

/* Opens path (creating it if `create`) with extended result codes, a busy timeout (the
 * connections take turns writing), and the per-connection settings: synchronous=NORMAL (a
 * power cut may lose the last commits, never corrupt; WAL's FULL default would sync every
 * flush), foreign keys on (for ON DELETE CASCADE), secure_delete off (Debian builds with
 * SQLITE_SECURE_DELETE, which would zero every deleted chunk), and a WAL size limit.
 * journal_mode=WAL is stored in the file and set by the store once the schema exists.
 * 0, or negative errno with the reason in err. */
int db_open(const char *path, bool create, sqlite3 **out, char *err, size_t errlen);

/* A failed SQLite result code as negative errno: -ENOSPC for a full disk, -EEXIST for a
 * unique constraint, -ENOENT for a foreign key (no such parent row), -EBUSY, -EBADMSG for
 * corruption, the system errno behind an I/O error, else -EIO. */
int db_errno(sqlite3 *db, int rc);

#endif
