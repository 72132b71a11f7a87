/* The typed run configuration: checks a config tree against the schema table (unknown keys
 * with a suggestion, types, ranges, choices, required keys), writes every default into the
 * tree so that the tree is the effective config, and copies the values into run_config.
 * Rules that tie keys together (cross checks) come last and name both keys. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"

static const cfg_node *node_of(const run_config *rc, const char *path)
{
    const char *dot = strchr(path, '.');
    char sec[32];
    if (!dot)
        return cfg_get(rc->tree, path);
    snprintf(sec, sizeof sec, "%.*s", (int)(dot - path), path);
    return cfg_get(cfg_get(rc->tree, sec), dot + 1);
}

/* "file:line:col" of a node; values filled in from the schema say so instead. */
static const char *where(const cfg_node *n, char *buf, int len)
{
    if (n->mark.file == config_default_file)
        return snprintf(buf, (size_t)len, "(default value)"), buf;
    return cfg_where(n, buf, len);
}

bool run_config_is_set(const run_config *rc, const char *key)
{
    return node_of(rc, key)->mark.file != config_default_file;
}

/* The same for the value at path in rc's tree, naming the config file for a default. */
static const char *where_key(const run_config *rc, const char *path, char *buf, int len)
{
    const cfg_node *n = node_of(rc, path);
    if (n->mark.file != config_default_file)
        return cfg_where(n, buf, len);
    snprintf(buf, (size_t)len, "%s (default)", rc->tree->mark.file);
    return buf;
}

static int unknown_key(const char *path, cfg_mark m, cnn_err *e)
{
    char hint[64], list[512] = "";
    if (!m.file)
        m.file = "<config>";
    if (schema_suggest(path, hint, sizeof hint))
        return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: unknown key '%s'; did you mean '%s'?", m.file,
                       m.line, m.col, path, hint);
    /* No close key: list the valid ones of the same section (or the top level). */
    const char *dot = strchr(path, '.');
    size_t sec = dot ? (size_t)(dot - path) + 1 : 0;
    for (int i = 0; i < config_schema_n; i++) {
        const char *p = config_schema[i].path, *pd = strchr(p, '.');
        size_t off = strlen(list);
        if (sec && !strncmp(p, path, sec))
            snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", p + sec);
        else if (!sec && (!pd || (i > 0 && strncmp(p, config_schema[i - 1].path,
                                                   (size_t)(pd - p) + 1))))
            snprintf(list + off, sizeof list - off, "%s%.*s", off ? ", " : "",
                     pd ? (int)(pd - p) : (int)strlen(p), p);
    }
    return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: unknown key '%s'; valid keys%s%.*s: %s", m.file,
                   m.line, m.col, path, sec ? " in " : " at the top level",
                   sec ? (int)sec - 1 : 0, path, list);
}

/* Every key of the tree must be a schema key; `model` is the net's to check. */
static int check_keys(const cfg_node *root, cnn_err *e)
{
    char w[256], path[256];
    if (root->kind != CFG_MAP)
        return CNN_ERR(e, CNN_EINVAL, "%s: a run config is a map of keys (model, data, optim, "
                       "...); got a %s", cfg_where(root, w, sizeof w),
                       root->kind == CFG_SEQ ? "list" : "single value");
    for (int i = 0; i < root->n; i++) {
        const char *k = root->keys[i];
        const cfg_node *v = root->items[i];
        const char *dot = strchr(k, '.');
        if (schema_find(k) && dot) {
            cfg_mark m = root->key_marks[i];
            return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: '%s' is one key with a dot in it; write it "
                           "nested: '%.*s: {%s: ...}' (the dotted form is for --set)", m.file,
                           m.line, m.col, k, (int)(dot - k), k, dot + 1);
        }
        if (schema_find(k))
            continue;
        if (!schema_is_section(k))
            return unknown_key(k, root->key_marks[i], e);
        if (v->kind != CFG_MAP)
            return CNN_ERR(e, CNN_EINVAL, "%s: '%s' must be a map of keys (see docs/config.md)",
                           where(v, w, sizeof w), k);
        for (int j = 0; j < v->n; j++) {
            snprintf(path, sizeof path, "%s.%s", k, v->keys[j]);
            if (!schema_find(path))
                return unknown_key(path, v->key_marks[j], e);
        }
    }
    return CNN_OK;
}

