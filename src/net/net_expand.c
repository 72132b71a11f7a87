/* Expansion of the model language (docs/models.md): items of a `layers:` list become layers
 * in execution order, wired by name. Layers, groups and block uses share the header keys
 * name/input/if/repeat; a named group or block use opens a scope, an unnamed one is spliced
 * into the enclosing scope. Every layer is created from a substituted copy of its YAML map,
 * so its own key checks and messages point at the user's text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

static int expand_body(net_expander *x, const cfg_node *list, net_frame *f, int *prev);

static int eval_if(net_expander *x, const cfg_node *v, bool *on)
{
    char w[256];
    *on = true;
    if (!v)
        return CNN_OK;
    if (v->kind == CFG_SCALAR && (!strcmp(v->str, "true") || !strcmp(v->str, "True")))
        return CNN_OK;
    if (v->kind == CFG_SCALAR && (!strcmp(v->str, "false") || !strcmp(v->str, "False"))) {
        *on = false;
        return CNN_OK;
    }
    return CNN_ERR(x->e, CNN_EINVAL, "%s: 'if' must be true or false (after substituting "
                   "arguments), got %s%s%s", cfg_where(v, w, sizeof w),
                   v->kind == CFG_SCALAR ? "'" : "",
                   v->kind == CFG_SCALAR ? v->str : v->kind == CFG_SEQ ? "a list" : "a map",
                   v->kind == CFG_SCALAR ? "'" : "");
}

/* What an item reads: `input: NAME`, else the previous item's output. */
static int item_input(net_expander *x, const cfg_node *item, const net_frame *f, int prev,
                      int *in)
{
    char w[256];
    const cfg_node *v = cfg_get(item, "input");
    *in = prev;
    if (!v)
        return CNN_OK;
    if (v->kind != CFG_SCALAR)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: 'input' must be one name (a layer reading "
                       "several takes inputs: [a, b])", cfg_where(v, w, sizeof w));
    return net_resolve(x, f, v->str, v->mark, "input", in);
}

static int layer_inputs(net_expander *x, const cfg_node *spec, const net_frame *f, int prev,
                        int *ins, int *n)
{
    char w[256];
    const cfg_node *v = cfg_get(spec, "inputs");
    *n = 1;
    if (!v)
        return item_input(x, spec, f, prev, &ins[0]);
    if (cfg_get(spec, "input"))
        return CNN_ERR(x->e, CNN_EINVAL, "%s: a layer has 'input' (one name) or 'inputs' (a "
                       "list), not both", cfg_where(v, w, sizeof w));
    if (v->kind != CFG_SEQ || v->n < 1 || v->n > LAYER_MAX_INPUTS)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: 'inputs' must be a list of 1 to %d names",
                       cfg_where(v, w, sizeof w), LAYER_MAX_INPUTS);
    for (int i = 0; i < v->n; i++) {
        const cfg_node *s = v->items[i];
        if (s->kind != CFG_SCALAR)
            return CNN_ERR(x->e, CNN_EINVAL, "%s: each of 'inputs' must be a name",
                           cfg_where(s, w, sizeof w));
        CNN_TRY(x->e, net_resolve(x, f, s->str, s->mark, "input", &ins[i]));
    }
    *n = v->n;
    return CNN_OK;
}

/* A reference besides the inputs (max_unpool2d's indices) names an earlier layer. */
static int resolve_ref(net_expander *x, const net_frame *f, const cfg_node *spec, layer *l)
{
    char w[256];
    const char *key = "reference";
    cfg_mark m = spec->mark;
    if (!l->ref_name[0])
        return CNN_OK;
    for (int i = 0; i < spec->n; i++)
        if (spec->items[i]->kind == CFG_SCALAR && !strcmp(spec->items[i]->str, l->ref_name)) {
            key = spec->keys[i];
            m = spec->items[i]->mark;
        }
    bool was_pending = x->pending;
    int v;
    CNN_TRY(x->e, net_resolve(x, f, l->ref_name, m, key, &v));
    if (x->pending && !was_pending)
        return CNN_OK; /* reported once expansion ends */
    if (v < 0)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: %s '%s' names the input batch, not a layer",
                       net_where(m, w, sizeof w), key, l->ref_name);
    l->ref = x->nodes[v].l;
    snprintf(l->ref_name, sizeof l->ref_name, "%s", l->ref->name);
    return CNN_OK;
}

