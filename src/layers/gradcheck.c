/* Finite-difference gradient checker over a layer chain (see chain.h). Runs in float32 with
 * the projection loss accumulated in double: the backends have no f64 kernels, and the
 * tight comparison against PyTorch lives in the fixture tests; this check catches a backward
 * pass that is wrong in structure (missing terms, wrong indices), which shows at 1e-2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "chain.h"

gradcheck_opts gradcheck_defaults(void)
{
    gradcheck_opts o = {.step = 1e-2, .rtol = 2e-2, .atol = 2e-3, .max_points = 24,
                        .key = rng_key_from_seed(1234)};
    return o;
}

static double projected_loss(layer_chain *c, exec *x, const float *r, float *host_out)
{
    chain_forward(c, x);
    const tensor *out = chain_out(c);
    backend_download(c->be, out, host_out);
    double s = 0;
    for (int64_t i = 0; i < tensor_numel(out); i++)
        s += (double)r[i] * host_out[i];
    return s;
}

static void set_elem(backend *be, tensor *t, int64_t j, float v)
{
    be->ops->copy(be, (float *)t->data + j, t->dev, &v, DEVICE_CPU, sizeof v);
    be->ops->sync(be);
}

typedef struct target {
    tensor *val, *grad;
    char name[96];
} target;

static void check_target(layer_chain *c, exec *x, const gradcheck_opts *o, const target *t,
                         const float *r, float *host_out, double l0, gradcheck_result *res)
{
    int64_t n = tensor_numel(t->val);
    float *val = cnn_xmalloc((size_t)n * sizeof *val);
    float *ana = cnn_xmalloc((size_t)n * sizeof *ana);
    backend_download(c->be, t->val, val);
    backend_download(c->be, t->grad, ana);
    int points = n < o->max_points ? (int)n : o->max_points;
    rng_key k = rng_fold_str(o->key, t->name);
    for (int p = 0; p < points; p++) {
        int64_t j = n <= o->max_points ? p : (int64_t)(rng_uniform(k, (uint64_t)p) * (float)n);
        if (j >= n)
            j = n - 1;
        double h = o->step;
        set_elem(c->be, t->val, j, (float)(val[j] + h));
        double lp = projected_loss(c, x, r, host_out);
        set_elem(c->be, t->val, j, (float)(val[j] - h));
        double lm = projected_loss(c, x, r, host_out);
        set_elem(c->be, t->val, j, val[j]);
        double num = (lp - lm) / (2 * h), a = (lp - l0) / h, b = (l0 - lm) / h;
        if (fabs(a - b) > 0.25 * (fabs(a) + fabs(b)) + 10 * o->atol) {
            res->skipped++; /* a kink inside [v-h, v+h] */
            continue;
        }
        double err = fabs(num - ana[j]);
        double rel = err / (fabs(ana[j]) > 1e-12 ? fabs(ana[j]) : 1e-12);
        res->checked++;
        if (err > res->max_abs_err) {
            res->max_abs_err = err;
            snprintf(res->worst, sizeof res->worst, "%s[%lld]: backward %.6g, numeric %.6g",
                     t->name, (long long)j, ana[j], num);
        }
        if (err > o->atol && rel > res->max_rel_err)
            res->max_rel_err = rel;
        if (err > o->atol + o->rtol * fabs(ana[j])) {
            if (res->failed < 5)
                fprintf(stderr, "  gradcheck mismatch %s[%lld]: backward %.6g numeric %.6g\n",
                        t->name, (long long)j, ana[j], num);
            res->failed++;
        }
    }
    free(val);
    free(ana);
}

int chain_gradcheck(layer_chain *c, exec *x, const gradcheck_opts *o, gradcheck_result *res,
                    cnn_err *e)
{
    (void)e;
    *res = (gradcheck_result){0};
    tensor *dout = &c->dact[c->n - 1];
    int64_t nout = tensor_numel(dout);
    float *r = cnn_xmalloc((size_t)nout * sizeof *r);
    float *host_out = cnn_xmalloc((size_t)nout * sizeof *host_out);
    rng_fill_uniform(rng_fold(o->key, 1), 0, r, (size_t)nout, -1.0f, 1.0f);
    double l0 = projected_loss(c, x, r, host_out);
    backend_upload(c->be, dout, r);
    float beta = x->param_grad_beta;
    x->param_grad_beta = 0.0f;
    chain_backward(c, x);
    x->param_grad_beta = beta;

    target t;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->din[i].data)
            continue;
        t = (target){.val = &c->in[i], .grad = &c->din[i]};
        snprintf(t.name, sizeof t.name, "input %d", i);
        check_target(c, x, o, &t, r, host_out, l0, res);
    }
    for (int li = 0; li < c->n; li++)
        for (int s = 0; s < c->l[li]->n_slots; s++) {
            layer_slot *sl = &c->l[li]->slots[s];
            if (sl->kind != SLOT_PARAM)
                continue;
            t = (target){.val = &sl->t, .grad = &sl->grad};
            snprintf(t.name, sizeof t.name, "%s.%s", c->l[li]->name, sl->name);
            check_target(c, x, o, &t, r, host_out, l0, res);
        }
    free(r);
    free(host_out);
    return CNN_OK;
}