static int bad_value(const schema_row *r, const cfg_node *v, const char *expect, cnn_err *e)
{
    char w[256];
    return CNN_ERR(e, CNN_EINVAL, "%s: %s: expected %s, got %s%s%s", where(v, w, sizeof w),
                   r->path, expect, v->kind == CFG_SCALAR ? "'" : "",
                   v->kind == CFG_SCALAR ? v->str : v->kind == CFG_SEQ ? "a list" : "a map",
                   v->kind == CFG_SCALAR ? "'" : "");
}

static bool in_range(const schema_range *g, double x)
{
    return (g->lo_open ? x > g->lo : x >= g->lo) && (g->hi_open ? x < g->hi : x <= g->hi);
}

/* One number (an int or float row, or a list item) parsed and checked against the range. */
static int number(const schema_row *r, const cfg_node *v, double *d, int64_t *i, cnn_err *e)
{
    char expect[128];
    schema_range_text(r, expect, sizeof expect);
    if (v->kind != CFG_SCALAR)
        return bad_value(r, v, expect, e);
    char *end;
    errno = 0;
    if (r->type == ST_INT || r->type == ST_INT_LIST) {
        long long x = strtoll(v->str, &end, 10);
        if (errno || end == v->str || *end)
            return bad_value(r, v, expect, e);
        *i = x;
        *d = (double)x;
    } else {
        *d = strtod(v->str, &end);
        if (errno || end == v->str || *end || !isfinite(*d))
            return bad_value(r, v, expect, e);
    }
    schema_range g = schema_range_of(r);
    if (!in_range(&g, *d)) {
        char w[256];
        return CNN_ERR(e, CNN_EINVAL, "%s: %s=%s is out of range: expected %s",
                       where(v, w, sizeof w), r->path, v->str, expect);
    }
    return CNN_OK;
}

static int choice(const schema_row *r, const cfg_node *v, int *out, cnn_err *e)
{
    char c[64], list[256] = "", w[256];
    for (int i = 0; schema_choice(r, i, c, sizeof c); i++) {
        if (v->kind == CFG_SCALAR && !strcmp(v->str, c)) {
            *out = i;
            return CNN_OK;
        }
        size_t off = strlen(list);
        snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", c);
    }
    if (v->kind != CFG_SCALAR)
        return bad_value(r, v, "one of the names listed in docs/config.md", e);
    return CNN_ERR(e, CNN_EINVAL, "%s: %s: '%s' is not one of: %s", where(v, w, sizeof w),
                   r->path, v->str, list);
}

static int list(const schema_row *r, const cfg_node *v, void *dst, cnn_err *e)
{
    char w[256];
    if (v->kind != CFG_SEQ)
        return bad_value(r, v, r->type == ST_INT_LIST ? "a list of integers like [30, 60]"
                                                      : "a list of numbers like [0.9, 0.999]", e);
    int min_n = strcmp(r->def, "[]") ? 1 : 0; /* an empty default means "not given" */
    if (r->list_len ? v->n != r->list_len : v->n < min_n || v->n > RUN_LIST_MAX) {
        if (r->list_len)
            return CNN_ERR(e, CNN_EINVAL, "%s: %s: expected a list of %d values, got %d",
                           where(v, w, sizeof w), r->path, r->list_len, v->n);
        return CNN_ERR(e, CNN_EINVAL, "%s: %s: expected a list of %d to %d values, got %d",
                       where(v, w, sizeof w), r->path, min_n, RUN_LIST_MAX, v->n);
    }
    for (int k = 0; k < v->n; k++) {
        double d;
        int64_t i = 0;
        CNN_TRY(e, number(r, v->items[k], &d, &i, e));
        if (r->type == ST_INT_LIST)
            ((run_int_list *)dst)->v[k] = i;
        else
            ((run_float_list *)dst)->v[k] = d;
    }
    *(int *)dst = v->n; /* both list types start with n */
    return CNN_OK;
}

