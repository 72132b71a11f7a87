/* Configuration tree and its typed getters. */
#include "cfg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cfg_node *cfg_new(cfg_kind kind, cfg_mark mark, const char *scalar)
{
    cfg_node *n = cnn_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->mark = mark;
    if (scalar)
        n->str = cnn_xstrdup(scalar);
    return n;
}

static void grow(cfg_node *n)
{
    if ((n->n & (n->n - 1)) != 0 && n->n != 0)
        return; /* capacity is the next power of two; grow when n hits one */
    int cap = n->n ? 2 * n->n : 1;
    cfg_node **items = realloc(n->items, (size_t)cap * sizeof *items);
    if (!items)
        cnn_fatal("realloc for a config node of %d items failed", cap);
    n->items = items;
    if (n->kind == CFG_MAP) {
        char **keys = realloc(n->keys, (size_t)cap * sizeof *keys);
        cfg_mark *marks = realloc(n->key_marks, (size_t)cap * sizeof *marks);
        if (!keys || !marks)
            cnn_fatal("realloc for a config map of %d keys failed", cap);
        n->keys = keys;
        n->key_marks = marks;
    }
}

void cfg_seq_push(cfg_node *seq, cfg_node *item)
{
    CNN_ASSERT(seq->kind == CFG_SEQ);
    grow(seq);
    seq->items[seq->n++] = item;
}

const char *cfg_where(const cfg_node *n, char *buf, int len)
{
    snprintf(buf, (size_t)len, "%s:%d:%d", n->mark.file ? n->mark.file : "<config>",
             n->mark.line, n->mark.col);
    return buf;
}

int cfg_map_put(cfg_node *map, const char *key, cfg_mark key_mark, cfg_node *value, cnn_err *e)
{
    CNN_ASSERT(map->kind == CFG_MAP);
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: key '%s' appears twice (first at line %d)",
                           key_mark.file ? key_mark.file : "<config>", key_mark.line,
                           key_mark.col, key, map->key_marks[i].line);
    grow(map);
    map->keys[map->n] = cnn_xstrdup(key);
    map->key_marks[map->n] = key_mark;
    map->items[map->n++] = value;
    return CNN_OK;
}

void cfg_free(cfg_node *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n; i++) {
        cfg_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_marks);
    free(n->str);
    free(n->file_owned);
    free(n);
}

const cfg_node *cfg_get(const cfg_node *map, const char *key)
{
    if (!map || map->kind != CFG_MAP)
        return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

/* Shared front of every getter: 1 = found scalar in *v, 0 = missing (use default). */
static int lookup(const cfg_node *map, const char *key, bool required, const char *expect,
                  const cfg_node **v, cnn_err *e)
{
    char w[256];
    *v = cfg_get(map, key);
    if (!*v) {
        if (required)
            return CNN_ERR(e, CNN_EINVAL, "%s: required key '%s' is missing (expected %s)",
                           cfg_where(map, w, sizeof w), key, expect);
        return 0;
    }
    return 1;
}

static int bad(const cfg_node *v, const char *key, const char *expect, cnn_err *e)
{
    char w[256];
    return CNN_ERR(e, CNN_EINVAL, "%s: key '%s': expected %s, got %s%s%s",
                   cfg_where(v, w, sizeof w), key, expect,
                   v->kind == CFG_SCALAR ? "'" : "",
                   v->kind == CFG_SCALAR ? v->str : (v->kind == CFG_SEQ ? "a list" : "a map"),
                   v->kind == CFG_SCALAR ? "'" : "");
}

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = x;
    return true;
}

int cfg_int(const cfg_node *map, const char *key, bool required, int64_t def, int64_t *out,
            cnn_err *e)
{
    const cfg_node *v;
    int rc = lookup(map, key, required, "an integer", &v, e);
    if (rc <= 0) {
        *out = def;
        return rc;
    }
    if (v->kind != CFG_SCALAR || !parse_int(v->str, out))
        return bad(v, key, "an integer", e);
    return CNN_OK;
}

int cfg_float(const cfg_node *map, const char *key, bool required, double def, double *out,
              cnn_err *e)
{
    const cfg_node *v;
    int rc = lookup(map, key, required, "a number", &v, e);
    if (rc <= 0) {
        *out = def;
        return rc;
    }
    char *end;
    if (v->kind != CFG_SCALAR)
        return bad(v, key, "a number", e);
    errno = 0;
    *out = strtod(v->str, &end);
    if (errno || end == v->str || *end || !isfinite(*out))
        return bad(v, key, "a finite number", e);
    return CNN_OK;
}

