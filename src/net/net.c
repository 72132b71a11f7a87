/* net_create: the `model:` map to a graph (expansion in net_expand.c), the loss node, shape
 * inference in node order, which nodes need gradients, where backward must add instead of
 * overwrite, the state_dict registry, then the memory plan (net_plan.c). Also the lookups
 * and net_destroy. net_opts.soft_targets makes a classifier's target f32 probabilities;
 * net_opts.inference a forward-only net (no node needs a gradient). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

static int read_input(const cfg_node *model, int batch, shape *s, cnn_err *e)
{
    char w[256];
    const cfg_node *v = cfg_get(model, "input");
    if (!v)
        return CNN_ERR(e, CNN_EINVAL, "%s: model needs 'input:', the shape of one sample "
                       "such as [3, 224, 224] (C, H, W)", cfg_where(model, w, sizeof w));
    if (v->kind != CFG_SEQ || v->n < 1 || v->n > CNN_MAX_DIMS - 1)
        return CNN_ERR(e, CNN_EINVAL, "%s: model.input must be a list of 1 to %d positive "
                       "integers, the shape of one sample such as [3, 224, 224]",
                       cfg_where(v, w, sizeof w), CNN_MAX_DIMS - 1);
    s->nd = v->n + 1;
    s->d[0] = batch;
    for (int i = 0; i < v->n; i++) {
        const cfg_node *d = v->items[i];
        char *end = NULL;
        long long x = d->kind == CFG_SCALAR ? strtoll(d->str, &end, 10) : 0;
        if (d->kind != CFG_SCALAR || end == d->str || *end || x < 1 || x > (1LL << 31))
            return CNN_ERR(e, CNN_EINVAL, "%s: model.input[%d] must be a positive integer",
                           cfg_where(d, w, sizeof w), i);
        s->d[i + 1] = x;
    }
    return CNN_OK;
}

static int top_env(const cfg_node *model, net_env *env, cnn_err *e)
{
    char w[256];
    const cfg_node *args = cfg_get(model, "args");
    *env = (net_env){0};
    if (!args)
        return CNN_OK;
    if (args->kind != CFG_MAP)
        return CNN_ERR(e, CNN_EINVAL, "%s: model.args must be a map of names to values, such "
                       "as {num_classes: 1000}", cfg_where(args, w, sizeof w));
    env->n = args->n;
    env->names = cnn_xcalloc((size_t)args->n + 1, sizeof *env->names);
    env->vals = cnn_xcalloc((size_t)args->n + 1, sizeof *env->vals);
    for (int i = 0; i < args->n; i++) {
        env->names[i] = args->keys[i];
        env->vals[i] = args->items[i];
    }
    return CNN_OK;
}

/* model.loss as a layer named "loss"; a scalar is its type; without one (absent, or a map
 * of keys only, as --set model.loss.label_smoothing=0.1 makes) it is softmax_cross_entropy. */
static int loss_create(const cfg_node *model, layer **l, cnn_err *e)
{
    static const char *const wiring[] = {"name", "input", "inputs", "if"};
    static const char *const default_type = "softmax_cross_entropy";
    char w[256];
    const cfg_node *v = cfg_get(model, "loss");
    cfg_node *own = NULL;
    if (!v || v->kind == CFG_SCALAR) {
        cfg_mark m = v ? v->mark : model->mark;
        own = cfg_new(CFG_MAP, m, NULL);
        CNN_ASSERT(cfg_map_put(own, "type", m,
                               cfg_new(CFG_SCALAR, m, v ? v->str : default_type),
                               e) == CNN_OK);
        v = own;
    }
    const char *type = NULL;
    int rc = v->kind == CFG_MAP ? cfg_str(v, "type", false, default_type, &type, e)
                                : CNN_ERR(e, CNN_EINVAL, "%s: model.loss must be a map such "
                                          "as {type: softmax_cross_entropy}",
                                          cfg_where(v, w, sizeof w));
    const layer_ops *ops = rc >= 0 ? layer_ops_find(type) : NULL;
    if (ops && !ops->loss) {
        char known[256];
        rc = CNN_ERR(e, CNN_EINVAL, "%s: model.loss type '%s' is not a loss; use one of %s",
                     cfg_where(cfg_get(v, "type"), w, sizeof w), type,
                     layer_loss_types_list(known, sizeof known));
    }
    for (int i = 0; i < 4 && rc >= 0; i++)
        if (cfg_get(v, wiring[i]))
            rc = CNN_ERR(e, CNN_EINVAL, "%s: model.loss takes no '%s': the loss is the node "
                         "'loss' and reads the model's output and the target",
                         cfg_where(cfg_get(v, wiring[i]), w, sizeof w), wiring[i]);
    if (rc >= 0)
        rc = layer_create_default(v, default_type, "loss", l, e);
    cfg_free(own);
    return rc;
}

