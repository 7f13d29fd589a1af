/* tmpdir.h - a scratch directory for a unit test's files (SQLite databases and the like):
 * made by the group's setup, emptied and removed by its teardown.  One per test program, so
 * the functions are static; include it once, from the test's .c file. */
#ifndef MEMWATCH_TEST_TMPDIR_H
#define MEMWATCH_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

/* /tmp/NAME.XXXXXX; 0, or -1 if it cannot be made. */
static int tmpdir_make(const char *name)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s.XXXXXX", name);
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* Removes the files in it (no subdirectories are made) and the directory itself. */
static void tmpdir_remove(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

#endif
