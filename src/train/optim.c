/* The optimizer: torch.optim.SGD (momentum, Nesterov, L2 weight decay) and AdamW over the
 * net's flat parameter arena. State lives in one flat arena per kind (momentum; AdamW's m
 * and v) laid out exactly like n->params_flat, so a parameter's state sits at its own
 * offset and checkpoints see it as views keyed by the parameter's state_dict key. A step is
 * sumsq(grads) -> grad_coef (clipping, loss scale, skip flag; on device) -> one update call
 * per run: a maximal contiguous run of parameters with the same weight-decay setting (the
 * parameter groups of PyTorch's usual "no decay on biases and norms" recipe). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

/* Parameters [lo, hi) in elements of params_flat, all with one weight-decay setting. */
typedef struct optim_run {
    int64_t lo, hi;
    bool decay;
    tensor w, g, s[2]; /* views of the run in params, grads and each state arena */
} optim_run;

struct optim {
    net *n;
    backend *be;
    run_optim kind;
    float momentum, weight_decay, beta1, beta2, eps, grad_clip;
    bool nesterov;
    int n_state;         /* state arenas: 0 (plain SGD), 1 (momentum), 2 (AdamW m, v) */
    tensor state[2];     /* (numel of params_flat) each, owned */
    tensor scal;         /* (6) owned: [sumsq, c, skip, scale used, loss scale, good steps] */
    tensor sumsq, coef;  /* views of scal: (1) and (2) */
    tensor used;         /* (1) the loss scale the last step divided by (1 without one) */
    tensor scale;        /* (2) fp16's dynamic loss scale [scale, good steps] */
    tensor scale_now;    /* (1) view: the scale alone, for the loss gradient and grad_coef */
    bool dynamic;        /* precision fp16: scale the loss, adapt the scale */
    float growth, backoff;
    int interval;
    optim_run *runs;
    int n_runs;
    tensor *views;       /* (n_params * n_state) state of each parameter, for checkpoints */
    ckpt_tensor *ck;     /* (n_params * n_state) */
    bool first;          /* SGD: the momentum buffer is empty (PyTorch's first step) */
    bool stepped;
};

static tensor flat_view(const tensor *flat, int64_t lo, int64_t hi)
{
    return tensor_view((float *)flat->data + lo, SHAPE(hi - lo), DTYPE_F32, flat->dev);
}

/* Element offset of a parameter in params_flat (and so in grads_flat and the state). */
static int64_t param_off(const net *n, int i)
{
    return (int64_t)(((const char *)n->params[i].value.data -
                      (const char *)n->params_flat.data) / (ptrdiff_t)sizeof(float));
}

typedef struct param_at {
    int64_t off;
    int i;
} param_at;

static int by_offset(const void *a, const void *b)
{
    int64_t oa = ((const param_at *)a)->off, ob = ((const param_at *)b)->off;
    return (oa > ob) - (oa < ob);
}

static void make_runs(optim *o, bool decay_all)
{
    net *n = o->n;
    param_at *ord = cnn_xcalloc((size_t)n->n_params + 1, sizeof *ord);
    for (int i = 0; i < n->n_params; i++)
        ord[i] = (param_at){param_off(n, i), i};
    qsort(ord, (size_t)n->n_params, sizeof *ord, by_offset);
    o->runs = cnn_xcalloc((size_t)n->n_params + 1, sizeof *o->runs);
    for (int k = 0; k < n->n_params; k++) {
        int i = ord[k].i;
        bool decay = decay_all || !n->params[i].slot->no_decay;
        int64_t lo = param_off(n, i), hi = lo + tensor_numel(&n->params[i].value);
        if (o->n_runs && o->runs[o->n_runs - 1].decay == decay) {
            o->runs[o->n_runs - 1].hi = hi;
            continue;
        }
        o->runs[o->n_runs++] = (optim_run){.lo = lo, .hi = hi, .decay = decay};
    }
    free(ord);
    for (int r = 0; r < o->n_runs; r++) {
        optim_run *u = &o->runs[r];
        u->w = flat_view(&n->params_flat, u->lo, u->hi);
        u->g = flat_view(&n->grads_flat, u->lo, u->hi);
        for (int s = 0; s < o->n_state; s++)
            u->s[s] = flat_view(&o->state[s], u->lo, u->hi);
    }
}

