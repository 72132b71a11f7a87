/* comm on the CUDA backend (the NCCL transport), any world size (the GPU machine runs it as
 * a singleton): tensor all-reduce and broadcast queued behind compute-stream work (a fill
 * queued just before must be what is summed), and the reducer with the hook on a small net:
 * grads_flat after reducer_finish must be world_size times this rank's own gradients, every
 * rank using the same batch (1 or 2 ranks, where p * g is exact). Exits 77 without a GPU or
 * without the NCCL transport. */
#include <string.h>

#include "../../src/comm/comm.h"
#include "../../src/config/config.h"
#include "../check.h"

static const char *yaml = "model:\n"
                          "  input: [3, 8, 8]\n"
                          "  layers:\n"
                          "    - {type: conv2d, out: 4, kernel: 3, pad: 1}\n"
                          "    - batch_norm2d\n"
                          "    - relu\n"
                          "    - flatten\n"
                          "    - {type: linear, out: 5}\n";

static void tensors(comm *c, backend *be)
{
    int p = comm_size(c);
    cnn_err e = {0};
    tensor t = tensor_view(NULL, SHAPE(1000), DTYPE_F32, be->ops->dev);
    CHECK_EQ(backend_alloc_tensor(be, &t, &e), CNN_OK);
    be->ops->fill(be, &t, 3.0); /* queued on the compute stream, not waited for */
    comm_allreduce_sum_tensor(c, be, &t, "gpu test sum");
    float h[1000];
    backend_download(be, &t, h);
    for (int i = 0; i < 1000; i++)
        CHECK(h[i] == 3.0f * (float)p);
    be->ops->fill(be, &t, (double)comm_rank(c) + 1.0);
    comm_bcast_tensor(c, be, &t, p - 1, "gpu test bcast");
    backend_download(be, &t, h);
    for (int i = 0; i < 1000; i++)
        CHECK(h[i] == (float)p);
    backend_free_tensor(be, &t);
}

static void step(net *n, reducer *r)
{
    exec x = {.be = n->be, .training = true, .key = rng_key_from_seed(5)};
    net_forward(n, &x, true);
    net_backward(n, &x, r ? reducer_hook : NULL, r);
    if (r)
        reducer_finish(r);
}

static void reduce_net(comm *c, backend *be)
{
    cnn_err e = {0};
    cfg_node *root;
    net *n;
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "gpu.yaml", &root, &e), CNN_OK);
    CHECK_EQ(net_create(cfg_get(root, "model"), 4, &n, &e), CNN_OK);
    CHECK_EQ(net_alloc(n, be, &e), CNN_OK);
    net_init(n, rng_key_from_seed(11));
    size_t cnt = (size_t)tensor_numel(&n->input);
    float *in = cnn_xmalloc(cnt * sizeof *in);
    rng_fill_uniform(rng_key_from_seed(2), 0, in, cnt, -1.0f, 1.0f);
    backend_upload(be, &n->input, in);
    free(in);
    int32_t lab[4] = {0, 1, 2, 3};
    backend_upload(be, &n->target, lab);
    size_t g = (size_t)tensor_numel(&n->grads_flat);
    float *own = cnn_xmalloc(g * sizeof *own), *got = cnn_xmalloc(g * sizeof *got);
    step(n, NULL);
    backend_download(be, &n->grads_flat, own);
    for (size_t bucket = 4; bucket <= ((size_t)1 << 30); bucket *= 1024) {
        reducer *r;
        CHECK_EQ(reducer_create(c, n, bucket, &r, &e), CNN_OK);
        for (int s = 0; s < 3; s++) {
            step(n, r);
            backend_download(be, &n->grads_flat, got);
            for (size_t i = 0; i < g; i++)
                if (got[i] != own[i] * (float)comm_size(c)) {
                    fprintf(stderr, "bucket %zu step %d: grads_flat[%zu] = %g, want %g\n",
                            bucket, s, i, got[i], own[i] * comm_size(c));
                    exit(1);
                }
        }
        reducer_stats st;
        reducer_get_stats(r, &st);
        printf("  bucket %zu B: %d buckets, 3 steps OK, comm %.3f ms measured\n", bucket,
               st.n_buckets, 1e3 * st.comm_seconds);
        CHECK(st.comm_seconds > 0); /* the first steps' NCCL time, read from events */
        reducer_destroy(r);
    }
    free(own);
    free(got);
    net_destroy(n);
    cfg_free(root);
}

int main(int argc, char **argv)
{
    comm *c;
    cnn_err e = {0};
    if (comm_init(&argc, &argv, 60, &c, &e) < 0) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    int p = comm_size(c);
    CHECK(p <= 2); /* g + g = 2g exactly; 3 equal summands may round */
    backend_opts bo = {.name = "cuda", .gpu = comm_local_rank(c)};
    backend *be;
    if (backend_create_opts(&bo, &be, &e) < 0) {
        printf("skipped: no CUDA backend: %s\n", e.msg);
        comm_finalize(c);
        return 77;
    }
    reducer *probe;
    net dummy = {.be = be};
    int rc = reducer_create(c, &dummy, 1024, &probe, &e);
    if (rc == CNN_ENOTSUP) {
        printf("skipped: %s\n", e.msg);
        backend_destroy(be);
        comm_finalize(c);
        return 77;
    }
    CHECK_EQ(rc, CNN_OK);
    reducer_destroy(probe);
    tensors(c, be);
    reduce_net(c, be);
    backend_destroy(be);
    printf("comm gpu: %d ranks OK\n", p);
    comm_finalize(c);
    return 0;
}
