/* The memory plan (net_create) and its binding (net_alloc): one backend allocation per arena,
 * every tensor a 64-byte aligned view into one of them. Parameters and gradients share one
 * layout in reverse node order, so backward finishes gradients from offset 0 upward and an
 * all-reduce bucket is a contiguous slice. Activations all stay live until backward; their
 * gradients are planned by liveness (first-fit by decreasing size over backward-step
 * intervals), and the second and later consumers of a fan-out write into scratch first.
 * A forward-only net (net_opts.inference) has no gradients, and its activations are
 * planned by liveness over forward steps instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

#define PARAM_ALIGN (NET_PARAM_ALIGN_ELEMS * sizeof(float))

static size_t align_to(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }
static size_t align_up(size_t v) { return align_to(v, NET_ALIGN); }

/* Where master byte offset off lands among the working copies: scaled by their element
 * size (f16/bf16: half; f32 channels-last: the same). */
static size_t work_off(const net *n, size_t off) { return off / 4 * dtype_size(n->precision); }

/* A channels-last net transposes a 4-D float target (regression) like its input. */
static bool work_target(const net *n)
{
    return n->lay == LAYOUT_NHWC && n->target_shape.nd == 4 && dtype_is_float(n->target_dt);
}

static bool bytes_of(const tensor *t, size_t *b)
{
    size_t n = dtype_size(t->dt);
    for (int i = 0; i < t->s.nd; i++) {
        if (t->s.d[i] <= 0 || n > SIZE_MAX / 2 / (size_t)t->s.d[i])
            return false;
        n *= (size_t)t->s.d[i];
    }
    *b = n;
    return true;
}

/* Places a tensor at the end of an arena (cursor a multiple of align, which stays so); ok
 * turns false on overflow. */
static size_t take_aligned(size_t *cursor, const tensor *t, size_t align, bool *ok)
{
    size_t b = 0, off = *cursor;
    if (!bytes_of(t, &b) || b > SIZE_MAX / 4 - off) {
        *ok = false;
        return 0;
    }
    *cursor = align_to(off + b, align);
    return off;
}

static size_t take(size_t *cursor, const tensor *t, bool *ok)
{
    return take_aligned(cursor, t, NET_ALIGN, ok);
}

/* Parameters are planned as their f32 masters; working copies go where plan_working puts
 * them (net_impl.h). A node has working copies of all its parameters or of none (its
 * backward writes every parameter gradient with one beta): of all when some parameter is
 * declared in 16 bits or NHWC. */
static void plan_params(net *n, size_t *cp, bool *ok)
{
    net_impl *im = n->impl;
    for (int i = n->n_nodes - 1; i >= 0; i--) { /* reverse: the last node's params first */
        layer *l = n->nodes[i].l;
        net_plan_node *pn = &im->pn[i];
        n->nodes[i].param_lo = *cp;
        pn->work_dt = DTYPE_F32;
        for (int s = 0; s < l->n_slots; s++) {
            const layer_slot *sl = &l->slots[s];
            if (sl->kind != SLOT_PARAM)
                continue;
            tensor master = tensor_view(NULL, sl->t.s, DTYPE_F32, DEVICE_CPU);
            pn->slot[s] = take_aligned(cp, &master, PARAM_ALIGN, ok);
            if (sl->t.dt != DTYPE_F32 && pn->work_dt != DTYPE_F32 && sl->t.dt != pn->work_dt)
                cnn_fatal("layer '%s' (%s) declares parameters of different precisions; the "
                          "net converts a node's gradients in one piece", l->name,
                          l->ops->type);
            pn->work_dt = sl->t.dt != DTYPE_F32 ? sl->t.dt : pn->work_dt;
            pn->work_nhwc |= tensor_is_nhwc(&sl->t);
        }
        n->nodes[i].param_hi = *cp;
        pn->work = pn->work_dt != DTYPE_F32 || pn->work_nhwc;
        if (pn->work && pn->work_dt != n->precision)
            cnn_fatal("layer '%s' (%s): parameters of working dtype %s in a %s net", l->name,
                      l->ops->type, dtype_name(pn->work_dt), dtype_name(n->precision));
    }
}

