/* selector.c - POSIX extended regexes over process names or command lines (see selector.h).
 *
 * Matching is a search, not a whole-string match, as pgrep does: anchor with ^...$ for an
 * exact name.  REG_NOSUB because we only ask "does it match", which lets glibc skip the
 * bookkeeping for submatches. */
#include "config.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"
#include "util.h"

/* Patterns come from the API and config; a bound keeps regcomp's work (and its worst-case
 * automaton) small.  The same limit is worth stating in the API's documentation. */
#define PATTERN_MAX 255
/* glibc expands a bounded repetition into that many copies of what it repeats, so nested
 * ones multiply: (a{1,255}){1,255}b took 3 GB and ~56 s a regexec() on 4 KiB of text here,
 * and (a{1,32}){1,32}b still 60 ms, once per process per scan.  Patterns whose expansion
 * estimate exceeds this are refused; a{1,255}b (256) passes. */
#define EXPANSION_MAX 1024

struct selector {
    regex_t re;
    bool match_cmdline;
};

/* ---- expansion estimate: a rough count of the positions glibc's automaton gets ----------
 * Only good enough to bound the work; regcomp() remains the judge of syntax, so anything odd
 * here just counts as one position. */

static unsigned long sat_add(unsigned long a, unsigned long b)
{
    return a + b > EXPANSION_MAX ? EXPANSION_MAX + 1 : a + b;
}

static unsigned long sat_mul(unsigned long a, unsigned long b)
{
    if (a == 0 || b == 0)
        return 0;
    return a > EXPANSION_MAX / b ? EXPANSION_MAX + 1 : a * b;
}

static unsigned long read_count(const char **pp)
{
    unsigned long n = 0;
    while (**pp >= '0' && **pp <= '9') {
        n = n > 100000 ? n : n * 10 + (unsigned long)(**pp - '0');
        (*pp)++;
    }
    return n;
}

/* The factor of a quantifier at *pp (consumed), or 0 if there is none. */
static unsigned long quantifier(const char **pp)
{
    const char *p = *pp;
    switch (*p) {
    case '*': case '?':
        *pp = p + 1;
        return 1;
    case '+':
        *pp = p + 1;
        return 2;
    case '{': {
        p++;
        if ((*p < '0' || *p > '9') && *p != ',')
            return 0;           /* not an interval: let regcomp() judge the '{' */
        unsigned long m = read_count(&p), n = m;     /* glibc reads "{,n}" as "{0,n}" */
        if (*p == ',') {
            p++;
            n = (*p >= '0' && *p <= '9') ? read_count(&p) : m + 1;
        }
        if (*p != '}')
            return 0;
        *pp = p + 1;
        n = n > m ? n : m;
        return n ? n : 1;
    }
    default:
        return 0;
    }
}

static void skip_bracket(const char **pp)
{
    const char *p = *pp + 1;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;                    /* a leading ']' is a member */
    while (*p && *p != ']') {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            char close = p[1];
            p += 2;
            while (*p && !(p[0] == close && p[1] == ']'))
                p++;
            if (*p)
                p += 2;
        } else {
            p++;
        }
    }
    *pp = *p ? p + 1 : p;
}

static unsigned long expansion(const char **pp);

static unsigned long atom(const char **pp)
{
    const char *p = *pp;
    unsigned long n = 1;
    switch (*p) {
    case '(':
        *pp = p + 1;
        n = expansion(pp);
        if (**pp == ')')
            (*pp)++;
        return n ? n : 1;
    case '\\':
        *pp = p[1] ? p + 2 : p + 1;
        return 1;
    case '[':
        skip_bracket(pp);
        return 1;
    case '^': case '$':
        n = 0;
        break;
    }
    *pp = p + 1;
    return n;
}

/* Alternatives up to an unmatched ')' or the end. */
static unsigned long expansion(const char **pp)
{
    unsigned long total = 0, branch = 0;
    while (**pp && **pp != ')') {
        if (**pp == '|') {
            total = sat_add(total, branch);
            branch = 0;
            (*pp)++;
            continue;
        }
        unsigned long n = atom(pp), f;
        while ((f = quantifier(pp)) != 0)
            n = sat_mul(n, f);
        branch = sat_add(branch, n);
    }
    return sat_add(total, branch);
}

static unsigned long pattern_expansion(const char *pattern)
{
    const char *p = pattern;
    unsigned long n = 0;
    while (*p) {
        n = sat_add(n, expansion(&p));
        if (*p == ')')
            p++;                /* unmatched: regcomp() will have its say */
    }
    return n;
}

/* ---- the API ----------------------------------------------------------------------------- */

int selector_compile(const char *pattern, bool match_cmdline, struct selector **out, char **errmsg)
{
    char *msg = NULL;
    int r = -EINVAL;

    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (!pattern || !*pattern) {
        /* An empty ERE is undefined by POSIX; glibc makes it match everything, which as a
         * target would be every process on the machine. */
        msg = xstrdup("empty pattern");
        goto fail;
    }
    size_t len = strlen(pattern);
    if (len > PATTERN_MAX) {
        msg = xasprintf("pattern is %zu characters long; at most %d are allowed", len,
                        PATTERN_MAX);
        goto fail;
    }
    if (pattern_expansion(pattern) > EXPANSION_MAX) {
        msg = xasprintf("pattern \"%s\" repeats too much: nested {m,n} bounds multiply, and "
                        "matching it would be slow; simplify the repetitions", pattern);
        goto fail;
    }

    struct selector *sel = xcalloc(1, sizeof *sel);
    int err = regcomp(&sel->re, pattern, REG_EXTENDED | REG_NOSUB);
    if (err != 0) {
        /* REG_ESIZE and REG_ESPACE too: a{1,65536} is "too big", so it is still the
         * pattern that is wrong, and the caller shows the text either way. */
        size_t size = regerror(err, &sel->re, NULL, 0);
        char *text = xmalloc(size);
        (void)regerror(err, &sel->re, text, size);
        msg = xasprintf("invalid regular expression \"%s\": %s", pattern, text);
        free(text);
        free(sel);      /* no regfree(): POSIX leaves it undefined after a failed regcomp */
        goto fail;
    }
    sel->match_cmdline = match_cmdline;
    *out = sel;
    return 0;

fail:
    if (errmsg)
        *errmsg = msg;
    else
        free(msg);
    return r;
}

static bool search(const regex_t *re, const char *s)
{
    return s && regexec(re, s, 0, NULL, 0) == 0;
}

bool selector_matches(const struct selector *sel, const struct proc_ident *id)
{
    if (!sel || !id)
        return false;
    if (sel->match_cmdline)
        return search(&sel->re, id->cmdline ? id->cmdline : "");
    /* comm is cut at 15 characters, so a long name is only whole in argv[0]'s basename.
     * An empty exe_name (no argv) is not tried: "^$"-like patterns would match nothing
     * real. */
    return search(&sel->re, id->comm) ||
           (id->exe_name && id->exe_name[0] && search(&sel->re, id->exe_name));
}

void selector_free(struct selector *sel)
{
    if (!sel)
        return;
    regfree(&sel->re);
    free(sel);
}
