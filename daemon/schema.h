/* schema.h - the SQL migrations embedded in memwatchd (generated from sql/ by sql2c.sh).
 *
 * Migration i (0-based) takes a database from PRAGMA user_version i to i + 1; store.c runs
 * each in a transaction of its own.  Never edit a released migration: add a new file. */
#ifndef MEMWATCH_SCHEMA_H
#define MEMWATCH_SCHEMA_H

extern const char *const schema_migrations[];
extern const unsigned schema_migration_count;

#endif