/* Where each node's working copies go (net_impl.h: mirrored or packed). */
static void plan_working(net *n)
{
    net_impl *im = n->impl;
    bool mirror = n->precision != DTYPE_F32;
    size_t w = 0;
    for (int i = n->n_nodes - 1; i >= 0; i--) {
        const net_node *nd = &n->nodes[i];
        if (!im->pn[i].work)
            continue;
        im->pn[i].work_base = mirror ? work_off(n, nd->param_lo) : w;
        w = im->pn[i].work_base + work_off(n, nd->param_hi - nd->param_lo);
    }
    im->work_bytes = mirror ? work_off(n, n->mem.params) : w;
}

static void plan_slots(net *n, bool *ok)
{
    net_impl *im = n->impl;
    size_t cp = 0, cb = 0, cs = 0;
    plan_params(n, &cp, ok);
    for (int i = 0; i < n->n_nodes; i++) {
        layer *l = n->nodes[i].l;
        for (int s = 0; s < l->n_slots; s++) {
            slot_kind k = l->slots[s].kind;
            if (k == SLOT_BUFFER)
                im->pn[i].slot[s] = take(&cb, &l->slots[s].t, ok);
            else if (k != SLOT_PARAM)
                im->pn[i].slot[s] = take(&cs, &l->slots[s].t, ok);
        }
    }
    n->mem.params = cp;
    n->mem.grads = n->inference ? 0 : cp;
    n->mem.buffers = cb;
    n->mem.layer_state = cs;
}

static tensor out_of(const net *n, int i)
{
    return tensor_view(NULL, n->nodes[i].l->out, n->nodes[i].l->out_dt, DEVICE_CPU);
}

/* Live intervals of the gradients in backward steps (step 0 is the loss node). */
static void liveness(net *n)
{
    net_impl *im = n->impl;
    for (int i = 0; i < n->n_nodes; i++)
        im->pn[i].live_from = im->pn[i].live_to = n->loss - i;
    for (int i = 0; i < n->n_nodes; i++) /* ascending: the last consumer wins */
        for (int j = 0; n->nodes[i].needs_grad && j < n->nodes[i].n_in; j++) {
            int p = n->nodes[i].in[j];
            if (p >= 0 && n->nodes[p].needs_grad)
                im->pn[p].live_from = n->loss - i;
        }
}

/* A buffer live over the steps [from, to] (forward or backward steps). */
typedef struct dbuf {
    int node, from, to;
    size_t off, bytes;
} dbuf;

static int by_size_desc(const void *a, const void *b)
{
    const dbuf *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->node - y->node;
}

