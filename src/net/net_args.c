/* Arguments and blocks of the model language: block lookup and nesting checks, the
 * arguments a use may set, `$name` substitution and the environments it reads
 * (a block use's arguments, then its caller's, then model.args: dynamic scoping, so an
 * argument can be passed through nested blocks untouched). Values are whole config nodes,
 * so `kernel: $k` with k = [3, 1] substitutes the pair. Copies keep the marks of the text
 * they came from, so a layer's error about a substituted value points where it was written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

const char *net_where(cfg_mark m, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%d:%d", m.file ? m.file : "<config>", m.line, m.col);
    return buf;
}

int net_spend(net_expander *x, int64_t units, cfg_mark m)
{
    x->work += units;
    if (x->work <= NET_MAX_WORK)
        return CNN_OK;
    char w[256];
    return CNN_ERR(x->e, CNN_EINVAL, "%s: the model expands too far (more than %d items and "
                   "copied values); check its repeat counts and arguments",
                   net_where(m, w, sizeof w), NET_MAX_WORK);
}

bool net_is_null(const cfg_node *v)
{
    return v && v->kind == CFG_SCALAR &&
           (!strcmp(v->str, "null") || !strcmp(v->str, "~") || !v->str[0] ||
            !strcmp(v->str, "Null") || !strcmp(v->str, "NULL"));
}

const cfg_node *net_env_get(const net_env *env, const char *name)
{
    for (; env; env = env->parent)
        for (int i = 0; i < env->n; i++)
            if (!strcmp(env->names[i], name))
                return env->vals[i];
    return NULL;
}

void net_env_free(net_env *env)
{
    if (env->owned)
        for (int i = 0; i < env->n; i++)
            cfg_free(env->vals[i]);
    free(env->vals);
    free(env->names);
    memset(env, 0, sizeof *env);
}

/* "width, stride, num_classes" (innermost first, each name once). */
static void env_list(const net_env *env, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (const net_env *v = env; v; v = v->parent)
        for (int i = 0; i < v->n && off + 1 < n; i++) {
            if (net_env_get(env, v->names[i]) != v->vals[i])
                continue; /* shadowed by an inner argument of the same name */
            int w = snprintf(buf + off, n - off, "%s%s", off ? ", " : "", v->names[i]);
            off += w > 0 ? (size_t)w : 0;
        }
    if (!buf[0])
        snprintf(buf, n, "none");
}

static int subst_rec(net_expander *x, const cfg_node *n, const net_env *env, int depth,
                     cfg_node **out);

/* "$name*K" or "$name/K": an integer argument scaled by a positive integer K (channel
 * counts that follow one width). *op is 0 for a plain "$name". */
static int split_scale(net_expander *x, const cfg_node *n, char *name, size_t cap, char *op,
                       long *k)
{
    char w[256];
    const char *s = n->str + 1, *at = strpbrk(s, "*/");
    size_t len = at ? (size_t)(at - s) : strlen(s);
    *op = at ? *at : 0;
    snprintf(name, cap, "%.*s", (int)len, s);
    if (!at)
        return CNN_OK;
    char *end;
    *k = strtol(at + 1, &end, 10);
    if (end == at + 1 || *end || *k < 1 || *k > 1 << 20)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: '%s' scales an argument by '%s'; write $name*K "
                       "or $name/K with a positive integer K", cfg_where(n, w, sizeof w),
                       n->str, at + 1);
    return CNN_OK;
}

static int scale_value(net_expander *x, const cfg_node *n, const cfg_node *v, char op, long k,
                       cfg_node **out)
{
    char w[256], b[32];
    char *end = NULL;
    long long a = v->kind == CFG_SCALAR ? strtoll(v->str, &end, 10) : 0;
    if (v->kind != CFG_SCALAR || end == v->str || *end)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: '%s' scales an argument that is not an integer "
                       "(%s)", cfg_where(n, w, sizeof w), n->str,
                       v->kind == CFG_SCALAR ? v->str : "a list or map");
    if (op == '/' && a % k)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: '%s' is %lld / %ld, not a whole number; choose "
                       "an argument divisible by %ld", cfg_where(n, w, sizeof w), n->str, a, k,
                       k);
    if (op == '*' && (a > (1LL << 40) || a < -(1LL << 40)))
        return CNN_ERR(x->e, CNN_EINVAL, "%s: '%s' is too large", cfg_where(n, w, sizeof w),
                       n->str);
    snprintf(b, sizeof b, "%lld", op == '*' ? a * k : a / k);
    *out = cfg_new(CFG_SCALAR, n->mark, b);
    return CNN_OK;
}

