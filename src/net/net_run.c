/* Running the graph: initialisation keyed by node name, forward in node order, backward in
 * reverse order from the loss. A producer read by several consumers gets its gradient from
 * the first consumer in backward order (overwrite); the others write into scratch, which is
 * then added (acc). Nodes that need no gradient and have no parameters are skipped.
 * Working copies (f16/bf16 nets, and channels-last ones, whose convolution weights are KRSC):
 * forward starts by converting the f32 masters into the working weights (and the input, and
 * a channels-last target); a node's backward overwrites its 16-bit working gradients, which
 * are then added in f32 to the master gradients, so accumulation over micro-batches never
 * rounds to 16 bits; f32 working gradients accumulate in place and are transposed onto the
 * masters. */
#include <string.h>

#include "net_impl.h"

void net_init(net *n, rng_key key)
{
    CNN_ASSERT(n->be);
    net_bind_params(n, true); /* initialisers write the f32 masters */
    for (int i = 0; i < n->n_nodes; i++) {
        layer *l = n->nodes[i].l;
        if (l->ops->init)
            l->ops->init(l, n->be, rng_fold_str(key, l->name));
    }
    net_bind_params(n, false);
}

static const tensor *value_of(net *n, int p)
{
    net_impl *im = n->impl;
    if (p == NET_INPUT)
        return im->work_input.data ? &im->work_input : &n->input;
    if (p == NET_TARGET)
        return im->work_target.data ? &im->work_target : &n->target;
    return &n->nodes[p].out;
}

/* Working copies from the masters: one flat convert when they are f16/bf16 (every weight
 * at once), then the nodes with transposed ones (channels-last) slot by slot over it. */
static void refresh_weights(net *n)
{
    net_impl *im = n->impl;
    backend *be = n->be;
    if (im->work_flat.data)
        be->ops->convert(be, &n->params_flat, &im->work_flat, 0.0f);
    for (int i = 0; i < n->n_nodes; i++) {
        if (!im->pn[i].work_nhwc)
            continue;
        layer *l = n->nodes[i].l;
        for (int s = 0; s < l->n_slots; s++)
            if (l->slots[s].kind == SLOT_PARAM) {
                tensor m = net_master_slot(n, i, s, false);
                be->ops->convert(be, &m, &l->slots[s].t, 0.0f);
            }
    }
}

/* Adds node i's working gradients into its f32 master gradients (beta 0: overwrites). */
static void fold_grads(net *n, int i, float beta)
{
    net_impl *im = n->impl;
    backend *be = n->be;
    if (!im->pn[i].work_nhwc) { /* same element offsets: one piece */
        tensor g = net_param_range(n, i, true, true), m = net_param_range(n, i, true, false);
        be->ops->convert(be, &g, &m, beta);
        return;
    }
    layer *l = n->nodes[i].l;
    for (int s = 0; s < l->n_slots; s++)
        if (l->slots[s].kind == SLOT_PARAM) {
            tensor m = net_master_slot(n, i, s, true);
            be->ops->convert(be, &l->slots[s].grad, &m, beta);
        }
}

void net_forward(net *n, exec *x, bool with_loss)
{
    net_impl *im = n->impl;
    CNN_ASSERT(n->be && x->be == n->be);
    int end = with_loss ? n->n_nodes : n->loss;
    refresh_weights(n);
    if (im->work_input.data)
        n->be->ops->convert(n->be, &n->input, &im->work_input, 0.0f);
    if (im->work_target.data && with_loss)
        n->be->ops->convert(n->be, &n->target, &im->work_target, 0.0f);
    for (int i = 0; i < end; i++) {
        net_node *nd = &n->nodes[i];
        const tensor *ins[LAYER_MAX_INPUTS];
        for (int j = 0; j < nd->n_in; j++)
            ins[j] = value_of(n, nd->in[j]);
        nd->l->ops->forward(nd->l, ins, &nd->out, x);
    }
}

static void node_backward(net *n, int i, exec *x)
{
    net_impl *im = n->impl;
    net_node *nd = &n->nodes[i];
    const tensor *ins[LAYER_MAX_INPUTS];
    tensor *dins[LAYER_MAX_INPUTS];
    tensor scratch[LAYER_MAX_INPUTS];
    for (int j = 0; j < nd->n_in; j++) {
        int p = nd->in[j];
        ins[j] = value_of(n, p);
        dins[j] = NULL;
        if (p < 0 || !n->nodes[p].needs_grad)
            continue;
        if (nd->acc[j]) {
            scratch[j] = n->nodes[p].out;
            scratch[j].data = (char *)im->arena[NET_A_SCRATCH] + im->pn[i].scratch[j];
            dins[j] = &scratch[j];
        } else {
            dins[j] = &n->nodes[p].dout;
        }
    }
    /* 16-bit working gradients are overwritten and summed into the f32 masters; f32 ones
     * (channels-last) accumulate themselves, as the NCHW net's do, and are then transposed
     * onto the masters, so both layouts round alike. */
    bool lowp = im->pn[i].work && im->pn[i].work_dt != DTYPE_F32;
    exec xl = *x;
    if (lowp)
        xl.param_grad_beta = 0.0f;
    nd->l->ops->backward(nd->l, ins, &nd->out, &nd->dout, dins, &xl);
    for (int j = 0; j < nd->n_in; j++)
        if (dins[j] && nd->acc[j])
            n->be->ops->axpby(n->be, 1.0f, dins[j], 1.0f, &n->nodes[nd->in[j]].dout);
    if (im->pn[i].work)
        fold_grads(n, i, lowp ? x->param_grad_beta : 0.0f);
}

void net_backward(net *n, exec *x, net_grad_hook hook, void *ctx)
{
    net_backward_scaled(n, x, 1.0f, hook, ctx);
}

void net_backward_scaled(net *n, exec *x, float dloss, net_grad_hook hook, void *ctx)
{
    net_impl *im = n->impl;
    CNN_ASSERT(n->be && x->be == n->be);
    CNN_ASSERT(!n->inference && "net_backward on a forward-only net");
    if (n->nodes[n->loss].needs_grad) {
        n->be->ops->fill(n->be, &n->nodes[n->loss].dout, dloss);
        if (x->loss_scale)
            n->be->ops->scale_by(n->be, &n->nodes[n->loss].dout, x->loss_scale);
    }
    for (int i = n->loss; i >= 0; i--) {
        if (n->nodes[i].needs_grad)
            node_backward(n, i, x);
        if (hook && im->pn[i].has_params)
            hook(ctx, n, i);
    }
}