/* Soft targets (mixup, CutMix): f32 (N, classes), for a classifier only. */
static int soft_target_of(net *n, cnn_err *e)
{
    char w[256], a[96];
    const layer *out = n->nodes[n->output].l, *loss = n->nodes[n->loss].l;
    if (!net_loss_decl(n).soft_targets)
        return CNN_ERR(e, CNN_EINVAL, "%s: mixup/CutMix (train.mixup, train.cutmix) need a "
                       "classifier trained with a loss that takes soft targets "
                       "(softmax_cross_entropy), but the loss is %s; set both to 0 for this "
                       "model", net_where(loss->mark, w, sizeof w), loss->ops->type);
    if (out->out.nd != 2)
        return CNN_ERR(e, CNN_EINVAL, "%s: mixup/CutMix (train.mixup, train.cutmix) need a "
                       "classifier with (N, classes) output, but the model's output '%s' is "
                       "%s (a per-pixel model); set both to 0 for this model",
                       net_where(out->mark, w, sizeof w), out->name,
                       shape_str(&out->out, a, sizeof a));
    n->target_shape = out->out;
    n->target_dt = DTYPE_F32;
    return CNN_OK;
}

/* The target, as the loss declares it: a dense one has the output's shape (f32); labels
 * are the output's shape without dim 1 (i32), or f32 (N, classes) probabilities with
 * soft_targets. */
static int target_of(net *n, const net_opts *o, cnn_err *e)
{
    const layer *out = n->nodes[n->output].l;
    if (o->soft_targets)
        return soft_target_of(n, e);
    if (net_loss_decl(n).target == LOSS_DENSE) {
        n->target_shape = out->out;
        n->target_dt = DTYPE_F32;
        return CNN_OK;
    }
    n->target_dt = DTYPE_I32;
    n->target_shape = (shape){.nd = out->out.nd > 1 ? out->out.nd - 1 : 1};
    n->target_shape.d[0] = out->out.d[0];
    for (int k = 1; k < n->target_shape.nd; k++)
        n->target_shape.d[k] = out->out.d[k + 1];
    return CNN_OK;
}

static int infer_all(net *n, const net_opts *o, cnn_err *e)
{
    char w[256];
    for (int i = 0; i < n->n_nodes; i++) {
        net_node *nd = &n->nodes[i];
        shape in[LAYER_MAX_INPUTS];
        dtype dt[LAYER_MAX_INPUTS];
        if (i == n->loss)
            CNN_TRY(e, target_of(n, o, e));
        for (int j = 0; j < nd->n_in; j++) {
            int p = nd->in[j];
            in[j] = p == NET_INPUT ? n->in_shape : p == NET_TARGET ? n->target_shape
                                                                    : n->nodes[p].l->out;
            dt[j] = p == NET_INPUT ? n->precision : p == NET_TARGET ? n->target_dt
                                                                 : n->nodes[p].l->out_dt;
        }
        nd->l->lay = n->lay;
        if (layer_infer(nd->l, in, dt, nd->n_in, e) < 0) {
            cfg_mark m = nd->l->mark;
            cnn_err_prefix(e, "%s: ", net_where(m, w, sizeof w));
            return CNN_EINVAL;
        }
    }
    return CNN_OK;
}

/* needs_grad: a parameter upstream and a path to the loss; acc: the producer's gradient
 * was already written by a consumer that runs earlier in backward order. */