static int push_node(net_expander *x, layer *l, const int *ins, int n_in)
{
    if (x->n_nodes == x->cap_nodes) {
        x->cap_nodes = x->cap_nodes ? 2 * x->cap_nodes : 64;
        net_node *g = realloc(x->nodes, (size_t)x->cap_nodes * sizeof *g);
        if (!g)
            cnn_fatal("out of host memory for %d nodes", x->cap_nodes);
        x->nodes = g;
    }
    net_node *nd = &x->nodes[x->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->l = l;
    nd->n_in = n_in;
    memcpy(nd->in, ins, (size_t)n_in * sizeof *ins);
    return x->n_nodes++;
}

/* spec: the item's substituted copy (owned by the caller). */
static int emit_layer(net_expander *x, cfg_node *spec, net_frame *f, int *prev)
{
    char w[256], local[LAYER_NAME_MAX], full[LAYER_NAME_MAX];
    bool on;
    int ins[LAYER_MAX_INPUTS], n_in;
    cfg_node *name = (cfg_node *)cfg_get(spec, "name");
    CNN_TRY(x->e, eval_if(x, cfg_get(spec, "if"), &on));
    if (name)
        CNN_TRY(x->e, net_name_check(x, name, f->sc));
    CNN_TRY(x->e, layer_inputs(x, spec, f, *prev, ins, &n_in));
    if (!on)
        return name ? net_scope_add(x, f->sc, name->str, NET_ENT_ALIAS, ins[0], name->mark, NULL)
                    : CNN_OK;
    if (x->n_nodes >= NET_MAX_NODES - 1)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: the model expands to more than %d layers; check "
                       "its repeat counts", cfg_where(spec, w, sizeof w), NET_MAX_NODES - 1);
    if (name)
        snprintf(local, sizeof local, "%s", name->str);
    else
        snprintf(local, sizeof local, "%d", f->sc->n_index);
    CNN_TRY(x->e, net_full_name(x, f->sc, local, spec->mark, full));
    if (name) { /* the layer's own messages then show the full name */
        free(name->str);
        name->str = cnn_xstrdup(full);
    }
    layer *l;
    int rc = layer_create(spec, full, &l, x->e);
    if (rc < 0) { /* a layer's own check may not cite the text: point at the item */
        const char *file = spec->mark.file ? spec->mark.file : "<config>";
        if (x->e && !strstr(x->e->msg, file))
            cnn_err_prefix(x->e, "%s: ", cfg_where(spec, w, sizeof w));
        return rc;
    }
    snprintf(l->name, sizeof l->name, "%s", full);
    rc = resolve_ref(x, f, spec, l);
    if (rc >= 0)
        rc = net_scope_add(x, f->sc, name ? local : NULL, NET_ENT_NODE, x->n_nodes,
                           name ? name->mark : spec->mark, NULL);
    if (rc < 0) {
        layer_destroy(l);
        return rc;
    }
    *prev = push_node(x, l, ins, n_in);
    return CNN_OK;
}

/* A copy of map with every value substituted, except the one under skip (may be NULL). */
static int subst_except(net_expander *x, const cfg_node *map, const char *skip,
                        const net_env *env, cfg_node **out)
{
    cfg_node *c = cfg_new(CFG_MAP, map->mark, NULL);
    for (int i = 0; i < map->n; i++) {
        if (skip && !strcmp(map->keys[i], skip))
            continue;
        cfg_node *v;
        int rc = net_subst(x, map->items[i], env, &v);
        if (rc >= 0)
            rc = cfg_map_put(c, map->keys[i], map->key_marks[i], v, x->e);
        if (rc < 0) {
            cfg_free(v);
            cfg_free(c);
            return rc;
        }
    }
    *out = c;
    return CNN_OK;
}

/* A group or block use after its header (name, if, repeat, input) is read. */
typedef struct copies {
    const cfg_node *list;            /* its items */
    const cfg_node *name;            /* NULL: spliced */
    int repeat, in;
    const cfg_node *use, *def;       /* block use (substituted) and definition, or NULL */
} copies;

