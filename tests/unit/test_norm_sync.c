/* Synchronized batch norm without MPI: two "ranks" run as threads, each with its own backend
 * and batch_norm2d instance on half of a batch, and exec.reduce_sum sums their tensors
 * through shared memory between barriers (what comm's all-reduce will do). Outputs, input
 * gradients and running statistics must equal one layer's on the whole batch, and the local
 * parameter gradients must add up to the whole batch's. The halves have very different
 * means, so statistics that stayed local (or a wrong combination) fail by far. */
#include <pthread.h>
#include <string.h>

#include "../../src/config/config.h"
#include "../../src/layers/chain.h"
#include "../check.h"

/* Both ranks hit the same checks on identical data, so 1e-5 is float rounding of a few
 * extra operations (the shifted moments), not a tolerance for a different algorithm. */
#define RTOL 1e-5
#define ATOL 1e-5
#define STEPS 2

typedef struct bufs {
    float *out, *din, *dw, *db, *rm, *rv;
} bufs;

typedef struct exchange {
    pthread_barrier_t bar;
    float *slot[2];
} exchange;

typedef struct rank_job {
    exchange *xc;
    int rank;
    const char *yaml;
    shape full;       /* the whole batch */
    const float *x;   /* (full) */
    const float *dy;  /* (STEPS, full) */
    const float *par; /* weight, bias, running_mean, running_var: 4 x C */
    float sum[4096];  /* scratch for the exchange */
    bufs res[STEPS];  /* this rank's half (out, din) and its own dw, db, rm, rv */
} rank_job;

static void reduce_two(void *ctx, tensor *t)
{
    rank_job *j = ctx;
    int64_t n = tensor_numel(t);
    CHECK(n <= 4096);
    j->xc->slot[j->rank] = t->data;
    pthread_barrier_wait(&j->xc->bar);
    for (int64_t i = 0; i < n; i++) /* same order on both ranks: identical sums */
        j->sum[i] = j->xc->slot[0][i] + j->xc->slot[1][i];
    pthread_barrier_wait(&j->xc->bar); /* both have read before either overwrites */
    memcpy(t->data, j->sum, (size_t)n * sizeof *j->sum);
}

static layer *make_layer(const char *yaml)
{
    cnn_err e = {0};
    cfg_node *root;
    layer *l;
    CHECK(config_parse_string(yaml, strlen(yaml), "sync", &root, &e) == 0);
    CHECK(layer_create(root, "bn", &l, &e) == 0);
    cfg_free(root);
    return l;
}

static float *download(backend *be, const tensor *t)
{
    float *h = cnn_xmalloc(tensor_bytes(t));
    backend_download(be, t, h);
    return h;
}

/* Runs STEPS training steps of one layer on samples [n0, n0 + n) of the batch. */
static void run_steps(rank_job *j, int64_t n0, int64_t n, exec *x, bufs *res)
{
    cnn_err e = {0};
    backend *be;
    CHECK(backend_create("cpu", 1, &be, &e) == 0);
    x->be = be;
    layer *l = make_layer(j->yaml);
    shape s = j->full;
    s.d[0] = n;
    int64_t per = shape_inner(&s, 1), c = s.d[1];
    layer_chain ch;
    CHECK(chain_setup(&ch, &l, 1, be, &s, &(dtype){DTYPE_F32}, 1, &e) == 0);
    chain_init(&ch, rng_key_from_seed(1));
    const char *names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; k++)
        if (layer_slot_find(l, names[k]))
            backend_upload(be, layer_slot_t(l, names[k]), j->par + k * c);
    backend_upload(be, &ch.in[0], j->x + n0 * per);
    for (int st = 0; st < STEPS; st++) {
        chain_forward(&ch, x);
        backend_upload(be, &ch.dact[0], j->dy + (st * j->full.d[0] + n0) * per);
        chain_backward(&ch, x);
        layer_slot *w = layer_slot_find(l, "weight"), *b = layer_slot_find(l, "bias");
        res[st] = (bufs){download(be, &ch.act[0]), download(be, &ch.din[0]),
                         w ? download(be, &w->grad) : NULL, b ? download(be, &b->grad) : NULL,
                         download(be, layer_slot_t(l, "running_mean")),
                         download(be, layer_slot_t(l, "running_var"))};
    }
    chain_free(&ch);
    layer_destroy(l);
    backend_destroy(be);
}