static int subst_scalar(net_expander *x, const cfg_node *n, const net_env *env,
                        cfg_node **out)
{
    char w[256], list[256], name[128], op;
    long k = 1;
    if (n->str[0] != '$') {
        *out = cfg_new(CFG_SCALAR, n->mark, n->str);
        return CNN_OK;
    }
    CNN_TRY(x->e, split_scale(x, n, name, sizeof name, &op, &k));
    const cfg_node *v = net_env_get(env, name);
    if (!v) {
        env_list(env, list, sizeof list);
        return CNN_ERR(x->e, CNN_EINVAL, "%s: unknown argument '%s'; arguments visible here: "
                       "%s (declare it in the block's args or in model.args)",
                       cfg_where(n, w, sizeof w), n->str, list);
    }
    if (op)
        return scale_value(x, n, v, op, k, out);
    /* The value was substituted when its environment was built: copy it verbatim. */
    return subst_rec(x, v, NULL, 0, out);
}

static int subst_rec(net_expander *x, const cfg_node *n, const net_env *env, int depth,
                     cfg_node **out)
{
    char w[256];
    *out = NULL;
    CNN_TRY(x->e, net_spend(x, 1, n->mark));
    if (depth > 2 * NET_MAX_NEST)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: value nested too deeply", cfg_where(n, w, sizeof w));
    if (n->kind == CFG_SCALAR)
        return env ? subst_scalar(x, n, env, out) : (*out = cfg_new(CFG_SCALAR, n->mark, n->str),
                                                     CNN_OK);
    cfg_node *c = cfg_new(n->kind, n->mark, NULL);
    for (int i = 0; i < n->n; i++) {
        cfg_node *item;
        int rc = subst_rec(x, n->items[i], env, depth + 1, &item);
        if (rc >= 0) {
            if (n->kind == CFG_SEQ)
                cfg_seq_push(c, item);
            else
                rc = cfg_map_put(c, n->keys[i], n->key_marks[i], item, x->e);
        }
        if (rc < 0) {
            cfg_free(item);
            cfg_free(c);
            return rc;
        }
    }
    *out = c;
    return CNN_OK;
}

int net_subst(net_expander *x, const cfg_node *n, const net_env *env, cfg_node **out)
{
    CNN_ASSERT(n);
    return subst_rec(x, n, env, 0, out);
}

int net_blocks_check(const cfg_node *blocks, cnn_err *e)
{
    static const char *const keys[] = {"args", "layers", NULL};
    char w[256];
    if (blocks->kind != CFG_MAP)
        return CNN_ERR(e, CNN_EINVAL, "%s: model.blocks must be a map of block names to "
                       "{args: {...}, layers: [...]}", cfg_where(blocks, w, sizeof w));
    for (int i = 0; i < blocks->n; i++) {
        const cfg_node *b = blocks->items[i];
        if (b->kind != CFG_MAP)
            return CNN_ERR(e, CNN_EINVAL, "%s: block '%s' must be a map {args: {...}, layers: "
                           "[...]}", cfg_where(b, w, sizeof w), blocks->keys[i]);
        CNN_TRY(e, cfg_check_keys(b, keys, NULL, e));
        const cfg_node *args = cfg_get(b, "args"), *layers = cfg_get(b, "layers");
        if (args && args->kind != CFG_MAP)
            return CNN_ERR(e, CNN_EINVAL, "%s: args of block '%s' must be a map of argument "
                           "names to defaults (null = required)", cfg_where(args, w, sizeof w),
                           blocks->keys[i]);
        if (!layers || layers->kind != CFG_SEQ || layers->n == 0)
            return CNN_ERR(e, CNN_EINVAL, "%s: block '%s' needs a non-empty list 'layers:'",
                           cfg_where(layers ? layers : b, w, sizeof w), blocks->keys[i]);
    }
    return CNN_OK;
}

/* The block's declared argument names, NULL-terminated, for cfg_check_keys. */
static const char **declared(const cfg_node *args)
{
    int n = args ? args->n : 0;
    const char **names = cnn_xcalloc((size_t)n + 1, sizeof *names);
    for (int i = 0; i < n; i++)
        names[i] = args->keys[i];
    return names;
}

