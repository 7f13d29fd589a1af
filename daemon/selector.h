/* selector.h - matching processes to a `match` target: a POSIX extended regex tried on the
 * process name (comm, and the basename of argv[0] since comm is cut at 15 characters), or,
 * with match_cmdline, on the whole command line (like pgrep -f). */
#ifndef MEMWATCH_SELECTOR_H
#define MEMWATCH_SELECTOR_H

#include <stdbool.h>

#include "procmem.h"

struct selector;

/* 0, or -EINVAL with *errmsg (caller frees; errmsg may be NULL) saying what is wrong with the
 * pattern.  Refused besides bad syntax: "", over 255 characters, and nested {m,n} repetition
 * that would make glibc's matcher slow (beyond about 1024 expanded positions). */
int selector_compile(const char *pattern, bool match_cmdline, struct selector **out, char **errmsg);
bool selector_matches(const struct selector *sel, const struct proc_ident *id);
void selector_free(struct selector *sel);

#endif
