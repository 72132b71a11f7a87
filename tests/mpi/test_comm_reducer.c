/* The bucketed reducer on a real small net (conv, batch norm, relu, pool, linear) on the CPU
 * backend, np 2 and 4: every rank backpropagates its own batch; after backward with
 * reducer_hook and reducer_finish (or finish alone) every rank must hold the sum of all
 * ranks' own gradients (gathered here with plain MPI and summed in double), bit-identical
 * across ranks; the buckets must be contiguous, end on node boundaries, cover grads_flat
 * exactly, and be handed over by the hook as soon as their last node is done. Each case
 * runs with every way the communication thread can reduce a bucket (our ring with small
 * messages, so that buckets span many slices; libnbc's MPI_Iallreduce; a blocking
 * MPI_Allreduce). The ring itself is checked alone on integer-valued floats (exact sums)
 * for counts that leave empty, uneven and partial segments. */
#include <mpi.h>
#include <string.h>

#include "../../src/comm/reducer_impl.h"
#include "../../src/comm/ring.h"
#include "../../src/config/config.h"
#include "../check.h"

static const char *yaml =
    "model:\n"
    "  input: [3, 8, 8]\n"
    "  layers:\n"
    "    - {type: conv2d, out: 4, kernel: 3, pad: 1}\n"
    "    - batch_norm2d\n"
    "    - relu\n"
    "    - {type: max_pool2d, kernel: 2}\n"
    "    - {type: conv2d, out: 6, kernel: 3, pad: 1}\n"
    "    - batch_norm2d\n"
    "    - relu\n"
    "    - flatten\n"
    "    - {type: linear, out: 10}\n"
    "    - relu\n"
    "    - {type: linear, out: 5}\n";

typedef struct probe {
    reducer *r;
    int bad; /* hooks after which a finished bucket had not been started */
    int hooks;
} probe;

/* reducer_hook, then: every bucket whose last node is done must have been started. */
static void probe_hook(void *ctx, const net *n, int node)
{
    probe *p = ctx;
    reducer_hook(p->r, n, node);
    reducer_stats s;
    reducer_get_stats(p->r, &s);
    const reducer_bucket *b = reducer_buckets(p->r);
    int want = 0;
    while (want < s.n_buckets && b[want].ready_hi <= n->nodes[node].param_hi)
        want++;
    p->bad += reducer_started(p->r) != want;
    p->hooks++;
}

static void check_layout(const net *n, reducer *r, size_t bucket_bytes)
{
    reducer_stats s;
    reducer_get_stats(r, &s);
    const reducer_bucket *b = reducer_buckets(r);
    size_t total = tensor_bytes(&n->grads_flat);
    int with_params = 0;
    for (int i = 0; i < n->n_nodes; i++)
        with_params += n->nodes[i].param_hi > n->nodes[i].param_lo;
    CHECK_EQ(s.bytes, total);
    CHECK(s.n_buckets >= 1);
    CHECK_EQ(b[0].lo, 0);
    CHECK_EQ(b[s.n_buckets - 1].hi, total);
    for (int k = 0; k < s.n_buckets; k++) {
        CHECK(b[k].lo < b[k].ready_hi && b[k].ready_hi <= b[k].hi);
        CHECK_EQ(b[k].ready_hi, n->nodes[b[k].last_node].param_hi);
        if (k + 1 < s.n_buckets) {
            CHECK_EQ(b[k].hi, b[k + 1].lo);
            CHECK_EQ(b[k].hi, b[k].ready_hi); /* closed on a node's end */
        }
        if (k + 2 < s.n_buckets) /* the last two: the tail was split off */
            CHECK(b[k].hi - b[k].lo >= bucket_bytes);
    }
    /* The last bucket holds at most the tail, unless one node alone is larger. */
    const reducer_bucket *l = &b[s.n_buckets - 1];
    int top = 0;
    while (n->nodes[top].param_hi <= n->nodes[top].param_lo)
        top++;
    CHECK(l->hi - l->lo <= reducer_tail_bytes(bucket_bytes) ||
          l->hi - n->nodes[top].param_lo > reducer_tail_bytes(bucket_bytes) ||
          (s.n_buckets == 1 && total <= reducer_tail_bytes(bucket_bytes)));
    if (bucket_bytes <= 4)
        CHECK_EQ(s.n_buckets, with_params);
    if (bucket_bytes >= ((size_t)8 << 20))
        CHECK_EQ(s.n_buckets, 1); /* the tail limit (1 MiB) holds all of this small net */
    if (bucket_bytes == total) /* one bucket, and its tail (the first layers) cut off */
        CHECK_EQ(s.n_buckets, 2);
}