int cfg_bool(const cfg_node *map, const char *key, bool required, bool def, bool *out,
             cnn_err *e)
{
    const cfg_node *v;
    int rc = lookup(map, key, required, "true or false", &v, e);
    if (rc <= 0) {
        *out = def;
        return rc;
    }
    if (v->kind == CFG_SCALAR && (!strcmp(v->str, "true") || !strcmp(v->str, "True")))
        *out = true;
    else if (v->kind == CFG_SCALAR && (!strcmp(v->str, "false") || !strcmp(v->str, "False")))
        *out = false;
    else
        return bad(v, key, "true or false", e);
    return CNN_OK;
}

int cfg_str(const cfg_node *map, const char *key, bool required, const char *def,
            const char **out, cnn_err *e)
{
    const cfg_node *v;
    int rc = lookup(map, key, required, "a string", &v, e);
    if (rc <= 0) {
        *out = def;
        return rc;
    }
    if (v->kind != CFG_SCALAR)
        return bad(v, key, "a string", e);
    *out = v->str;
    return CNN_OK;
}

int cfg_int2(const cfg_node *map, const char *key, bool required, int64_t def, int64_t out[2],
             cnn_err *e)
{
    const cfg_node *v;
    const char *expect = "an integer or a pair [h, w]";
    int rc = lookup(map, key, required, expect, &v, e);
    if (rc <= 0) {
        out[0] = out[1] = def;
        return rc;
    }
    if (v->kind == CFG_SCALAR && parse_int(v->str, &out[0])) {
        out[1] = out[0];
        return CNN_OK;
    }
    if (v->kind == CFG_SEQ && v->n == 2 && v->items[0]->kind == CFG_SCALAR &&
        v->items[1]->kind == CFG_SCALAR && parse_int(v->items[0]->str, &out[0]) &&
        parse_int(v->items[1]->str, &out[1]))
        return CNN_OK;
    return bad(v, key, expect, e);
}

int cfg_choice(const cfg_node *map, const char *key, const char *const *choices, int def,
               int *out, cnn_err *e)
{
    const char *s = NULL;
    CNN_TRY(e, cfg_str(map, key, false, NULL, &s, e));
    *out = def;
    if (!s)
        return CNN_OK;
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(s, choices[i])) {
            *out = i;
            return CNN_OK;
        }
        size_t off = strlen(list);
        snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", choices[i]);
    }
    char w[256];
    return CNN_ERR(e, CNN_EINVAL, "%s: key '%s': '%s' is not one of: %s",
                   cfg_where(cfg_get(map, key), w, sizeof w), key, s, list);
}

int cfg_edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

static bool in_list(const char *k, const char *const *list)
{
    for (int i = 0; list && list[i]; i++)
        if (!strcmp(k, list[i]))
            return true;
    return false;
}

int cfg_check_keys(const cfg_node *map, const char *const *allowed, const char *const *also,
                   cnn_err *e)
{
    char w[256];
    if (!map || map->kind != CFG_MAP)
        return CNN_ERR(e, CNN_EINVAL, "%s: expected a map of keys",
                       map ? cfg_where(map, w, sizeof w) : "<config>");
    for (int i = 0; i < map->n; i++) {
        const char *k = map->keys[i];
        if (in_list(k, allowed) || in_list(k, also))
            continue;
        const char *best = NULL;
        int bd = 99;
        for (int j = 0; allowed[j]; j++) {
            int dd = cfg_edit_distance(k, allowed[j]);
            if (dd < bd) {
                bd = dd;
                best = allowed[j];
            }
        }
        cfg_mark m = map->key_marks[i];
        if (best && bd <= 3)
            return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: unknown key '%s'; did you mean '%s'?",
                           m.file ? m.file : "<config>", m.line, m.col, k, best);
        char list[512] = "";
        for (int j = 0; also && !allowed[0] && also[j]; j++) {
            size_t off = strlen(list);
            snprintf(list + off, sizeof list - off, "%s%s", j ? ", " : "", also[j]);
        }
        for (int j = 0; allowed[j]; j++) {
            size_t off = strlen(list);
            snprintf(list + off, sizeof list - off, "%s%s", j ? ", " : "", allowed[j]);
        }
        return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: unknown key '%s'; valid keys: %s",
                       m.file ? m.file : "<config>", m.line, m.col, k, list);
    }
    return CNN_OK;
}