static void analyse(net *n)
{
    net_impl *im = n->impl;
    int N = n->n_nodes;
    bool *up = cnn_xcalloc((size_t)N, 1), *reach = cnn_xcalloc((size_t)N, 1);
    bool *seen = cnn_xcalloc((size_t)N, 1);
    for (int i = 0; i < N; i++) {
        const layer *l = n->nodes[i].l;
        for (int s = 0; s < l->n_slots; s++)
            im->pn[i].has_params |= l->slots[s].kind == SLOT_PARAM;
        up[i] = im->pn[i].has_params;
        for (int j = 0; j < n->nodes[i].n_in; j++)
            up[i] |= n->nodes[i].in[j] >= 0 && up[n->nodes[i].in[j]];
    }
    reach[n->loss] = true;
    for (int i = N - 1; i >= 0; i--)
        for (int j = 0; reach[i] && j < n->nodes[i].n_in; j++)
            if (n->nodes[i].in[j] >= 0)
                reach[n->nodes[i].in[j]] = true;
    for (int i = N - 1; i >= 0; i--) {
        net_node *nd = &n->nodes[i];
        nd->needs_grad = up[i] && reach[i] && !n->inference;
        for (int j = 0; nd->needs_grad && j < nd->n_in; j++) {
            int p = nd->in[j];
            if (p < 0 || !(up[p] && reach[p]))
                continue;
            nd->acc[j] = seen[p];
            seen[p] = true;
        }
    }
    free(up);
    free(reach);
    free(seen);
}

static void registry(net *n)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n->n_nodes; i++) {
            layer *l = n->nodes[i].l;
            for (int s = 0; s < l->n_slots; s++) {
                slot_kind k = l->slots[s].kind;
                if (k != SLOT_PARAM && k != SLOT_BUFFER)
                    continue;
                net_entry *t = NULL;
                if (k == SLOT_PARAM && pass)
                    t = &n->params[n->n_params];
                else if (k == SLOT_BUFFER && pass)
                    t = &n->buffers[n->n_buffers];
                *(k == SLOT_PARAM ? &n->n_params : &n->n_buffers) += 1;
                if (!t)
                    continue;
                snprintf(t->key, sizeof t->key, "%s.%s", l->name, l->slots[s].name);
                t->node = i;
                t->slot = &l->slots[s];
            }
        }
        if (!pass) { /* counted: allocate, then fill */
            n->params = cnn_xcalloc((size_t)n->n_params + 1, sizeof *n->params);
            n->buffers = cnn_xcalloc((size_t)n->n_buffers + 1, sizeof *n->buffers);
            n->n_params = n->n_buffers = 0;
        }
    }
}

static int build(net *n, const cfg_node *model, cnn_err *e)
{
    char w[256];
    const cfg_node *layers = cfg_get(model, "layers"), *blocks = cfg_get(model, "blocks");
    if (!layers || layers->kind != CFG_SEQ || layers->n == 0)
        return CNN_ERR(e, CNN_EINVAL, "%s: model needs 'layers:', a non-empty list of layers",
                       cfg_where(layers ? layers : model, w, sizeof w));
    if (blocks)
        CNN_TRY(e, net_blocks_check(blocks, e));
    net_env top;
    CNN_TRY(e, top_env(model, &top, e));
    net_expander x = {.blocks = blocks, .e = e};
    int rc = net_expand(&x, layers, &top, &n->output);
    net_env_free(&top);
    layer *loss = NULL;
    if (rc >= 0)
        rc = loss_create(model, &loss, e);
    if (rc < 0) {
        net_expander_free(&x);
        return rc;
    }
    n->n_nodes = x.n_nodes + 1;
    n->nodes = cnn_xcalloc((size_t)n->n_nodes, sizeof *n->nodes);
    memcpy(n->nodes, x.nodes, (size_t)x.n_nodes * sizeof *n->nodes);
    x.n_nodes = 0; /* the layers are the net's now */
    net_expander_free(&x);
    n->loss = n->n_nodes - 1;
    n->nodes[n->loss] = (net_node){.l = loss, .n_in = 2, .in = {n->output, NET_TARGET}};
    return CNN_OK;
}

int net_create(const cfg_node *model, int batch, net **out, cnn_err *e)
{
    static const net_opts defaults = {0};
    return net_create_opts(model, batch, &defaults, out, e);
}

