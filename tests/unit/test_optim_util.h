/* Shared by test_optim.c and test_sched.c: the PyTorch fixture of the optimizer and the
 * schedules (tests/fixtures/optim/optim.bin, written by tools/fixtures/make_optim_fixtures.py)
 * and its "key=value ..." config texts. */
#ifndef CNN_TESTS_OPTIM_UTIL_H
#define CNN_TESTS_OPTIM_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../support/fixture.h"

/* argv[1], or the fixture beside this source file (CMake compiles with absolute paths). */
static inline void ou_load(int argc, char **argv, fixture *f)
{
    char path[4096];
    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        snprintf(path, sizeof path, "%s", __FILE__);
        char *s = strstr(path, "tests/unit/");
        CHECK(s != NULL);
        snprintf(s, sizeof path - (size_t)(s - path), "tests/fixtures/optim/optim.bin");
    }
    cnn_err e = {0};
    if (fixture_load(path, f, &e) < 0) {
        fprintf(stderr, "%s\n(regenerate: /usr/bin/python3 tools/fixtures/make_optim_fixtures.py)\n",
                e.msg);
        exit(1);
    }
}

static inline const fixture_rec *ou_rec(const fixture *f, const char *fmt, const char *a,
                                        const char *b)
{
    char name[256];
    snprintf(name, sizeof name, fmt, a, b);
    const fixture_rec *r = fixture_find(f, name);
    if (!r) {
        fprintf(stderr, "fixture record '%s' missing; regenerate with /usr/bin/python3 "
                "tools/fixtures/make_optim_fixtures.py\n", name);
        exit(1);
    }
    return r;
}

/* The text after "key=" in a "key=value ..." config (up to the next space), as a string. */
static inline const char *ou_str(const char *cfg, const char *key, char *buf, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = cfg;
    while ((p = strstr(p, pat)) && p != cfg && p[-1] != ' ')
        p++;
    if (!p) {
        fprintf(stderr, "config text has no '%s': %s\n", key, cfg);
        exit(1);
    }
    p += strlen(pat);
    size_t n = strcspn(p, " \n");
    CHECK(n < cap);
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static inline double ou_num(const char *cfg, const char *key)
{
    char buf[128];
    return strtod(ou_str(cfg, key, buf, sizeof buf), NULL);
}

#endif