int net_use_args_check(const cfg_node *use, const cfg_node *def, const char *bname, cnn_err *e)
{
    static const char *const key[] = {"args", "first"};
    char w[256];
    const char **names = declared(cfg_get(def, "args"));
    int rc = CNN_OK;
    for (int k = 0; k < 2 && rc >= 0; k++) {
        const cfg_node *m = cfg_get(use, key[k]);
        if (!m)
            continue;
        if (m->kind != CFG_MAP)
            rc = CNN_ERR(e, CNN_EINVAL, "%s: '%s' of a use of block '%s' must be a map of its "
                         "argument names to values", cfg_where(m, w, sizeof w), key[k], bname);
        else if (m->n && !names[0])
            rc = CNN_ERR(e, CNN_EINVAL, "%s: block '%s' declares no arguments, so '%s' must be "
                         "empty", cfg_where(m, w, sizeof w), bname, key[k]);
        else if ((rc = cfg_check_keys(m, names, NULL, e)) < 0 && e) {
            size_t len = strlen(e->msg);
            snprintf(e->msg + len, sizeof e->msg - len, " (an argument of block '%s')", bname);
        }
    }
    free(names);
    return rc;
}

int net_block_env(net_expander *x, const cfg_node *use, const cfg_node *def, int k,
                  const net_env *caller, net_env *out)
{
    char w[256], b[256];
    const cfg_node *args = cfg_get(def, "args"), *given = cfg_get(use, "args");
    const cfg_node *first = k == 0 ? cfg_get(use, "first") : NULL;
    int n = args ? args->n : 0;
    *out = (net_env){.parent = caller, .owned = true};
    out->names = cnn_xcalloc((size_t)n + 1, sizeof *out->names);
    out->vals = cnn_xcalloc((size_t)n + 1, sizeof *out->vals);
    for (int i = 0; i < n; i++) {
        const char *name = args->keys[i];
        const cfg_node *v = cfg_get(first, name);
        if (!v || net_is_null(v))
            v = cfg_get(given, name);
        if (net_is_null(v))
            v = NULL; /* passing null leaves the argument unset */
        int rc = CNN_OK;
        if (v) /* already substituted with the use */
            rc = net_subst(x, v, NULL, &out->vals[out->n]);
        else if (net_is_null(args->items[i]))
            rc = CNN_ERR(x->e, CNN_EINVAL, "%s: block '%s' needs argument '%s' (declared "
                         "without default at %s); add it to args: {%s: ...}",
                         cfg_where(use, w, sizeof w), cfg_get(use, "block")->str, name,
                         cfg_where(args->items[i], b, sizeof b), name);
        else /* a default may itself be `$name` of the caller */
            rc = net_subst(x, args->items[i], caller, &out->vals[out->n]);
        if (rc < 0) {
            net_env_free(out);
            return rc;
        }
        out->names[out->n++] = name;
    }
    return CNN_OK;
}

int net_block_find(net_expander *x, const cfg_node *use, const cfg_node **def)
{
    char w[256], list[512] = "";
    const cfg_node *b = cfg_get(use, "block");
    if (b->kind != CFG_SCALAR)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: 'block' must be the name of a block of "
                       "model.blocks", cfg_where(b, w, sizeof w));
    *def = cfg_get(x->blocks, b->str);
    if (*def)
        return CNN_OK;
    for (int i = 0; x->blocks && i < x->blocks->n; i++) {
        size_t off = strlen(list);
        snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", x->blocks->keys[i]);
    }
    return CNN_ERR(x->e, CNN_EINVAL, "%s: unknown block '%s'; model.blocks defines: %s",
                   cfg_where(b, w, sizeof w), b->str, list[0] ? list : "none");
}

int net_block_chain_check(net_expander *x, const cfg_node *use)
{
    char w[256], chain[512] = "";
    const char *bn = cfg_get(use, "block")->str;
    bool loop = false;
    for (int i = 0; i < x->n_chain; i++)
        loop |= !strcmp(x->chain[i], bn);
    if (!loop && x->n_chain < NET_MAX_BLOCK_DEPTH)
        return CNN_OK;
    for (int i = 0; i < x->n_chain; i++) {
        size_t off = strlen(chain);
        snprintf(chain + off, sizeof chain - off, "%s -> ", x->chain[i]);
    }
    if (loop)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: block '%s' uses itself (%s%s); a block cannot "
                       "contain itself", cfg_where(use, w, sizeof w), bn, chain, bn);
    return CNN_ERR(x->e, CNN_EINVAL, "%s: blocks nest deeper than %d (%s%s)",
                   cfg_where(use, w, sizeof w), NET_MAX_BLOCK_DEPTH, chain, bn);
}