static void *rank_main(void *arg)
{
    rank_job *j = arg;
    int64_t half = j->full.d[0] / 2;
    exec x = {.training = true, .key = rng_key_from_seed(0), .reduce_sum = reduce_two,
              .reduce_ctx = j, .reduce_ranks = 2};
    run_steps(j, j->rank * half, half, &x, j->res);
    return NULL;
}

static void free_bufs(bufs *b)
{
    free(b->out), free(b->din), free(b->dw), free(b->db), free(b->rm), free(b->rv);
}

static int check_case(const char *yaml, shape full)
{
    printf("%s on %lld samples, split over 2 ranks\n", yaml, (long long)full.d[0]);
    int64_t total = shape_numel(&full), c = full.d[1], half = total / 2;
    rng_key k = rng_key_from_seed(42);
    float *x = cnn_xmalloc((size_t)total * sizeof *x);
    float *dy = cnn_xmalloc((size_t)(STEPS * total) * sizeof *dy);
    float par[4 * 64];
    CHECK(c <= 64);
    rng_fill_normal(k, 0, x, (size_t)half, 3.0f, 2.0f);
    rng_fill_normal(k, (uint64_t)half, x + half, (size_t)half, -2.0f, 0.5f);
    rng_fill_normal(rng_fold(k, 1), 0, dy, (size_t)(STEPS * total), 0.0f, 1.0f);
    rng_fill_uniform(rng_fold(k, 2), 0, par, (size_t)c, 0.5f, 1.5f);
    rng_fill_normal(rng_fold(k, 3), 0, par + c, (size_t)(2 * c), 0.0f, 1.0f);
    rng_fill_uniform(rng_fold(k, 4), 0, par + 3 * c, (size_t)c, 0.5f, 1.5f);

    exchange xc;
    CHECK(pthread_barrier_init(&xc.bar, NULL, 2) == 0);
    rank_job *jobs = cnn_xcalloc(3, sizeof *jobs);
    for (int r = 0; r < 3; r++)
        jobs[r] = (rank_job){.xc = &xc, .rank = r, .yaml = yaml, .full = full, .x = x,
                             .dy = dy, .par = par};
    /* jobs[2]: the whole batch on one layer, no reduce (the reference). */
    exec ref = {.training = true, .key = rng_key_from_seed(0), .reduce_ranks = 1};
    run_steps(&jobs[2], 0, full.d[0], &ref, jobs[2].res);
    pthread_t th[2];
    for (int r = 0; r < 2; r++)
        CHECK(pthread_create(&th[r], NULL, rank_main, &jobs[r]) == 0);
    for (int r = 0; r < 2; r++)
        CHECK(pthread_join(th[r], NULL) == 0);

    int ok = 1;
    for (int st = 0; st < STEPS; st++) {
        bufs *w = &jobs[2].res[st];
        printf(" step %d\n", st);
        for (int r = 0; r < 2; r++) {
            bufs *g = &jobs[r].res[st];
            ok &= check_close(r ? "rank1 out" : "rank0 out", g->out, w->out + r * half, half,
                              RTOL, ATOL);
            ok &= check_close(r ? "rank1 din" : "rank0 din", g->din, w->din + r * half, half,
                              RTOL, ATOL);
            ok &= check_close("running_mean", g->rm, w->rm, c, RTOL, ATOL);
            ok &= check_close("running_var", g->rv, w->rv, c, RTOL, ATOL);
        }
        if (w->dw) { /* parameter gradients stay local: their sum is the whole batch's */
            float sw[64], sb[64];
            for (int64_t i = 0; i < c; i++) {
                sw[i] = jobs[0].res[st].dw[i] + jobs[1].res[st].dw[i];
                sb[i] = jobs[0].res[st].db[i] + jobs[1].res[st].db[i];
            }
            ok &= check_close("sum of ranks' dweight", sw, w->dw, c, RTOL, ATOL);
            ok &= check_close("sum of ranks' dbias", sb, w->db, c, RTOL, ATOL);
        }
        for (int r = 0; r < 3; r++)
            free_bufs(&jobs[r].res[st]);
    }
    pthread_barrier_destroy(&xc.bar);
    free(jobs);
    free(x);
    free(dy);
    return ok;
}

int main(void)
{
    int ok = check_case("{type: batch_norm2d, name: bn}", SHAPE(4, 3, 5, 6));
    ok &= check_case("{type: batch_norm2d, name: bn, momentum: 0.3, eps: 1e-3, affine: false}",
                     SHAPE(6, 5));
    ok &= check_case("{type: batch_norm2d, name: bn, momentum: 1.0}", SHAPE(2, 8, 3, 3));
    printf("norm_sync: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