static void forward_backward(net *n, int rank, probe *pr)
{
    exec x = {.be = n->be, .training = true, .key = rng_key_from_seed(5)};
    size_t cnt = (size_t)tensor_numel(&n->input);
    float *h = cnn_xmalloc(cnt * sizeof *h);
    rng_fill_uniform(rng_fold(rng_key_from_seed(2), (uint64_t)rank), 0, h, cnt, -1.0f, 1.0f);
    backend_upload(n->be, &n->input, h);
    free(h);
    int32_t lab[64];
    for (int i = 0; i < n->batch; i++)
        lab[i] = (i * 3 + rank) % 5;
    backend_upload(n->be, &n->target, lab);
    net_forward(n, &x, true);
    net_backward(n, &x, pr ? probe_hook : NULL, pr);
}

/* Sums every rank's gradients in double: the reference, and the bound on the float
 * rounding of any summation order, (p - 1) * 2^-24 * sum |g| per element (doubled). */
static void reference(const float *own, size_t cnt, int p, double *sum, double *bound)
{
    float *all = cnn_xmalloc(cnt * (size_t)p * sizeof *all);
    CHECK(MPI_Allgather(own, (int)cnt, MPI_FLOAT, all, (int)cnt, MPI_FLOAT, MPI_COMM_WORLD) ==
          MPI_SUCCESS);
    for (size_t i = 0; i < cnt; i++) {
        double s = 0, a = 0;
        for (int r = 0; r < p; r++) {
            s += all[(size_t)r * cnt + i];
            a += fabs(all[(size_t)r * cnt + i]);
        }
        sum[i] = s;
        bound[i] = 2.0 * (p - 1) * ldexp(1.0, -24) * a;
    }
    free(all);
}

static void run_case(net *n, comm *c, const char *name, size_t bucket_bytes, bool hook)
{
    int rank = comm_rank(c), p = comm_size(c);
    size_t cnt = (size_t)tensor_numel(&n->grads_flat);
    float *own = cnn_xmalloc(cnt * sizeof *own), *got = cnn_xmalloc(cnt * sizeof *got);
    double *sum = cnn_xmalloc(cnt * sizeof *sum), *bound = cnn_xmalloc(cnt * sizeof *bound);
    forward_backward(n, rank, NULL);
    backend_download(n->be, &n->grads_flat, own);
    reference(own, cnt, p, sum, bound);

    reducer *r;
    cnn_err e = {0};
    CHECK_EQ(reducer_create(c, n, bucket_bytes, &r, &e), CNN_OK);
    check_layout(n, r, bucket_bytes);
    for (int step = 0; step < 2; step++) { /* twice: the reducer is reusable */
        probe pr = {.r = r};
        forward_backward(n, rank, hook ? &pr : NULL);
        CHECK_EQ(pr.bad, 0);
        reducer_finish(r);
        CHECK_EQ(reducer_started(r), 0);
        backend_download(n->be, &n->grads_flat, got);
        for (size_t i = 0; i < cnt; i++)
            if (!(fabs(got[i] - sum[i]) <= bound[i])) {
                fprintf(stderr, "%s: grads_flat[%zu] = %.9g, sum of ranks %.9g (bound %g)\n",
                        name, i, got[i], sum[i], bound[i]);
                exit(1);
            }
        /* Identical replicas: every rank holds the same bits. */
        float *r0 = cnn_xmalloc(cnt * sizeof *r0);
        memcpy(r0, got, cnt * sizeof *r0);
        CHECK(MPI_Bcast(r0, (int)cnt, MPI_FLOAT, 0, MPI_COMM_WORLD) == MPI_SUCCESS);
        CHECK(memcmp(r0, got, cnt * sizeof *r0) == 0);
        free(r0);
    }
    reducer_stats s;
    reducer_get_stats(r, &s);
    CHECK_EQ(s.steps, 2);
    CHECK(s.comm_seconds >= 0 && s.exposed_seconds >= 0);
    if (rank == 0)
        printf("  %-22s %2d buckets over %zu bytes: sum of %d ranks OK\n", name, s.n_buckets,
               s.bytes, p);
    reducer_destroy(r);
    free(own), free(got), free(sum), free(bound);
}