static int header(net_expander *x, const cfg_node *h, const net_frame *f, int prev, copies *c,
                  bool *on)
{
    char w[256];
    CNN_TRY(x->e, eval_if(x, cfg_get(h, "if"), on));
    c->name = cfg_get(h, "name");
    if (c->name)
        CNN_TRY(x->e, net_name_check(x, c->name, f->sc));
    int64_t r;
    CNN_TRY(x->e, cfg_int(h, "repeat", false, 1, &r, x->e));
    if (r < 1 || r > NET_MAX_NODES)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: repeat=%lld must be 1 to %d",
                       cfg_where(cfg_get(h, "repeat"), w, sizeof w), (long long)r,
                       NET_MAX_NODES);
    c->repeat = (int)r;
    CNN_TRY(x->e, item_input(x, h, f, prev, &c->in));
    if (!*on && c->name)
        CNN_TRY(x->e, net_scope_add(x, f->sc, c->name->str, NET_ENT_ALIAS, c->in,
                                    c->name->mark, NULL));
    return CNN_OK;
}

/* One copy: its scope (named, or a sub-scope k of a named repeat) or the enclosing one. */
static int expand_copy(net_expander *x, const copies *c, net_scope *named, int k,
                       const net_frame *f, int *cur)
{
    net_scope *sc = named ? named : f->sc;
    net_ent *sub = NULL;
    if (named && c->repeat > 1) {
        char full[LAYER_NAME_MAX];
        CNN_TRY(x->e, net_scope_add(x, named, NULL, NET_ENT_SCOPE, NET_OPEN, c->name->mark,
                                    &sub));
        CNN_TRY(x->e, net_full_name(x, named, sub->name, c->name->mark, full));
        sc = sub->child = net_scope_new(x, named, full);
    }
    net_env env = {0};
    if (c->def)
        CNN_TRY(x->e, net_block_env(x, c->use, c->def, k, f->env, &env));
    net_frame g = {.sc = sc, .in = *cur, .env = c->def ? &env : f->env, .depth = f->depth + 1};
    if (c->def)
        x->chain[x->n_chain++] = cfg_get(c->use, "block")->str;
    int rc = expand_body(x, c->list, &g, cur);
    if (c->def)
        x->n_chain--;
    net_env_free(&env);
    if (sub)
        sub->value = *cur;
    return rc;
}

static int expand_copies(net_expander *x, const copies *c, const net_frame *f, int *prev)
{
    net_ent *ent = NULL;
    net_scope *named = NULL;
    if (c->name) {
        char full[LAYER_NAME_MAX];
        CNN_TRY(x->e, net_scope_add(x, f->sc, c->name->str, NET_ENT_SCOPE, NET_OPEN,
                                    c->name->mark, &ent));
        CNN_TRY(x->e, net_full_name(x, f->sc, c->name->str, c->name->mark, full));
        named = ent->child = net_scope_new(x, f->sc, full);
    }
    int cur = c->in;
    for (int k = 0; k < c->repeat; k++)
        CNN_TRY(x->e, expand_copy(x, c, named, k, f, &cur));
    if (ent)
        ent->value = cur;
    *prev = cur;
    return CNN_OK;
}

static int expand_group(net_expander *x, const cfg_node *item, net_frame *f, int *prev)
{
    static const char *const keys[] = {"layers", "name", "input", "if", "repeat", NULL};
    CNN_TRY(x->e, cfg_check_keys(item, keys, NULL, x->e));
    cfg_node *h;
    CNN_TRY(x->e, subst_except(x, item, "layers", f->env, &h));
    copies c = {.list = cfg_get(item, "layers")};
    bool on;
    int rc = header(x, h, f, *prev, &c, &on);
    if (rc >= 0 && on)
        rc = expand_copies(x, &c, f, prev);
    cfg_free(h);
    return rc;
}

static int expand_use(net_expander *x, const cfg_node *item, net_frame *f, int *prev)
{
    static const char *const keys[] = {"block", "name", "args",  "first",
                                       "repeat", "input", "if", NULL};
    CNN_TRY(x->e, cfg_check_keys(item, keys, NULL, x->e));
    cfg_node *h;
    CNN_TRY(x->e, subst_except(x, item, NULL, f->env, &h));
    copies c = {.use = h};
    bool on = false;
    int rc = net_block_find(x, h, &c.def);
    if (rc >= 0)
        rc = net_use_args_check(h, c.def, cfg_get(h, "block")->str, x->e);
    if (rc >= 0)
        rc = header(x, h, f, *prev, &c, &on);
    if (rc >= 0 && on)
        rc = net_block_chain_check(x, h);
    if (rc >= 0 && on) {
        c.list = cfg_get(c.def, "layers");
        rc = expand_copies(x, &c, f, prev);
    }
    cfg_free(h);
    return rc;
}

