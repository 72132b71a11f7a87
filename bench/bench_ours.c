/* Our side of layer-bench: one layer built from its YAML spec through the layer API, run in
 * training mode on a one-layer chain (standalone memory), exactly as the unit tests run it.
 * Parameter gradients are overwritten (param_grad_beta 0), as PyTorch's autograd.grad
 * returns fresh ones; the input gradient is computed, as the peer's input requires grad. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/config/config.h"
#include "../src/layers/chain.h"
#include "bench.h"

struct ours_run {
    layer *l;
    layer_chain c;
    exec x;
};

/* While the layer library is being written, a type or backend op may still be a stub; the
 * benchmark then says which instead of crashing (CNN_DEV_ALLOW_INCOMPLETE builds). */
static int check_available(backend *be, const bench_case *bc, cnn_err *e)
{
    const layer_ops *lo = layer_ops_find(bench_op_name(bc->op));
    if (!lo || !lo->parse || !lo->infer || !lo->forward || !lo->backward)
        return CNN_ERR(e, CNN_ENOTSUP, "layer type '%s' is not implemented in this build",
                       bench_op_name(bc->op));
    const backend_ops *o = be->ops;
    bool ok = true;
    switch (bc->op) {
    case BOP_CONV:
        ok = o->conv_fwd && o->conv_bwd_data && o->conv_bwd_filter &&
             (!bc->bias || (o->bias_add && o->bias_grad));
        break;
    case BOP_BATCH_NORM:
        ok = o->norm_stats && o->norm_apply && o->norm_bwd_reduce && o->norm_bwd_data;
        break;
    case BOP_MAX_POOL:
        ok = o->pool_fwd && o->pool_bwd;
        break;
    case BOP_RELU:
        ok = o->act_fwd && o->act_bwd;
        break;
    }
    if (!ok)
        return CNN_ERR(e, CNN_ENOTSUP, "the %s backend lacks the ops of layer '%s'", o->name,
                       bench_op_name(bc->op));
    return CNN_OK;
}

static int build_layer(const bench_case *bc, layer **out, cnn_err *e)
{
    char spec[256];
    bench_spec(bc, spec, sizeof spec);
    cfg_node *root;
    CNN_TRY(e, config_parse_string(spec, strlen(spec), "layer-bench", &root, e));
    int rc = layer_create(root, bc->id, out, e);
    cfg_free(root);
    return rc;
}

static void upload_uniform(backend *be, tensor *t, rng_key key)
{
    size_t n = (size_t)tensor_numel(t);
    float *h = cnn_xmalloc(n * sizeof *h);
    rng_fill_uniform(key, 0, h, n, -1.0f, 1.0f);
    backend_upload(be, t, h);
    free(h);
}

int ours_open(backend *be, const bench_case *bc, ours_run **out, cnn_err *e)
{
    *out = NULL;
    CNN_TRY(e, check_available(be, bc, e));
    ours_run *r = cnn_xcalloc(1, sizeof *r);
    int rc = build_layer(bc, &r->l, e);
    shape in = SHAPE(bc->n, bc->c, bc->h, bc->w);
    dtype f32 = DTYPE_F32;
    if (rc == CNN_OK)
        rc = chain_setup(&r->c, &r->l, 1, be, &in, &f32, 1, e);
    if (rc < 0) {
        ours_close(r);
        cnn_err_trace(e, __FILE__, __LINE__);
        return rc;
    }
    rng_key key = rng_key_from_seed(1);
    chain_init(&r->c, key);
    upload_uniform(be, &r->c.in[0], rng_fold(key, 1));
    upload_uniform(be, &r->c.dact[0], rng_fold(key, 2));
    r->x = (exec){.be = be, .training = true, .key = rng_fold(key, 3),
                  .param_grad_beta = 0.0f, .reduce_ranks = 1};
    *out = r;
    return CNN_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void ours_time(ours_run *r, int warmup, int iters, double *ms)
{
    for (int i = 0; i < warmup + iters; i++) {
        double t0 = now_ms();
        chain_forward(&r->c, &r->x);
        chain_backward(&r->c, &r->x);
        r->x.be->ops->sync(r->x.be);
        if (i >= warmup)
            ms[i - warmup] = now_ms() - t0;
    }
}

static bool tensor_finite(backend *be, const tensor *t)
{
    if (!t->data || t->dt != DTYPE_F32)
        return true;
    size_t n = (size_t)tensor_numel(t);
    float *h = cnn_xmalloc(n * sizeof *h);
    backend_download(be, t, h);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = isfinite(h[i]);
    free(h);
    return ok;
}

bool ours_finite(ours_run *r)
{
    backend *be = r->x.be;
    bool ok = tensor_finite(be, &r->c.act[0]) && tensor_finite(be, &r->c.din[0]);
    for (int s = 0; s < r->l->n_slots && ok; s++)
        if (r->l->slots[s].kind == SLOT_PARAM)
            ok = tensor_finite(be, &r->l->slots[s].grad);
    return ok;
}

void ours_close(ours_run *r)
{
    if (!r)
        return;
    chain_free(&r->c);
    layer_destroy(r->l);
    free(r);
}
