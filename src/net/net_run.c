/* Running the graph: initialisation keyed by node name, forward in node order, backward in
 * reverse order from the loss. A producer read by several consumers gets its gradient from
 * the first consumer in backward order (overwrite); the others write into scratch, which is
 * then added (acc). Nodes that need no gradient and have no parameters are skipped.
 * Mixed precision (f16/bf16 nets): forward starts by rounding the f32 masters into the
 * working weights; a node's backward overwrites its working gradients, which are then added
 * in f32 to the master gradients, so accumulation over micro-batches never rounds. */
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
        return im->lowp_input.data ? &im->lowp_input : &n->input;
    return p == NET_TARGET ? &n->target : &n->nodes[p].out;
}

void net_forward(net *n, exec *x, bool with_loss)
{
    net_impl *im = n->impl;
    CNN_ASSERT(n->be && x->be == n->be);
    int end = with_loss ? n->n_nodes : n->loss;
    if (im->lowp_params.data)
        n->be->ops->convert(n->be, &n->params_flat, &im->lowp_params, 0.0f);
    if (im->lowp_input.data)
        n->be->ops->convert(n->be, &n->input, &im->lowp_input, 0.0f);
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
            scratch[j] = tensor_view((char *)im->arena[NET_A_SCRATCH] + im->pn[i].scratch[j],
                                     n->nodes[p].out.s, n->nodes[p].out.dt, n->be->ops->dev);
            dins[j] = &scratch[j];
        } else {
            dins[j] = &n->nodes[p].dout;
        }
    }
    exec xl = *x;
    if (im->pn[i].lowp_params)
        xl.param_grad_beta = 0.0f;
    nd->l->ops->backward(nd->l, ins, &nd->out, &nd->dout, dins, &xl);
    for (int j = 0; j < nd->n_in; j++)
        if (dins[j] && nd->acc[j])
            n->be->ops->axpby(n->be, 1.0f, dins[j], 1.0f, &n->nodes[nd->in[j]].dout);
    if (im->pn[i].lowp_params) {
        tensor g = net_param_range(n, i, true, true), master = net_param_range(n, i, true, false);
        n->be->ops->convert(n->be, &g, &master, x->param_grad_beta);
    }
}

void net_backward(net *n, exec *x, net_grad_hook hook, void *ctx)
{
    net_backward_scaled(n, x, 1.0f, hook, ctx);
}

void net_backward_scaled(net *n, exec *x, float dloss, net_grad_hook hook, void *ctx)
{
    net_impl *im = n->impl;
    CNN_ASSERT(n->be && x->be == n->be);
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