static bool is_null(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* Checks v against row r and stores it at the row's offset in rc. */
static int store(const schema_row *r, const cfg_node *v, run_config *rc, cnn_err *e)
{
    char *dst = (char *)rc + r->offset;
    double d;
    int64_t i = 0;
    switch (r->type) {
    case ST_INT:
        CNN_TRY(e, number(r, v, &d, &i, e));
        *(int64_t *)dst = i;
        return CNN_OK;
    case ST_FLOAT:
        CNN_TRY(e, number(r, v, &d, &i, e));
        *(double *)dst = d;
        return CNN_OK;
    case ST_BOOL:
        if (v->kind == CFG_SCALAR && (!strcmp(v->str, "true") || !strcmp(v->str, "True")))
            *(bool *)dst = true;
        else if (v->kind == CFG_SCALAR && (!strcmp(v->str, "false") || !strcmp(v->str, "False")))
            *(bool *)dst = false;
        else
            return bad_value(r, v, "true or false", e);
        return CNN_OK;
    case ST_STRING:
        if (v->kind != CFG_SCALAR)
            return bad_value(r, v, "a string (or null)", e);
        *(const char **)dst = is_null(v->str) ? NULL : v->str;
        return CNN_OK;
    case ST_CHOICE:
        return choice(r, v, (int *)dst, e);
    case ST_INT_LIST:
    case ST_FLOAT_LIST:
        return list(r, v, dst, e);
    case ST_MAP:
        if (v->kind != CFG_MAP)
            return bad_value(r, v, "a map (see docs/models.md)", e);
        *(const cfg_node **)dst = v;
        return CNN_OK;
    }
    return CNN_OK;
}

/* The value of row r: the tree's, or the default written into the tree. */
static int value_of(cfg_node *root, const schema_row *r, const char *stem, cfg_node **out,
                    cnn_err *e)
{
    char sec[32], w[256];
    cfg_mark dm = {config_default_file, 1, 1};
    const char *dot = strchr(r->path, '.');
    cfg_node *map = root;
    if (dot) {
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - r->path), r->path);
        map = (cfg_node *)cfg_get(root, sec);
        if (!map) {
            map = cfg_new(CFG_MAP, dm, NULL);
            CNN_TRY(e, cfg_map_put(root, sec, dm, map, e));
        }
    }
    const char *key = dot ? dot + 1 : r->path;
    *out = (cfg_node *)cfg_get(map, key);
    if (*out)
        return CNN_OK;
    if (!r->def)
        return CNN_ERR(e, CNN_EINVAL, "%s: required key '%s' is missing: %s",
                       cfg_where(root, w, sizeof w), r->path, r->doc);
    if (r->def[0] == '[') {
        CNN_TRY(e, config_parse_string(r->def, strlen(r->def), config_default_file, out, e));
        (*out)->mark = dm; /* marks of the items keep the parsed copy, owned by *out */
    } else if (!strcmp(r->def, CONFIG_RUN_DIR_DEFAULT)) {
        char dir[512];
        snprintf(dir, sizeof dir, "runs/%s", stem);
        *out = cfg_new(CFG_SCALAR, dm, dir);
    } else {
        *out = cfg_new(CFG_SCALAR, dm, r->def);
    }
    return cfg_map_put(map, key, dm, *out, e);
}

