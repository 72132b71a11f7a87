/* cnn-layercheck: runs a chain of layers from a YAML file on random data, prints each
 * layer's output shape, parameter count and forward/backward time, then checks the whole
 * chain's backward pass against finite differences. It demonstrates the layer library
 * until the network graph and the trainer exist (issues #4 and #6).
 * Usage: cnn-layercheck CONFIG.yaml [--threads N] [--no-gradcheck]
 * Exit: 0 ok, 1 gradient check failed or runtime error, 2 usage or config error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/config/config.h"
#include "../src/layers/chain.h"

#define MAX_LAYERS 64

typedef struct demo {
    cfg_node *cfg;
    layer *ls[MAX_LAYERS];
    int n;
    shape in;
    int64_t seed, iters;
} demo;

static int load(demo *d, const char *path, cnn_err *e)
{
    static const char *const keys[] = {"input", "seed", "iterations", "layers", NULL};
    CNN_TRY(e, config_parse_file(path, &d->cfg, e));
    CNN_TRY(e, cfg_check_keys(d->cfg, keys, NULL, e));
    CNN_TRY(e, cfg_int(d->cfg, "seed", false, 1, &d->seed, e));
    CNN_TRY(e, cfg_int(d->cfg, "iterations", false, 5, &d->iters, e));
    char w[256];
    const cfg_node *in = cfg_get(d->cfg, "input");
    if (!in || in->kind != CFG_SEQ || in->n < 2 || in->n > CNN_MAX_DIMS)
        return CNN_ERR(e, CNN_EINVAL, "%s: 'input' must be a list of 2 to %d sizes, e.g. "
                       "[8, 1, 28, 28]", cfg_where(in ? in : d->cfg, w, sizeof w), CNN_MAX_DIMS);
    d->in.nd = in->n;
    for (int i = 0; i < in->n; i++) {
        char *end;
        d->in.d[i] = in->items[i]->kind == CFG_SCALAR ? strtoll(in->items[i]->str, &end, 10) : 0;
        if (d->in.d[i] <= 0 || *end)
            return CNN_ERR(e, CNN_EINVAL, "%s: input size %d must be a positive integer",
                           cfg_where(in->items[i], w, sizeof w), i);
    }
    if (d->iters < 1)
        return CNN_ERR(e, CNN_EINVAL, "iterations=%lld must be >= 1", (long long)d->iters);
    const cfg_node *ls = cfg_get(d->cfg, "layers");
    if (!ls || ls->kind != CFG_SEQ || ls->n < 1 || ls->n > MAX_LAYERS)
        return CNN_ERR(e, CNN_EINVAL, "%s: 'layers' must be a list of 1 to %d layers",
                       cfg_where(ls ? ls : d->cfg, w, sizeof w), MAX_LAYERS);
    for (int i = 0; i < ls->n; i++, d->n++) {
        char def[32];
        snprintf(def, sizeof def, "layer%d", i);
        CNN_TRY(e, layer_create(ls->items[i], def, &d->ls[i], e));
    }
    return CNN_OK;
}

static void print_table(const demo *d, const layer_chain *c)
{
    char b[96];
    int64_t total = 0;
    double tf = 0, tb = 0;
    printf("%-12s %-22s %-20s %10s %9s %9s\n", "layer", "type", "output", "params", "fwd ms",
           "bwd ms");
    for (int i = 0; i < d->n; i++) {
        int64_t np = 0;
        for (int s = 0; s < d->ls[i]->n_slots; s++)
            if (d->ls[i]->slots[s].kind == SLOT_PARAM)
                np += shape_numel(&d->ls[i]->slots[s].t.s);
        total += np;
        double f = 1e3 * c->fwd_s[i] / (double)d->iters, g = 1e3 * c->bwd_s[i] / (double)d->iters;
        tf += f;
        tb += g;
        printf("%-12s %-22s %-20s %10lld %9.3f %9.3f\n", d->ls[i]->name, d->ls[i]->ops->type,
               shape_str(&d->ls[i]->out, b, sizeof b), (long long)np, f, g);
    }
    printf("%-12s %-22s %-20s %10lld %9.3f %9.3f\n", "total", "", "", (long long)total, tf, tb);
}

static int run(demo *d, int threads, int gradcheck, cnn_err *e)
{
    backend *be;
    CNN_TRY(e, backend_create("cpu", threads, &be, e));
    layer_chain c;
    dtype f32 = DTYPE_F32;
    int rc = chain_setup(&c, d->ls, d->n, be, &d->in, &f32, 1, e);
    if (rc == CNN_OK) {
        rng_key key = rng_key_from_seed((uint64_t)d->seed);
        chain_init(&c, key);
        size_t n = (size_t)shape_numel(&d->in), no = (size_t)tensor_numel(chain_out(&c));
        float *h = cnn_xmalloc((n > no ? n : no) * sizeof *h);
        rng_fill_normal(rng_fold(key, 1), 0, h, n, 0.0f, 1.0f);
        backend_upload(be, &c.in[0], h);
        rng_fill_uniform(rng_fold(key, 2), 0, h, no, -1.0f, 1.0f);
        backend_upload(be, &c.dact[d->n - 1], h);
        free(h);
        exec x = {.be = be, .training = true, .key = rng_fold(key, 3)};
        printf("cnn-layercheck: %d layers, input %s, %d CPU threads, %lld iterations\n", d->n,
               shape_str(&d->in, (char[96]){0}, 96), be->threads, (long long)d->iters);
        /* One untimed pass first: oneDNN generates its kernels on first use. */
        for (int it = -1; it < d->iters; it++) {
            chain_forward(&c, &x);
            chain_backward(&c, &x);
            if (it < 0)
                for (int i = 0; i < d->n; i++)
                    c.fwd_s[i] = c.bwd_s[i] = 0;
        }
        print_table(d, &c);
        if (gradcheck) {
            gradcheck_opts o = gradcheck_defaults();
            gradcheck_result r;
            CNN_TRY(e, chain_gradcheck(&c, &x, &o, &r, e));
            printf("gradient check (central differences, step %g, rtol %g, atol %g): %d points "
                   "checked, %d skipped at kinks, %d failed; max abs error %.3g\n  worst: %s\n",
                   o.step, o.rtol, o.atol, r.checked, r.skipped, r.failed, r.max_abs_err,
                   r.worst);
            if (r.failed)
                rc = CNN_ERR(e, CNN_ESTATE, "gradient check failed at %d points", r.failed);
        }
    }
    chain_free(&c);
    backend_destroy(be);
    return rc;
}

int main(int argc, char **argv)
{
    log_init_from_env();
    const char *path = NULL;
    int threads = 0, gradcheck = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-gradcheck"))
            gradcheck = 0;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "usage: %s CONFIG.yaml [--threads N] [--no-gradcheck]\n", argv[0]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: %s CONFIG.yaml [--threads N] [--no-gradcheck]\n", argv[0]);
        return 2;
    }
    demo d = {0};
    cnn_err e = {0};
    int rc = load(&d, path, &e);
    if (rc == CNN_OK)
        rc = run(&d, threads, gradcheck, &e);
    if (rc < 0)
        fprintf(stderr, "cnn-layercheck: error: %s\n  (at %s)\n", e.msg, e.trace);
    for (int i = 0; i < d.n; i++)
        layer_destroy(d.ls[i]);
    cfg_free(d.cfg);
    return rc == CNN_OK ? 0 : rc == CNN_EINVAL ? 2 : 1;
}