static void make_ckpt_views(optim *o)
{
    static const char *const sgd_groups[] = {"momentum"};
    static const char *const adam_groups[] = {"adam_m", "adam_v"};
    const char *const *groups = o->kind == RUN_OPTIM_ADAMW ? adam_groups : sgd_groups;
    net *n = o->n;
    size_t cnt = (size_t)n->n_params * (size_t)o->n_state;
    o->views = cnn_xcalloc(cnt ? cnt : 1, sizeof *o->views);
    o->ck = cnn_xcalloc(cnt + 1, sizeof *o->ck);
    o->ck[cnt] = (ckpt_tensor){"amp", "loss_scale", &o->scale, false}; /* when dynamic */
    for (int s = 0; s < o->n_state; s++)
        for (int i = 0; i < n->n_params; i++) {
            size_t k = (size_t)s * (size_t)n->n_params + (size_t)i;
            const tensor *p = &n->params[i].value;
            o->views[k] = tensor_view((float *)o->state[s].data + param_off(n, i), p->s,
                                      DTYPE_F32, o->state[s].dev);
            o->ck[k] = (ckpt_tensor){groups[s], n->params[i].key, &o->views[k], false};
        }
}

static int alloc_state(optim *o, cnn_err *e)
{
    int64_t numel = tensor_numel(&o->n->params_flat);
    for (int s = 0; s < o->n_state; s++) {
        o->state[s] = tensor_view(NULL, SHAPE(numel), DTYPE_F32, o->be->ops->dev);
        CNN_TRY(e, backend_alloc_tensor(o->be, &o->state[s], e));
        o->be->ops->fill(o->be, &o->state[s], 0.0);
    }
    o->scal = tensor_view(NULL, SHAPE(6), DTYPE_F32, o->be->ops->dev);
    CNN_TRY(e, backend_alloc_tensor(o->be, &o->scal, e));
    o->be->ops->fill(o->be, &o->scal, 0.0);
    o->sumsq = flat_view(&o->scal, 0, 1);
    o->coef = flat_view(&o->scal, 1, 3);
    o->used = flat_view(&o->scal, 3, 4);
    o->scale = flat_view(&o->scal, 4, 6);
    o->scale_now = flat_view(&o->scal, 4, 5);
    o->be->ops->fill(o->be, &o->used, 1.0);
    return CNN_OK;
}

static void setup_loss_scale(optim *o, const run_config *rc)
{
    o->dynamic = rc->precision == RUN_FP16;
    o->growth = (float)rc->amp.growth_factor;
    o->backoff = (float)rc->amp.backoff_factor;
    o->interval = (int)rc->amp.growth_interval;
    if (o->dynamic) {
        float init[2] = {(float)rc->amp.init_scale, 0.0f};
        backend_upload(o->be, &o->scale, init);
        o->be->ops->sync(o->be);
    }
}

int optim_create(const run_config *rc, net *n, optim **out, cnn_err *e)
{
    *out = NULL;
    CNN_ASSERT(n->be && "optim_create needs an allocated net (net_alloc)");
    if (rc->optim.nesterov && rc->optim.momentum == 0 && rc->optim.name == RUN_OPTIM_SGD)
        return CNN_ERR(e, CNN_EINVAL, "optim.nesterov needs optim.momentum > 0 (it is 0)");
    optim *o = cnn_xcalloc(1, sizeof *o);
    o->n = n;
    o->be = n->be;
    o->kind = rc->optim.name;
    o->momentum = (float)rc->optim.momentum;
    o->nesterov = rc->optim.nesterov;
    o->weight_decay = (float)rc->optim.weight_decay;
    o->beta1 = (float)(rc->optim.betas.n > 0 ? rc->optim.betas.v[0] : 0.9);
    o->beta2 = (float)(rc->optim.betas.n > 1 ? rc->optim.betas.v[1] : 0.999);
    o->eps = (float)rc->optim.eps;
    o->grad_clip = (float)rc->train.grad_clip;
    o->first = true;
    o->n_state = o->kind == RUN_OPTIM_ADAMW ? 2 : o->momentum != 0.0f ? 1 : 0;
    if (n->n_params > 0) {
        int rc_ = alloc_state(o, e);
        if (rc_ < 0) {
            optim_destroy(o);
            return rc_;
        }
        setup_loss_scale(o, rc);
    }
    make_runs(o, rc->optim.decay_norm_and_bias);
    make_ckpt_views(o);
    *out = o;
    return CNN_OK;
}

