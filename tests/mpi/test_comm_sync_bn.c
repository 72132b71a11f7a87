/* Synchronized batch norm through comm (np 2): each rank runs batch_norm2d forward and
 * backward on its half of a batch with exec.reduce_sum = comm_sync_bn_reduce; outputs and
 * input gradients must equal one layer's on the whole batch (computed on every rank without
 * any reduce), running statistics too, and the ranks' local dgamma/dbeta must add up to the
 * whole batch's. The halves have very different means, so statistics that stayed local fail
 * by far (tests/unit/test_norm_sync.c checks the same with threads instead of MPI). */
#include <mpi.h>
#include <string.h>

#include "../../src/comm/comm.h"
#include "../../src/config/config.h"
#include "../../src/layers/chain.h"
#include "../check.h"

/* Float rounding of a few extra operations (the reduced moments), not another algorithm. */
#define RTOL 1e-5
#define ATOL 1e-5
#define STEPS 2

typedef struct result {
    float *out, *din, *dw, *db, *rm, *rv;
} result;

static float *download(backend *be, const tensor *t)
{
    float *h = cnn_xmalloc(tensor_bytes(t));
    backend_download(be, t, h);
    return h;
}

/* STEPS training steps of one fresh layer on samples [n0, n0 + n) of the batch. */
static void run_steps(backend *be, const char *yaml, shape full, int64_t n0, int64_t n,
                      const float *x, const float *dy, exec *ex, result *res)
{
    cnn_err e = {0};
    cfg_node *root;
    layer *l;
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "bn.yaml", &root, &e), CNN_OK);
    CHECK_EQ(layer_create(root, "bn", &l, &e), CNN_OK);
    cfg_free(root);
    shape s = full;
    s.d[0] = n;
    int64_t per = shape_inner(&s, 1);
    layer_chain ch;
    CHECK_EQ(chain_setup(&ch, &l, 1, be, &s, &(dtype){DTYPE_F32}, 1, &e), CNN_OK);
    chain_init(&ch, rng_key_from_seed(1));
    backend_upload(be, &ch.in[0], x + n0 * per);
    for (int st = 0; st < STEPS; st++) {
        chain_forward(&ch, ex);
        backend_upload(be, &ch.dact[0], dy + (st * full.d[0] + n0) * per);
        chain_backward(&ch, ex);
        res[st] = (result){download(be, &ch.act[0]), download(be, &ch.din[0]),
                           download(be, &layer_slot_find(l, "weight")->grad),
                           download(be, &layer_slot_find(l, "bias")->grad),
                           download(be, layer_slot_t(l, "running_mean")),
                           download(be, layer_slot_t(l, "running_var"))};
    }
    chain_free(&ch);
    layer_destroy(l);
}

static int check_case(comm *c, backend *be, const char *yaml, shape full)
{
    int rank = comm_rank(c);
    int64_t total = shape_numel(&full), ch = full.d[1], half = total / 2;
    float *x = cnn_xmalloc((size_t)total * sizeof *x);
    float *dy = cnn_xmalloc((size_t)(STEPS * total) * sizeof *dy);
    rng_key k = rng_key_from_seed(42);
    rng_fill_normal(k, 0, x, (size_t)half, 3.0f, 2.0f);
    rng_fill_normal(k, (uint64_t)half, x + half, (size_t)half, -2.0f, 0.5f);
    rng_fill_normal(rng_fold(k, 1), 0, dy, (size_t)(STEPS * total), 0.0f, 1.0f);

    result whole[STEPS], mine[STEPS];
    exec ref = {.be = be, .training = true, .key = rng_key_from_seed(0), .reduce_ranks = 1};
    run_steps(be, yaml, full, 0, full.d[0], x, dy, &ref, whole);
    comm_sync_bn sb = {c, be};
    exec ex = {.be = be, .training = true, .key = rng_key_from_seed(0),
               .reduce_sum = comm_sync_bn_reduce, .reduce_ctx = &sb,
               .reduce_ranks = comm_size(c)};
    int64_t nh = full.d[0] / 2;
    run_steps(be, yaml, full, rank * nh, nh, x, dy, &ex, mine);
    int ok = 1;
    for (int st = 0; st < STEPS; st++) {
        ok &= check_close("out", mine[st].out, whole[st].out + rank * half, half, RTOL, ATOL);
        ok &= check_close("din", mine[st].din, whole[st].din + rank * half, half, RTOL, ATOL);
        ok &= check_close("running_mean", mine[st].rm, whole[st].rm, ch, RTOL, ATOL);
        ok &= check_close("running_var", mine[st].rv, whole[st].rv, ch, RTOL, ATOL);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, mine[st].dw, (int)ch, MPI_FLOAT, MPI_SUM,
                            MPI_COMM_WORLD) == MPI_SUCCESS);
        CHECK(MPI_Allreduce(MPI_IN_PLACE, mine[st].db, (int)ch, MPI_FLOAT, MPI_SUM,
                            MPI_COMM_WORLD) == MPI_SUCCESS);
        ok &= check_close("sum of ranks' dweight", mine[st].dw, whole[st].dw, ch, RTOL, ATOL);
        ok &= check_close("sum of ranks' dbias", mine[st].db, whole[st].db, ch, RTOL, ATOL);
        for (int i = 0; i < 2; i++) {
            result *r = i ? &whole[st] : &mine[st];
            free(r->out), free(r->din), free(r->dw), free(r->db), free(r->rm), free(r->rv);
        }
    }
    free(x);
    free(dy);
    return ok;
}

int main(int argc, char **argv)
{
    comm *c;
    cnn_err e = {0};
    if (comm_init(&argc, &argv, 60, &c, &e) < 0) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    CHECK_EQ(comm_size(c), 2);
    backend *be;
    CHECK_EQ(backend_create("cpu", 1, &be, &e), CNN_OK);
    int ok = check_case(c, be, "{type: batch_norm2d, name: bn}", SHAPE(4, 3, 5, 6));
    ok &= check_case(c, be, "{type: batch_norm2d, name: bn, momentum: 0.3, eps: 1e-3}",
                     SHAPE(6, 5));
    backend_destroy(be);
    /* Every rank's verdict: a failure on rank 1 fails the job too. */
    int all = comm_agree(c, ok ? CNN_OK : CNN_EINVAL);
    if (comm_rank(c) == 0)
        printf("comm sync bn: %s\n", all == CNN_OK ? "ok" : "FAILED");
    comm_finalize(c);
    return all == CNN_OK ? 0 : 1;
}