/* Rules between keys, each message names both. */
static int cross_checks(const run_config *rc, run_purpose purpose, cnn_err *e)
{
    char w[256];
    if (purpose == RUN_FOR_TRAINING && !rc->data.train && !rc->data.synthetic)
        return CNN_ERR(e, CNN_EINVAL, "%s: data.train is missing: training needs the path of "
                       "the training set; set it in the config or with --set data.train=PATH (or "
                       "--set data.synthetic=N for random images)",
                       where_key(rc, "data.train", w, sizeof w));
    if ((rc->comm.transport == RUN_TRANSPORT_NCCL && rc->device == RUN_DEVICE_CPU) ||
        (rc->comm.transport == RUN_TRANSPORT_MPI && rc->device == RUN_DEVICE_CUDA))
        return CNN_ERR(e, CNN_EINVAL, "%s: comm.transport %s does not go with device %s: NCCL "
                       "reduces GPU memory and MPI host memory (MPI over GPU memory is not "
                       "implemented); use comm.transport: auto",
                       where_key(rc, "comm.transport", w, sizeof w), node_of(rc,
                       "comm.transport")->str, node_of(rc, "device")->str);
    if (rc->optim.nesterov && rc->optim.momentum == 0)
        return CNN_ERR(e, CNN_EINVAL, "%s: optim.nesterov needs optim.momentum > 0 (it is 0)",
                       where_key(rc, "optim.nesterov", w, sizeof w));
    const cfg_node *ms = node_of(rc, "sched.milestones");
    for (int k = 1; k < rc->sched.milestones.n; k++)
        if (rc->sched.milestones.v[k] <= rc->sched.milestones.v[k - 1])
            return CNN_ERR(e, CNN_EINVAL, "%s: sched.milestones must increase: %lld comes "
                           "after %lld", where(ms->items[k], w, sizeof w),
                           (long long)rc->sched.milestones.v[k],
                           (long long)rc->sched.milestones.v[k - 1]);
    const char *const ranges[] = {"data.crop_scale", "data.crop_ratio", "data.scale_range"};
    const run_float_list *range_v[] = {&rc->data.crop_scale, &rc->data.crop_ratio,
                                       &rc->data.scale_range};
    for (int k = 0; k < 3; k++)
        if (range_v[k]->v[0] > range_v[k]->v[1])
            return CNN_ERR(e, CNN_EINVAL, "%s: %s [%g, %g] is a range [lo, hi]: lo must be "
                           "<= hi", where_key(rc, ranges[k], w, sizeof w), ranges[k],
                           range_v[k]->v[0], range_v[k]->v[1]);
    if (rc->data.mean.n != rc->data.std.n)
        return CNN_ERR(e, CNN_EINVAL, "%s: data.mean has %d values and data.std %d; give both "
                       "per channel, or neither (the training set's)",
                       where_key(rc, "data.std", w, sizeof w), rc->data.mean.n, rc->data.std.n);
    const cfg_node *in = rc->model ? cfg_get(rc->model, "input") : NULL;
    long channels = in && in->kind == CFG_SEQ && in->n == 3 && in->items[0]->kind == CFG_SCALAR
                        ? strtol(in->items[0]->str, NULL, 10) : 0;
    if (rc->data.mean.n > 1 && channels > 0 && rc->data.mean.n != channels)
        return CNN_ERR(e, CNN_EINVAL, "%s: data.mean and data.std have %d values but the "
                       "model's input has %ld channels (model.input); give one value per "
                       "channel, or one for all", where_key(rc, "data.mean", w, sizeof w),
                       rc->data.mean.n, channels);
    if (rc->sched.min_lr > rc->optim.lr)
        return CNN_ERR(e, CNN_EINVAL, "%s: sched.min_lr=%g is above optim.lr=%g; the schedule "
                       "ends at min_lr, so it must be at most optim.lr",
                       where_key(rc, "sched.min_lr", w, sizeof w), rc->sched.min_lr,
                       rc->optim.lr);
    if (rc->sched.warmup_epochs > (double)rc->train.epochs)
        return CNN_ERR(e, CNN_EINVAL, "%s: sched.warmup_epochs=%g is longer than "
                       "train.epochs=%lld", where_key(rc, "sched.warmup_epochs", w, sizeof w),
                       rc->sched.warmup_epochs, (long long)rc->train.epochs);
    return CNN_OK;
}