/* ring.c alone: the sum of (i * 7 + rank * 3) % 11 over ranks, exactly, on every rank. */
static void ring_case(size_t chunk, int window, bool block)
{
    int rank, p;
    MPI_Comm mc;
    CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &mc) == MPI_SUCCESS);
    CHECK(MPI_Comm_rank(mc, &rank) == MPI_SUCCESS && MPI_Comm_size(mc, &p) == MPI_SUCCESS);
    ring *r = ring_create(mc, chunk, window);
    const size_t counts[] = {0, 1, 2, 5, chunk * (size_t)p, chunk * (size_t)p + 1,
                             3 * chunk * (size_t)p * (size_t)window + 7};
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        size_t n = counts[c];
        float *x = cnn_xmalloc((n + 1) * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)((i * 7 + (size_t)rank * 3) % 11);
        x[n] = -1; /* must stay */
        ring_start(r, x, n);
        while (ring_progress(r, block) != RING_DONE)
            ;
        for (size_t i = 0; i < n; i++) {
            float want = 0;
            for (int q = 0; q < p; q++)
                want += (float)((i * 7 + (size_t)q * 3) % 11);
            if (x[i] != want) {
                fprintf(stderr, "ring chunk %zu window %d count %zu: x[%zu] = %g, want %g\n",
                        chunk, window, n, i, x[i], want);
                exit(1);
            }
        }
        CHECK(x[n] == -1);
        free(x);
    }
    ring_destroy(r);
    CHECK(MPI_Comm_free(&mc) == MPI_SUCCESS);
    if (rank == 0)
        printf("  ring, chunk %zu, window %d, %s: exact\n", chunk, window,
               block ? "MPI_Waitsome" : "MPI_Testsome");
}

/* The communication thread's way to reduce a bucket, read by the transport at
 * reducer_create: a 1 KiB ring message is 256 floats, so this net's buckets span slices. */
static void set_mode(const char *algo, const char *poll_us, const char *chunk_kb)
{
    setenv("CNN_COMM_ALGO", algo, 1);
    setenv("CNN_COMM_POLL_US", poll_us, 1);
    setenv("CNN_COMM_CHUNK_KB", chunk_kb, 1); /* "": the default */
}

static void reducer_cases(net *n, comm *c)
{
    size_t total = tensor_bytes(&n->grads_flat);
    run_case(n, c, "tiny (node per bucket)", 4, true);
    run_case(n, c, "mid", total / 3, true);
    run_case(n, c, "huge (one bucket)", (size_t)1 << 30, true);
    run_case(n, c, "whole net + tail", total, true);
    run_case(n, c, "mid, finish only", total / 3, false);
    run_case(n, c, "tiny, finish only", 4, false);
}

int main(int argc, char **argv)
{
    comm *c;
    cnn_err e = {0};
    if (comm_init(&argc, &argv, 60, &c, &e) < 0) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    backend *be;
    cfg_node *root;
    net *n;
    CHECK_EQ(backend_create("cpu", 1, &be, &e), CNN_OK);
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "reducer.yaml", &root, &e), CNN_OK);
    CHECK_EQ(net_create(cfg_get(root, "model"), 4, &n, &e), CNN_OK);
    CHECK_EQ(net_alloc(n, be, &e), CNN_OK);
    net_init(n, rng_key_from_seed(11)); /* the same weights on every rank */
    ring_case(1, 1, false);
    ring_case(3, 2, false);
    ring_case(5, 3, true);
    static const char *modes[][4] = {
        {"ring, 1 KiB messages", "ring", "50", "1"},
        {"ring, default messages", "ring", "50", ""},
        {"libnbc MPI_Iallreduce", "nbc", "50", "1"},
        {"blocking MPI_Allreduce", "ring", "0", "1"},
    };
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        if (comm_rank(c) == 0)
            printf(" %s:\n", modes[i][0]);
        set_mode(modes[i][1], modes[i][2], modes[i][3]);
        reducer_cases(n, c);
    }
    /* A mistyped setting is the user's error, named with what to use. */
    const char *bad[][2] = {{"rings", "1"}, {"ring", "0"}, {"ring", "4x"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        reducer *r = NULL;
        set_mode(bad[i][0], "50", bad[i][1]);
        CHECK_EQ(reducer_create(c, n, 1024, &r, &e), CNN_EINVAL);
        CHECK(r == NULL && strstr(e.msg, i == 0 ? "CNN_COMM_ALGO" : "CNN_COMM_CHUNK_KB"));
    }
    net_destroy(n);
    cfg_free(root);
    backend_destroy(be);
    comm_finalize(c);
    return 0;
}
