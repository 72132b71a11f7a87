/* Sequential layer chain with standalone memory (see chain.h). */
#include "chain.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int resolve_refs(layer **ls, int i, cnn_err *e)
{
    layer *l = ls[i];
    if (!l->ref_name[0])
        return CNN_OK;
    for (int j = 0; j < i; j++)
        if (!strcmp(ls[j]->name, l->ref_name)) {
            l->ref = ls[j];
            return CNN_OK;
        }
    return LAYER_ERR(l, e, "refers to layer '%s', which does not come before it",
                     l->ref_name);
}

static int alloc_zeroed(backend *be, tensor *t, shape s, dtype dt, layout lay, cnn_err *e)
{
    *t = tensor_view(NULL, s, dt, be->ops->dev);
    t->lay = s.nd == 4 ? lay : LAYOUT_NCHW;
    CNN_TRY(e, backend_alloc_tensor(be, t, e));
    be->ops->fill(be, t, 0.0);
    return CNN_OK;
}

int chain_setup(layer_chain *c, layer **ls, int n, backend *be, const shape *in,
                const dtype *in_dt, int n_in, cnn_err *e)
{
    memset(c, 0, sizeof *c);
    if (n_in < 1 || n_in > LAYER_MAX_INPUTS)
        return CNN_ERR(e, CNN_EINVAL, "a chain takes 1 to %d inputs, got %d", LAYER_MAX_INPUTS,
                       n_in);
    c->l = ls;
    c->n = n;
    c->be = be;
    c->n_in = n_in;
    c->act = cnn_xcalloc((size_t)n, sizeof *c->act);
    c->dact = cnn_xcalloc((size_t)n, sizeof *c->dact);
    c->fwd_s = cnn_xcalloc((size_t)n, sizeof *c->fwd_s);
    c->bwd_s = cnn_xcalloc((size_t)n, sizeof *c->bwd_s);
    layout lay = ls[0]->lay;
    for (int i = 0; i < n_in; i++) {
        CNN_TRY(e, alloc_zeroed(be, &c->in[i], in[i], in_dt[i], lay, e));
        if (dtype_is_float(in_dt[i]))
            CNN_TRY(e, alloc_zeroed(be, &c->din[i], in[i], in_dt[i], lay, e));
    }
    for (int i = 0; i < n; i++) {
        CNN_TRY(e, resolve_refs(ls, i, e));
        ls[i]->lay = lay;
        if (i == 0)
            CNN_TRY(e, layer_infer(ls[i], in, in_dt, n_in, e));
        else
            CNN_TRY(e, layer_infer(ls[i], &ls[i - 1]->out, &ls[i - 1]->out_dt, 1, e));
        CNN_TRY(e, layer_alloc_standalone(ls[i], be, e));
        CNN_TRY(e, alloc_zeroed(be, &c->act[i], ls[i]->out, ls[i]->out_dt, lay, e));
        CNN_TRY(e, alloc_zeroed(be, &c->dact[i], ls[i]->out, ls[i]->out_dt, lay, e));
    }
    return CNN_OK;
}

void chain_init(layer_chain *c, rng_key key)
{
    for (int i = 0; i < c->n; i++)
        if (c->l[i]->ops->init)
            c->l[i]->ops->init(c->l[i], c->be, rng_fold_str(key, c->l[i]->name));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void chain_forward(layer_chain *c, exec *x)
{
    for (int i = 0; i < c->n; i++) {
        const tensor *ins[LAYER_MAX_INPUTS];
        int k = i == 0 ? c->n_in : 1;
        for (int j = 0; j < k; j++)
            ins[j] = i == 0 ? &c->in[j] : &c->act[i - 1];
        double t0 = now_s();
        c->l[i]->ops->forward(c->l[i], ins, &c->act[i], x);
        c->be->ops->sync(c->be);
        c->fwd_s[i] += now_s() - t0;
    }
}

void chain_backward(layer_chain *c, exec *x)
{
    for (int i = c->n - 1; i >= 0; i--) {
        const tensor *ins[LAYER_MAX_INPUTS];
        tensor *dins[LAYER_MAX_INPUTS];
        int k = i == 0 ? c->n_in : 1;
        for (int j = 0; j < k; j++) {
            ins[j] = i == 0 ? &c->in[j] : &c->act[i - 1];
            dins[j] = i == 0 ? (c->din[j].data ? &c->din[j] : NULL) : &c->dact[i - 1];
        }
        double t0 = now_s();
        c->l[i]->ops->backward(c->l[i], ins, &c->act[i], &c->dact[i], dins, x);
        c->be->ops->sync(c->be);
        c->bwd_s[i] += now_s() - t0;
    }
}

const tensor *chain_out(const layer_chain *c) { return &c->act[c->n - 1]; }

void chain_free(layer_chain *c)
{
    if (!c || !c->be)
        return;
    for (int i = 0; i < c->n_in; i++) {
        backend_free_tensor(c->be, &c->in[i]);
        backend_free_tensor(c->be, &c->din[i]);
    }
    for (int i = 0; c->act && i < c->n; i++) {
        layer_free_standalone(c->l[i], c->be);
        backend_free_tensor(c->be, &c->act[i]);
        backend_free_tensor(c->be, &c->dact[i]);
    }
    free(c->act);
    free(c->dact);
    free(c->fwd_s);
    free(c->bwd_s);
    memset(c, 0, sizeof *c);
}