/* "runs/<stem>": the file name without its folder and its last extension. */
static void stem_of(const char *path, char *buf, int len)
{
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    if (!base || !*base)
        base = "config";
    const char *ext = strrchr(base, '.');
    int n = ext && ext != base ? (int)(ext - base) : (int)strlen(base);
    snprintf(buf, (size_t)len, "%.*s", n, base);
}

int run_config_from_tree(cfg_node *tree, const char *path, run_purpose purpose, run_config *rc,
                         cnn_err *e)
{
    memset(rc, 0, sizeof *rc);
    rc->tree = tree;
    CNN_TRY(e, check_keys(tree, e));
    char stem[256];
    stem_of(path, stem, sizeof stem);
    for (int i = 0; i < config_schema_n; i++) {
        cfg_node *v;
        CNN_TRY(e, value_of(tree, &config_schema[i], stem, &v, e));
        CNN_TRY(e, store(&config_schema[i], v, rc, e));
    }
    return cross_checks(rc, purpose, e);
}

/* The overrides, then the schema: rc owns tree from here on. */
static int finish_load(cfg_node *tree, const char *path, const char *const *sets, int n_sets,
                       run_purpose purpose, run_config *rc, cnn_err *e)
{
    for (int i = 0; i < n_sets; i++) {
        int r = config_set(tree, sets[i], e);
        if (r < 0) {
            cfg_free(tree);
            CNN_TRY(e, r);
        }
    }
    CNN_TRY(e, run_config_from_tree(tree, path, purpose, rc, e));
    return CNN_OK;
}

int run_config_load(const char *path, const char *const *sets, int n_sets, run_purpose purpose,
                    run_config *rc, cnn_err *e)
{
    cfg_node *tree;
    memset(rc, 0, sizeof *rc);
    CNN_TRY(e, config_parse_file(path, &tree, e));
    return finish_load(tree, path, sets, n_sets, purpose, rc, e);
}

int run_config_load_text(const char *text, const char *name, const char *const *sets,
                         int n_sets, run_purpose purpose, run_config *rc, cnn_err *e)
{
    cfg_node *tree;
    memset(rc, 0, sizeof *rc);
    CNN_TRY(e, config_parse_string(text, strlen(text), name, &tree, e));
    return finish_load(tree, NULL, sets, n_sets, purpose, rc, e);
}

void run_config_free(run_config *rc)
{
    if (!rc)
        return;
    cfg_free(rc->tree);
    memset(rc, 0, sizeof *rc);
}

dtype run_config_precision_dtype(const run_config *rc)
{
    return rc->precision == RUN_BF16 ? DTYPE_BF16 : rc->precision == RUN_FP16 ? DTYPE_F16
                                                                             : DTYPE_F32;
}

int run_config_rank_batch(const run_config *rc, int64_t ranks, int *out, cnn_err *e)
{
    char w[256];
    int64_t b = rc->data.batch_size;
    if (ranks < 1 || ranks > 1048576)
        return CNN_ERR(e, CNN_EINVAL, "%lld ranks: expected 1 to 1048576", (long long)ranks);
    if (b % ranks)
        return CNN_ERR(e, CNN_EINVAL, "%s: data.batch_size=%lld is not divisible by %lld "
                       "ranks; use a multiple of %lld (e.g. %lld)",
                       where_key(rc, "data.batch_size", w, sizeof w), (long long)b,
                       (long long)ranks, (long long)ranks,
                       (long long)(b < ranks ? ranks : b - b % ranks));
    *out = (int)(b / ranks);
    return CNN_OK;
}
