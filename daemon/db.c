/* db.c - opening memwatchd's SQLite connections, and SQLite errors as errno values. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "db.h"

#define BUSY_TIMEOUT_MS 5000
#define STR_(x) #x
#define STRINGIFY(x) STR_(x)
#define WAL_LIMIT_BYTES 67108864

int db_errno(sqlite3 *db, int rc)
{
    int sys = db ? sqlite3_system_errno(db) : 0;

    switch (rc) {
    case SQLITE_CONSTRAINT_FOREIGNKEY: return -ENOENT;
    case SQLITE_CONSTRAINT_UNIQUE: return -EEXIST;
    }
    switch (rc & 0xff) {
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_READONLY: return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH: return -EACCES;
    case SQLITE_CONSTRAINT: return -EEXIST;
    case SQLITE_CORRUPT: return -EBADMSG;
    case SQLITE_NOTADB: return -EINVAL;
    case SQLITE_TOOBIG: return -E2BIG;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN: return sys > 0 ? -sys : -EIO;
    default: return -EIO;
    }
}

int db_open(const char *path, bool create, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        int r = db ? db_errno(db, rc) : -ENOMEM;
        snprintf(err, errlen, "opening: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return r;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    static const char pragmas[] =
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=OFF;"
        " PRAGMA journal_size_limit=" STRINGIFY(WAL_LIMIT_BYTES) ";";
    char *msg = NULL;
    rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r = db_errno(db, rc);
        snprintf(err, errlen, "setting up the connection: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(db);
        return r;
    }
    *out = db;
    return 0;
}