int net_create_opts(const cfg_node *model, int batch, const net_opts *o, net **out,
                    cnn_err *e)
{
    static const char *const keys[] = {"input", "args", "loss", "blocks", "layers", NULL};
    char w[256];
    *out = NULL;
    if (!model || model->kind != CFG_MAP)
        return CNN_ERR(e, CNN_EINVAL, "%s: 'model' must be a map with input: and layers: "
                       "(docs/models.md)", model ? cfg_where(model, w, sizeof w) : "<config>");
    CNN_TRY(e, cfg_check_keys(model, keys, NULL, e));
    if (batch < 1)
        return CNN_ERR(e, CNN_EINVAL, "the batch per rank is %d; it must be at least 1", batch);
    if (!dtype_is_float(o->precision))
        return CNN_ERR(e, CNN_EINVAL, "net precision %s: use f32, f16 or bf16",
                       dtype_name(o->precision));
    net *n = cnn_xcalloc(1, sizeof *n);
    n->batch = batch;
    n->in_dt = DTYPE_F32;
    n->precision = o->precision;
    n->lay = o->channels_last ? LAYOUT_NHWC : LAYOUT_NCHW;
    n->inference = o->inference;
    int rc = read_input(model, batch, &n->in_shape, e);
    if (rc >= 0 && (o->input_h > 0 || o->input_w > 0)) {
        if (n->in_shape.nd != 4 || o->input_h < 1 || o->input_w < 1)
            rc = CNN_ERR(e, CNN_EINVAL, "an input size of %lldx%lld needs an image model "
                         "(model.input [C, H, W]) and positive sizes", (long long)o->input_h,
                         (long long)o->input_w);
        n->in_shape.d[2] = o->input_h;
        n->in_shape.d[3] = o->input_w;
    }
    if (rc >= 0)
        rc = build(n, model, e);
    if (rc >= 0) {
        net_impl *im = cnn_xcalloc(1, sizeof *im);
        im->pn = cnn_xcalloc((size_t)n->n_nodes, sizeof *im->pn);
        n->impl = im;
        rc = infer_all(n, o, e);
    }
    if (rc >= 0) {
        analyse(n);
        registry(n);
        rc = net_plan(n, e);
    }
    if (rc < 0) {
        cnn_err_trace(e, __FILE__, __LINE__);
        net_destroy(n);
        return rc;
    }
    *out = n;
    return CNN_OK;
}

void net_destroy(net *n)
{
    if (!n)
        return;
    net_unbind(n);
    for (int i = 0; i < n->n_nodes; i++)
        layer_destroy(n->nodes[i].l);
    free(n->nodes);
    free(n->params);
    free(n->buffers);
    if (n->impl)
        free(((net_impl *)n->impl)->pn);
    free(n->impl);
    free(n);
}

loss_decl net_loss_decl(const net *n)
{
    loss_decl d = {0};
    const layer *l = n->nodes[n->loss].l;
    CNN_ASSERT(l->ops->loss); /* loss_create accepts nothing else */
    l->ops->loss(l, &d);
    return d;
}

task_kind net_task(const net *n)
{
    if (net_loss_decl(n).target == LOSS_DENSE)
        return TASK_DENOISE;
    return n->nodes[n->output].l->out.nd == 4 ? TASK_SEGMENT : TASK_CLASSIFY;
}

int net_classes(const net *n)
{
    const shape *out = &n->nodes[n->output].l->out;
    return out->nd > 1 ? (int)out->d[1] : 1;
}

int net_find(const net *n, const char *name)
{
    for (int i = 0; i < n->n_nodes; i++)
        if (!strcmp(n->nodes[i].l->name, name))
            return i;
    return -1;
}

const net_entry *net_entry_find(const net *n, const char *key)
{
    for (int i = 0; i < n->n_params; i++)
        if (!strcmp(n->params[i].key, key))
            return &n->params[i];
    for (int i = 0; i < n->n_buffers; i++)
        if (!strcmp(n->buffers[i].key, key))
            return &n->buffers[i];
    return NULL;
}

const tensor *net_loss_value(const net *n) { return &n->nodes[n->loss].out; }

const tensor *net_output(const net *n) { return &n->nodes[n->output].out; }
