/* Scopes and names of the model language: every emitted item gets a local name (its own or
 * its index in the scope, as torch.nn.Sequential numbers children), named groups and block
 * uses open nested scopes, and a name read by `input:`/`inputs:`/`indices:` is looked up
 * among the items already emitted in the current scope, then outwards. A name that matches
 * nothing is re-checked once expansion ends, so a forward reference gets its own message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

net_scope *net_scope_new(net_expander *x, net_scope *parent, const char *full)
{
    net_scope *s = cnn_xcalloc(1, sizeof *s);
    s->parent = parent;
    snprintf(s->prefix, sizeof s->prefix, "%s", full ? full : "");
    if (x->n_scopes == x->cap_scopes) {
        x->cap_scopes = x->cap_scopes ? 2 * x->cap_scopes : 16;
        net_scope **g = realloc(x->scopes, (size_t)x->cap_scopes * sizeof *g);
        if (!g)
            cnn_fatal("out of host memory for %d scopes", x->cap_scopes);
        x->scopes = g;
    }
    x->scopes[x->n_scopes++] = s;
    return s;
}

static net_ent *find_local(const net_scope *sc, const char *name)
{
    for (int i = 0; i < sc->n_ents; i++)
        if (!strcmp(sc->ents[i]->name, name))
            return sc->ents[i];
    return NULL;
}

int net_full_name(net_expander *x, const net_scope *sc, const char *local, cfg_mark m,
                  char *out)
{
    char w[256];
    size_t lp = strlen(sc->prefix), ll = strlen(local);
    if (lp + (lp ? 1 : 0) + ll >= LAYER_NAME_MAX)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: the full name '%s.%s' is longer than %d "
                       "characters; use shorter names", net_where(m, w, sizeof w), sc->prefix,
                       local, LAYER_NAME_MAX - 1);
    if (lp)
        snprintf(out, LAYER_NAME_MAX, "%s.%s", sc->prefix, local);
    else
        snprintf(out, LAYER_NAME_MAX, "%s", local);
    return CNN_OK;
}

static int dup_error(net_expander *x, const net_scope *sc, const char *name, cfg_mark m,
                     const net_ent *old)
{
    char a[256], b[256];
    return CNN_ERR(x->e, CNN_EINVAL, "%s: name '%s' is already used in %s%s%s at %s; names "
                   "must be unique in their scope (rename one of them)",
                   net_where(m, a, sizeof a), name, sc->prefix[0] ? "scope '" : "the top scope",
                   sc->prefix, sc->prefix[0] ? "'" : "", net_where(old->mark, b, sizeof b));
}

int net_name_check(net_expander *x, const cfg_node *name, net_scope *sc)
{
    static const char *const reserved[] = {"input", "target", "in"};
    char w[256], full[LAYER_NAME_MAX];
    if (name->kind != CFG_SCALAR || !name->str[0])
        return CNN_ERR(x->e, CNN_EINVAL, "%s: 'name' must be a non-empty string",
                       cfg_where(name, w, sizeof w));
    if (strchr(name->str, '.'))
        return CNN_ERR(x->e, CNN_EINVAL, "%s: name '%s' contains '.'; dots separate scopes "
                       "in full names, so a name may not contain one", cfg_where(name, w, sizeof w),
                       name->str);
    /* Names become HDF5 dataset names in checkpoints, where '/' separates groups. */
    if (strchr(name->str, '/'))
        return CNN_ERR(x->e, CNN_EINVAL, "%s: name '%s' contains '/', which checkpoints (HDF5) "
                       "read as a group separator; choose another", cfg_where(name, w, sizeof w),
                       name->str);
    for (int i = 0; i < 3; i++)
        if (!strcmp(name->str, reserved[i]))
            return CNN_ERR(x->e, CNN_EINVAL, "%s: name '%s' is reserved (input, target and in "
                           "name the image batch, the labels and the scope's input); choose "
                           "another", cfg_where(name, w, sizeof w), name->str);
    if (!sc->parent && !strcmp(name->str, "loss"))
        return CNN_ERR(x->e, CNN_EINVAL, "%s: name 'loss' is taken by the loss node that "
                       "model.loss appends; choose another", cfg_where(name, w, sizeof w));
    const net_ent *old = find_local(sc, name->str);
    if (old)
        return dup_error(x, sc, name->str, name->mark, old);
    return net_full_name(x, sc, name->str, name->mark, full);
}