static int by_off(const void *a, const void *b)
{
    const dbuf *x = *(const dbuf *const *)a, *y = *(const dbuf *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* First fit, largest first: each buffer at the lowest offset clear of every placed buffer
 * live at the same time. Sets d[].off (d is reordered); returns the peak. */
static size_t first_fit(dbuf *d, int nd, bool *ok)
{
    dbuf **live = cnn_xcalloc((size_t)nd + 1, sizeof *live);
    qsort(d, (size_t)nd, sizeof *d, by_size_desc);
    size_t peak = 0;
    for (int a = 0; a < nd; a++) {
        int nl = 0;
        for (int b = 0; b < a; b++)
            if (d[a].from <= d[b].to && d[b].from <= d[a].to)
                live[nl++] = &d[b];
        qsort(live, (size_t)nl, sizeof *live, by_off);
        size_t off = 0;
        for (int b = 0; b < nl && live[b]->off < off + d[a].bytes; b++)
            if (live[b]->off + live[b]->bytes > off)
                off = live[b]->off + live[b]->bytes;
        if (off > SIZE_MAX / 4 || d[a].bytes > SIZE_MAX / 4)
            *ok = false;
        d[a].off = off;
        if (off + d[a].bytes > peak)
            peak = off + d[a].bytes;
    }
    free(live);
    return peak;
}

/* The gradients of activations, over their backward-step intervals (liveness). */
static void plan_douts(net *n, bool *ok)
{
    net_impl *im = n->impl;
    dbuf *d = cnn_xcalloc((size_t)n->n_nodes + 1, sizeof *d);
    int nd = 0;
    for (int i = 0; i < n->n_nodes; i++) {
        tensor t = out_of(n, i);
        size_t b;
        if (!n->nodes[i].needs_grad)
            continue;
        if (!bytes_of(&t, &b))
            *ok = false;
        else
            d[nd++] = (dbuf){.node = i, .from = im->pn[i].live_from, .to = im->pn[i].live_to,
                             .bytes = align_up(b)};
    }
    n->mem.act_grads = first_fit(d, nd, ok);
    for (int a = 0; a < nd; a++)
        im->pn[d[a].node].dact = d[a].off;
    free(d);
}

/* Forward only: node i's output lives from step i to its last consumer's step; the model's
 * output (read after forward) and the loss's to the end. */
static size_t plan_acts_forward(net *n, bool *ok)
{
    net_impl *im = n->impl;
    dbuf *d = cnn_xcalloc((size_t)n->n_nodes + 1, sizeof *d);
    for (int i = 0; i < n->n_nodes; i++)
        d[i] = (dbuf){.node = i, .from = i, .to = i == n->output ? n->n_nodes : i};
    d[n->loss].to = n->n_nodes;
    for (int i = 0; i < n->n_nodes; i++)
        for (int j = 0; j < n->nodes[i].n_in; j++)
            if (n->nodes[i].in[j] >= 0 && d[n->nodes[i].in[j]].to < i)
                d[n->nodes[i].in[j]].to = i;
    for (int i = 0; i < n->n_nodes; i++) {
        tensor t = out_of(n, i);
        if (!bytes_of(&t, &d[i].bytes))
            *ok = false;
        d[i].bytes = align_up(d[i].bytes);
    }
    size_t peak = first_fit(d, n->n_nodes, ok);
    for (int a = 0; a < n->n_nodes; a++)
        im->pn[d[a].node].act = d[a].off;
    free(d);
    return peak;
}

static void plan_scratch(net *n, bool *ok)
{
    net_impl *im = n->impl;
    size_t most = 0;
    for (int i = 0; i < n->n_nodes; i++) {
        size_t c = 0;
        for (int j = 0; n->nodes[i].needs_grad && j < n->nodes[i].n_in; j++)
            if (n->nodes[i].acc[j]) {
                tensor t = out_of(n, n->nodes[i].in[j]);
                im->pn[i].scratch[j] = take(&c, &t, ok);
            }
        most = c > most ? c : most;
    }
    n->mem.scratch = most;
}

int net_plan(net *n, cnn_err *e)
{
    net_impl *im = n->impl;
    bool ok = true;
    plan_slots(n, &ok);
    size_t c = 0;
    for (int i = 0; i < n->n_nodes && !n->inference; i++) {
        tensor t = out_of(n, i);
        im->pn[i].act = take(&c, &t, &ok);
    }
    n->mem.activations = n->inference ? plan_acts_forward(n, &ok) : c;
    c = 0;
    tensor ti = tensor_view(NULL, n->in_shape, n->in_dt, DEVICE_CPU);
    tensor tt = tensor_view(NULL, n->target_shape, n->target_dt, DEVICE_CPU);
    im->in_off = take(&c, &ti, &ok);
    im->target_off = take(&c, &tt, &ok);
    n->mem.io = c;
    n->mem.working = 0;
    if (n->precision != DTYPE_F32 || n->lay == LAYOUT_NHWC) {
        /* working weights, their gradients, the input, a channels-last regression target */
        tensor tl = tensor_view(NULL, n->in_shape, n->precision, DEVICE_CPU);
        plan_working(n);
        c = (n->inference ? 1 : 2) * im->work_bytes; /* copies (and their gradients) */
        im->work_in_off = take(&c, &tl, &ok);
        if (work_target(n)) {
            tensor tt4 = tensor_view(NULL, n->target_shape, n->target_dt, DEVICE_CPU);
            im->work_target_off = take(&c, &tt4, &ok);
        }
        n->mem.working = c;
    }
    liveness(n);
    plan_douts(n, &ok);
    plan_scratch(n, &ok);
    const size_t part[] = {n->mem.params, n->mem.grads, n->mem.buffers, n->mem.layer_state,
                           n->mem.activations, n->mem.act_grads, n->mem.scratch, n->mem.io,
                           n->mem.working};
    n->mem.total = 0;
    for (int i = 0; i < 9; i++) {
        ok &= part[i] <= SIZE_MAX / 16 - n->mem.total;
        n->mem.total += ok ? part[i] : 0;
    }
    if (!ok)
        return CNN_ERR(e, CNN_EINVAL, "the model at batch %d per rank needs more memory than "
                       "can be addressed; reduce the batch or the input size", n->batch);
    return CNN_OK;
}

/* ---- binding ---- */

static const char *const arena_name[NET_A_COUNT] = {
    "parameters", "gradients", "buffers", "layer state", "activations",
    "activation gradients", "scratch", "input and target", "working weights"};

static size_t arena_size(const net *n, int a)
{
    const size_t s[NET_A_COUNT] = {n->mem.params,      n->mem.grads,       n->mem.buffers,
                                   n->mem.layer_state, n->mem.activations, n->mem.act_grads,
                                   n->mem.scratch,     n->mem.io,          n->mem.working};
    return s[a];
}

/* A 4-D view is stored in the net's layout (activations, working weights, layer state). */
static tensor view(const net *n, int a, size_t off, shape s, dtype dt)
{
    net_impl *im = n->impl;
    /* an arena a forward-only net does not have (gradients) gives views without memory */
    char *base = im->arena[a];
    tensor t = tensor_view(base ? base + off : NULL, s, dt, n->be->ops->dev);
    t.lay = s.nd == 4 ? n->lay : LAYOUT_NCHW;
    return t;
}

static tensor flat(const net *n, int a)
{
    size_t b = arena_size(n, a);
    return b ? view(n, a, 0, SHAPE((int64_t)(b / 4)), DTYPE_F32)
             : tensor_view(NULL, SHAPE(1), DTYPE_F32, n->be->ops->dev);
}

/* A parameter's f32 master (or its gradient) at byte offset off: always NCHW. */
static tensor master_view(const net *n, size_t off, bool grad, shape s)
{
    tensor t = view(n, grad ? NET_A_GRADS : NET_A_PARAMS, off, s, DTYPE_F32);
    t.lay = LAYOUT_NCHW;
    return t;
}

/* The working copy of node i's f32 master bytes at master_off, or its gradient. */
static tensor work_view(const net *n, int i, size_t master_off, bool grad, shape s, dtype dt)
{
    const net_impl *im = n->impl;
    if (grad && n->inference) /* no gradients of the working copies either */
        return tensor_view(NULL, s, dt, n->be->ops->dev);
    size_t off = im->pn[i].work_base + work_off(n, master_off - n->nodes[i].param_lo);
    return view(n, NET_A_WORK, off + (grad ? im->work_bytes : 0), s, dt);
}

void net_bind_params(net *n, bool masters)
{
    net_impl *im = n->impl;
    for (int i = 0; i < n->n_nodes; i++) {
        layer *l = n->nodes[i].l;
        for (int s = 0; s < l->n_slots; s++) {
            layer_slot *sl = &l->slots[s];
            size_t off = im->pn[i].slot[s];
            if (sl->kind != SLOT_PARAM)
                continue;
            if (masters || !im->pn[i].work) {
                sl->t = master_view(n, off, false, sl->t.s);
                sl->grad = master_view(n, off, true, sl->t.s);
            } else {
                sl->t = work_view(n, i, off, false, sl->t.s, im->pn[i].work_dt);
                sl->grad = work_view(n, i, off, true, sl->t.s, im->pn[i].work_dt);
            }
        }
    }
}

tensor net_param_range(const net *n, int node, bool grads, bool working)
{
    const net_impl *im = n->impl;
    size_t lo = n->nodes[node].param_lo, hi = n->nodes[node].param_hi;
    shape s = SHAPE((int64_t)((hi - lo) / sizeof(float)));
    return working ? work_view(n, node, lo, grads, s, im->pn[node].work_dt)
                   : master_view(n, lo, grads, s);
}

tensor net_master_slot(const net *n, int node, int s, bool grad)
{
    const net_impl *im = n->impl;
    return master_view(n, im->pn[node].slot[s], grad, n->nodes[node].l->slots[s].t.s);
}

static void bind_entries(net *n, net_entry *ents, int count)
{
    for (int k = 0; k < count; k++) {
        net_entry *en = &ents[k];
        int s = (int)(en->slot - n->nodes[en->node].l->slots);
        if (en->slot->kind == SLOT_PARAM) {
            en->value = net_master_slot(n, en->node, s, false);
            en->grad = net_master_slot(n, en->node, s, true);
        } else {
            en->value = en->slot->t;
        }
    }
}

static void bind(net *n)
{
    net_impl *im = n->impl;
    for (int i = 0; i < n->n_nodes; i++) {
        net_node *nd = &n->nodes[i];
        layer *l = nd->l;
        nd->out = view(n, NET_A_ACT, im->pn[i].act, l->out, l->out_dt);
        nd->dout = nd->needs_grad ? view(n, NET_A_DACT, im->pn[i].dact, l->out, l->out_dt)
                                  : tensor_view(NULL, l->out, l->out_dt, n->be->ops->dev);
        for (int s = 0; s < l->n_slots; s++) {
            layer_slot *sl = &l->slots[s];
            if (sl->kind != SLOT_PARAM)
                sl->t = view(n, sl->kind == SLOT_BUFFER ? NET_A_BUFFERS : NET_A_STATE,
                             im->pn[i].slot[s], sl->t.s, sl->t.dt);
        }
    }
    net_bind_params(n, false);
    bind_entries(n, n->params, n->n_params);
    bind_entries(n, n->buffers, n->n_buffers);
    n->input = view(n, NET_A_IO, im->in_off, n->in_shape, n->in_dt);
    n->target = view(n, NET_A_IO, im->target_off, n->target_shape, n->target_dt);
    n->input.lay = n->target.lay = LAYOUT_NCHW; /* as the loader fills them */
    n->params_flat = flat(n, NET_A_PARAMS);
    n->grads_flat = flat(n, NET_A_GRADS);
    n->buffers_flat = flat(n, NET_A_BUFFERS);
    if (n->mem.working) {
        int64_t count = (int64_t)(n->mem.params / sizeof(float));
        if (count && n->precision != DTYPE_F32)
            im->work_flat = view(n, NET_A_WORK, 0, SHAPE(count), n->precision); /* mirror */
        im->work_input = view(n, NET_A_WORK, im->work_in_off, n->in_shape, n->precision);
        if (work_target(n))
            im->work_target = view(n, NET_A_WORK, im->work_target_off, n->target_shape,
                                   n->target_dt);
    }
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

int net_alloc(net *n, backend *be, cnn_err *e)
{
    net_impl *im = n->impl;
    if (n->be)
        return CNN_ERR(e, CNN_ESTATE, "net_alloc: the net is already bound to a backend");
    for (int a = 0; a < NET_A_COUNT; a++) {
        size_t b = arena_size(n, a);
        int rc = b ? be->ops->alloc(be, b, &im->arena[a], e) : CNN_OK;
        if (rc < 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", e ? e->msg : "");
            n->be = be;
            net_unbind(n);
            return CNN_ERR(e, rc, "not enough memory for the model's %s (%.1f MiB): one "
                           "training step at batch %d per rank needs %.1f MiB (parameters %.1f, "
                           "gradients %.1f, activations %.1f, activation gradients %.1f, layer "
                           "state %.1f); reduce the batch size or use a smaller model (%s)",
                           arena_name[a], mib(b), n->batch, mib(n->mem.total),
                           mib(n->mem.params), mib(n->mem.grads), mib(n->mem.activations),
                           mib(n->mem.act_grads), mib(n->mem.layer_state), why);
        }
    }
    n->be = be;
    /* Zeros also in the gaps between parameters, which optimizer and all-reduce cover. */
    const int zero[] = {NET_A_PARAMS, NET_A_GRADS, NET_A_BUFFERS, NET_A_STATE, NET_A_WORK};
    for (int k = 0; k < 5; k++)
        if (arena_size(n, zero[k])) {
            tensor t = flat(n, zero[k]);
            be->ops->fill(be, &t, 0.0);
        }
    bind(n);
    be->ops->sync(be);
    return CNN_OK;
}

void net_unbind(net *n)
{
    net_impl *im = n->impl;
    if (!im || !n->be)
        return;
    for (int a = 0; a < NET_A_COUNT; a++)
        if (im->arena[a])
            n->be->ops->free(n->be, im->arena[a]);
    memset(im->arena, 0, sizeof im->arena);
    n->be = NULL;
}
