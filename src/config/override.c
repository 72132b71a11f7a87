/* `--set a.b.c=VALUE`: grafts a YAML value into the config tree, creating missing maps on
 * the way; a decimal part indexes a list (model.layers.0.out). Every node made here is
 * marked "<--set a.b.c=VALUE>" so later errors point at the override. Ownership of mark
 * strings: a node's marks point into its own file_owned (the parsed value's root, or the
 * created map), and a map's key mark is its value's mark, so freeing any node leaves no
 * dangling mark behind. */
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define SET_KEY_MAX 256

static cfg_node *made_map(const char *fname)
{
    cfg_node *m = cfg_new(CFG_MAP, (cfg_mark){NULL, 1, 1}, NULL);
    m->file_owned = cnn_xstrdup(fname);
    m->mark.file = m->file_owned;
    return m;
}

static int parse_value(const char *text, const char *fname, cfg_node **v, cnn_err *e)
{
    if (*text)
        return config_parse_string(text, strlen(text), fname, v, e);
    /* `--set data.val=` reads as an empty scalar (null), like `val:` in a file. */
    *v = cfg_new(CFG_SCALAR, (cfg_mark){NULL, 1, 1}, "");
    (*v)->file_owned = cnn_xstrdup(fname);
    (*v)->mark.file = (*v)->file_owned;
    return CNN_OK;
}

/* The index of a list item named by a decimal part, or -1. */
static int seq_index(const cfg_node *seq, const char *part)
{
    char *end;
    long i = strtol(part, &end, 10);
    return *end || end == part || i < 0 || i >= seq->n ? -1 : (int)i;
}

static int bad_index(const cfg_node *seq, const char *part, const char *fname,
                     const char *done, cnn_err *e)
{
    return CNN_ERR(e, CNN_EINVAL, "%s:1:1: '%s' is a list of %d items; '%s' is not an index 0 "
                   "to %d", fname, done, seq->n, part, seq->n - 1);
}

/* Puts v at part of parent (a map or a list), replacing what is there. */
static int put(cfg_node *parent, const char *part, cfg_node *v, const char *fname,
               const char *done, cnn_err *e)
{
    if (parent->kind == CFG_SEQ) {
        int i = seq_index(parent, part);
        if (i < 0)
            return bad_index(parent, part, fname, done, e);
        cfg_free(parent->items[i]);
        parent->items[i] = v;
        return CNN_OK;
    }
    for (int i = 0; i < parent->n; i++)
        if (!strcmp(parent->keys[i], part)) {
            cfg_free(parent->items[i]);
            parent->items[i] = v;
            parent->key_marks[i] = v->mark;
            return CNN_OK;
        }
    return cfg_map_put(parent, part, v->mark, v, e);
}

/* Walks to the parent of the last part, making missing maps; *last is the last part. */
static int walk(cfg_node *root, char *key, const char *fname, char *done, cfg_node **parent,
                char **last, cnn_err *e)
{
    char w[256];
    cfg_node *n = root;
    char *part = key, *dot;
    while ((dot = strchr(part, '.'))) {
        *dot = '\0';
        cfg_node *child = NULL;
        if (n->kind == CFG_MAP) {
            child = (cfg_node *)cfg_get(n, part);
            if (!child) {
                child = made_map(fname);
                CNN_TRY(e, cfg_map_put(n, part, child->mark, child, e));
            }
        } else if (seq_index(n, part) < 0) {
            return bad_index(n, part, fname, done, e);
        } else {
            child = n->items[seq_index(n, part)];
        }
        size_t off = strlen(done);
        snprintf(done + off, SET_KEY_MAX - off, "%s%s", off ? "." : "", part);
        if (child->kind == CFG_SCALAR)
            return CNN_ERR(e, CNN_EINVAL, "%s:1:1: cannot set inside '%s': it is a single "
                           "value at %s, not a map or list", fname, done,
                           cfg_where(child, w, sizeof w));
        n = child;
        part = dot + 1;
    }
    *parent = n;
    *last = part;
    return CNN_OK;
}

int config_set(cfg_node *root, const char *assignment, cnn_err *e)
{
    const char *eq = strchr(assignment, '=');
    char fname[SET_KEY_MAX + 64], key[SET_KEY_MAX];
    snprintf(fname, sizeof fname, "<--set %.*s>", SET_KEY_MAX + 32, assignment);
    if (!eq || eq == assignment)
        return CNN_ERR(e, CNN_EINVAL, "--set '%s': expected KEY=VALUE, e.g. --set optim.lr=0.2",
                       assignment);
    if ((size_t)(eq - assignment) >= sizeof key)
        return CNN_ERR(e, CNN_EINVAL, "--set: the key is longer than %d characters",
                       SET_KEY_MAX - 1);
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    if (key[0] == '.' || key[strlen(key) - 1] == '.' || strstr(key, ".."))
        return CNN_ERR(e, CNN_EINVAL, "%s:1:1: '%s' has an empty part; keys are written "
                       "like optim.lr or model.args.num_classes", fname, key);
    if (root->kind != CFG_MAP)
        return CNN_ERR(e, CNN_EINVAL, "%s:1:1: the config is not a map of keys, so '%s' "
                       "cannot be set", fname, key);
    cfg_node *parent = NULL, *v;
    char *last = NULL, done[SET_KEY_MAX] = "";
    CNN_TRY(e, parse_value(eq + 1, fname, &v, e));
    int rc = walk(root, key, fname, done, &parent, &last, e);
    if (rc >= 0)
        rc = put(parent, last, v, fname, done, e);
    if (rc < 0)
        cfg_free(v);
    return rc;
}