int net_scope_add(net_expander *x, net_scope *sc, const char *name, net_ent_kind kind,
                  int value, cfg_mark mark, net_ent **out)
{
    char local[LAYER_NAME_MAX], full[LAYER_NAME_MAX];
    if (name)
        snprintf(local, sizeof local, "%s", name);
    else
        snprintf(local, sizeof local, "%d", sc->n_index);
    const net_ent *old = find_local(sc, local);
    if (old) /* an index that a numeric name took earlier */
        return dup_error(x, sc, local, mark, old);
    CNN_TRY(x->e, net_full_name(x, sc, local, mark, full));
    net_ent *t = cnn_xcalloc(1, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", local);
    t->kind = kind;
    t->value = value;
    t->mark = mark;
    if (kind != NET_ENT_ALIAS)
        sc->n_index++;
    if (sc->n_ents == sc->cap) {
        sc->cap = sc->cap ? 2 * sc->cap : 8;
        net_ent **g = realloc(sc->ents, (size_t)sc->cap * sizeof *g);
        if (!g)
            cnn_fatal("out of host memory for %d names", sc->cap);
        sc->ents = g;
    }
    sc->ents[sc->n_ents++] = t;
    if (out)
        *out = t;
    return CNN_OK;
}

/* The entry a dotted name reaches from sc outwards, or NULL; *why says what went wrong when
 * the first part matched but the rest did not. */
static const net_ent *find(const net_scope *sc, const char *name, char *why, size_t n)
{
    char part[LAYER_NAME_MAX];
    why[0] = 0;
    size_t len = strcspn(name, ".");
    if (len >= sizeof part)
        return NULL;
    memcpy(part, name, len);
    part[len] = 0;
    for (const net_scope *s = sc; s; s = s->parent) {
        const net_ent *t = find_local(s, part);
        if (!t)
            continue;
        for (const char *rest = name + len; *rest == '.'; rest += len) {
            rest++;
            len = strcspn(rest, ".");
            if (len >= sizeof part) {
                snprintf(why, n, "a part of it is too long");
                return NULL;
            }
            memcpy(part, rest, len);
            part[len] = 0;
            const net_ent *in = t->kind == NET_ENT_SCOPE ? find_local(t->child, part) : NULL;
            if (!in) {
                snprintf(why, n, "'%s' %s no item '%s'", t->name,
                         t->kind == NET_ENT_SCOPE ? "has" : "is not a group, so it has", part);
                return NULL;
            }
            t = in;
        }
        return t;
    }
    return NULL;
}

/* A few names visible from sc, nearest first. */
static void visible(const net_scope *sc, char *buf, size_t n)
{
    size_t off = 0;
    int shown = 0;
    buf[0] = 0;
    for (const net_scope *s = sc; s && shown < 10; s = s->parent)
        for (int i = s->n_ents - 1; i >= 0 && shown < 10 && off + 1 < n; i--, shown++) {
            int w = snprintf(buf + off, n - off, "%s", s->ents[i]->name);
            off += w > 0 ? (size_t)w : 0;
            if (off + 2 < n) {
                memcpy(buf + off, ", ", 3);
                off += 2;
            }
        }
    if (off < n)
        snprintf(buf + off, n - off, "in, input");
}

int net_resolve(net_expander *x, const net_frame *f, const char *name, cfg_mark m,
                const char *what, int *value)
{
    char w[256], why[192];
    *value = NET_INPUT;
    if (!strcmp(name, "input"))
        return CNN_OK;
    if (!strcmp(name, "in")) {
        *value = f->in;
        return CNN_OK;
    }
    if (!strcmp(name, "target"))
        return CNN_ERR(x->e, CNN_EINVAL, "%s: %s 'target': the labels are read only by the loss "
                       "node that model.loss appends; a layer cannot read them",
                       net_where(m, w, sizeof w), what);
    const net_ent *t = find(f->sc, name, why, sizeof why);
    if (t && t->value == NET_OPEN)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: %s '%s' names the group that contains this layer, "
                       "whose output comes after it; a layer can only read earlier layers, so the "
                       "graph cannot have a cycle", net_where(m, w, sizeof w), what, name);
    if (t) {
        *value = t->value;
        return CNN_OK;
    }
    if (why[0])
        return CNN_ERR(x->e, CNN_EINVAL, "%s: %s '%s' names nothing: %s",
                       net_where(m, w, sizeof w), what, name, why);
    if (!x->pending) {
        x->pending = true;
        snprintf(x->pending_name, sizeof x->pending_name, "%s", name);
        snprintf(x->pending_what, sizeof x->pending_what, "%s", what);
        visible(f->sc, x->pending_visible, sizeof x->pending_visible);
        x->pending_mark = m;
        x->pending_sc = f->sc;
    }
    return CNN_OK;
}

int net_pending_report(net_expander *x)
{
    char w[256], b[256], why[192];
    const net_ent *t = find(x->pending_sc, x->pending_name, why, sizeof why);
    if (t)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: %s '%s' names the item at %s, which comes after "
                       "this layer (or is this layer); a layer can only read earlier layers, so "
                       "the graph cannot have a cycle", net_where(x->pending_mark, w, sizeof w),
                       x->pending_what, x->pending_name, net_where(t->mark, b, sizeof b));
    return CNN_ERR(x->e, CNN_EINVAL, "%s: %s '%s' names nothing before this layer; names "
                   "visible here: %s", net_where(x->pending_mark, w, sizeof w), x->pending_what,
                   x->pending_name, x->pending_visible);
}