static int expand_map(net_expander *x, const cfg_node *item, net_frame *f, int *prev)
{
    static const char *const all[] = {"type", "layers", "block", "name", "input", "inputs",
                                      "if", "repeat", "args", "first", NULL};
    char w[256];
    bool t = cfg_get(item, "type"), g = cfg_get(item, "layers"), b = cfg_get(item, "block");
    if (t + g + b > 1)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: an item is a layer (type:), a group (layers:) or "
                       "a block use (block:); this one has %s", cfg_where(item, w, sizeof w),
                       t && g ? "both type and layers" : t ? "both type and block"
                                                           : "both layers and block");
    if (g)
        return expand_group(x, item, f, prev);
    if (b)
        return expand_use(x, item, f, prev);
    if (!t) {
        CNN_TRY(x->e, cfg_check_keys(item, all, NULL, x->e));
        return CNN_ERR(x->e, CNN_EINVAL, "%s: an item needs 'type:' (a layer), 'layers:' (a "
                       "group) or 'block:' (a block use)", cfg_where(item, w, sizeof w));
    }
    cfg_node *spec;
    CNN_TRY(x->e, net_subst(x, item, f->env, &spec));
    int rc = emit_layer(x, spec, f, prev);
    cfg_free(spec);
    return rc;
}

static int expand_item(net_expander *x, const cfg_node *item, net_frame *f, int *prev)
{
    char w[256];
    CNN_TRY(x->e, net_spend(x, 1, item->mark));
    if (item->kind == CFG_MAP)
        return expand_map(x, item, f, prev);
    if (item->kind == CFG_SEQ)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: an item of 'layers' is a layer type or a map "
                       "(type:, layers: or block:), not a list", cfg_where(item, w, sizeof w));
    /* Shorthand `relu` (or `$act`, whose value may be a whole layer map). */
    cfg_node *v;
    CNN_TRY(x->e, net_subst(x, item, f->env, &v));
    if (v->kind == CFG_SCALAR) {
        cfg_node *m = cfg_new(CFG_MAP, v->mark, NULL);
        CNN_ASSERT(cfg_map_put(m, "type", v->mark, v, x->e) == CNN_OK);
        v = m;
    }
    int rc = v->kind == CFG_MAP ? expand_map(x, v, f, prev)
                                : CNN_ERR(x->e, CNN_EINVAL, "%s: an item of 'layers' is a layer "
                                          "type or a map, not a list", cfg_where(v, w, sizeof w));
    cfg_free(v);
    return rc;
}

static int expand_body(net_expander *x, const cfg_node *list, net_frame *f, int *prev)
{
    char w[256];
    if (!list || list->kind != CFG_SEQ)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: 'layers' must be a list of items",
                       list ? cfg_where(list, w, sizeof w) : "<config>");
    if (f->depth > NET_MAX_NEST)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: groups and blocks nest deeper than %d levels",
                       cfg_where(list, w, sizeof w), NET_MAX_NEST);
    for (int i = 0; i < list->n; i++)
        CNN_TRY(x->e, expand_item(x, list->items[i], f, prev));
    return CNN_OK;
}

int net_expand(net_expander *x, const cfg_node *layers, const net_env *top, int *output)
{
    char w[256];
    net_frame f = {.sc = net_scope_new(x, NULL, ""), .in = NET_INPUT, .env = top};
    int prev = NET_INPUT;
    int rc = expand_body(x, layers, &f, &prev);
    if (x->pending)
        rc = net_pending_report(x);
    if (rc < 0)
        return rc;
    if (prev < 0)
        return CNN_ERR(x->e, CNN_EINVAL, "%s: model.layers emits no layer (every item is "
                       "skipped or reads the input); the model needs at least one",
                       cfg_where(layers, w, sizeof w));
    *output = prev;
    return CNN_OK;
}

void net_expander_free(net_expander *x)
{
    for (int i = 0; i < x->n_scopes; i++) {
        for (int j = 0; j < x->scopes[i]->n_ents; j++)
            free(x->scopes[i]->ents[j]);
        free(x->scopes[i]->ents);
        free(x->scopes[i]);
    }
    free(x->scopes);
    for (int i = 0; i < x->n_nodes; i++)
        layer_destroy(x->nodes[i].l);
    free(x->nodes);
    memset(x, 0, sizeof *x);
}