static void step_run(optim *o, optim_run *u, double lr, int64_t step)
{
    const backend_ops *ops = o->be->ops;
    float wd = u->decay ? o->weight_decay : 0.0f;
    if (o->kind == RUN_OPTIM_ADAMW) {
        optim_adamw_args a = {(float)lr, o->beta1, o->beta2, o->eps, wd, step};
        ops->adamw_update(o->be, &u->w, &u->g, &u->s[0], &u->s[1], &a, &o->coef);
    } else {
        optim_sgd_args a = {(float)lr, o->momentum, wd, o->nesterov, o->first};
        ops->sgd_update(o->be, &u->w, &u->g, o->n_state ? &u->s[0] : NULL, &a, &o->coef);
    }
}

void optim_step(optim *o, double lr, int64_t step)
{
    CNN_ASSERT(step >= 1);
    if (o->n->n_params == 0)
        return;
    const backend_ops *ops = o->be->ops;
    const tensor *scale = o->dynamic ? &o->scale_now : NULL;
    ops->sumsq(o->be, &o->n->grads_flat, &o->sumsq, 0.0f);
    ops->grad_coef(o->be, &o->sumsq, o->grad_clip, scale, &o->coef);
    for (int r = 0; r < o->n_runs; r++)
        step_run(o, &o->runs[r], lr, step);
    if (o->dynamic) {
        ops->convert(o->be, &o->scale_now, &o->used, 0.0f); /* for the norm, before it moves */
        ops->loss_scale_update(o->be, &o->scale, &o->coef, o->growth, o->backoff, o->interval);
    }
    /* A skipped first step leaves the buffer at zero, and m*0 + d == d: "first" may end. */
    o->first = false;
    o->stepped = true;
}

const tensor *optim_loss_scale(const optim *o)
{
    return o->dynamic ? &o->scale_now : NULL;
}

double optim_last_grad_norm(optim *o)
{
    if (!o->stepped)
        return 0.0;
    float v[6];
    backend_download(o->be, &o->scal, v); /* [sumsq, c, skip, used, ...] */
    if (!isfinite(v[0]))
        return NAN;
    return sqrt((double)v[0]) / (double)v[3];
}

double optim_loss_scale_value(optim *o)
{
    if (!o->dynamic || o->n->n_params == 0)
        return 1.0;
    float v[2];
    backend_download(o->be, &o->scale, v);
    return v[0];
}

ckpt_tensor *optim_state(optim *o, int *n_out)
{
    *n_out = o->n->n_params * o->n_state + (o->dynamic ? 1 : 0);
    return o->ck; /* the loss scale's entry follows the state's */
}

/* State the file did not have is zero (PyTorch: no entry in optimizer.state); momentum that
 * it had makes the next step a continuing one. */
void optim_loaded(optim *o)
{
    int cnt = o->n->n_params * o->n_state;
    bool any = false;
    for (int k = 0; k < cnt; k++) {
        if (o->ck[k].found)
            any = true;
        else
            o->be->ops->fill(o->be, o->ck[k].t, 0.0);
    }
    if (o->kind == RUN_OPTIM_SGD)
        o->first = !any;
}

void optim_destroy(optim *o)
{
    if (!o)
        return;
    for (int s = 0; s < 2; s++)
        backend_free_tensor(o->be, &o->state[s]);
    backend_free_tensor(o->be, &o->scal);
    free(o->runs);
    free(o->views);
    free(o->ck);
    free(o);
}
