/* comm's host collectives under mpiexec (np 2 and 3): sums, max, broadcast, barrier,
 * agreement on errors, node-local ranks, gathering bytes to one rank, and tensor
 * broadcast/all-reduce on the CPU backend.
 * Also runs without mpiexec (singleton, 1 rank). Values are small integers times powers of two, so every sum is exact in any order and
 * compared bitwise against the closed form (STYLE.md 36). */
#include <stdlib.h>
#include <string.h>

#include "../../src/comm/comm.h"
#include "../check.h"

static void host_sums(comm *c)
{
    int r = comm_rank(c), p = comm_size(c);
    double v[8], m[8];
    int64_t w[3];
    for (int i = 0; i < 8; i++) {
        v[i] = (r + 1) * ldexp(1.0, i - 4); /* sum: p(p+1)/2 * 2^(i-4) */
        m[i] = r * 0.5 - i;                 /* max: (p-1)/2 - i */
    }
    w[0] = (int64_t)r << 40; /* beyond 32 bits: sum p(p-1)/2 * 2^40 */
    w[1] = -r;
    w[2] = 1;
    comm_allreduce_sum_f64(c, v, 8, "test sums");
    comm_allreduce_max_f64(c, m, 8, "test max");
    comm_allreduce_sum_i64(c, w, 3, "test counts");
    for (int i = 0; i < 8; i++) {
        CHECK(v[i] == p * (p + 1) / 2 * ldexp(1.0, i - 4));
        CHECK(m[i] == (p - 1) * 0.5 - i);
    }
    CHECK_EQ(w[0], ((int64_t)p * (p - 1) / 2) << 40);
    CHECK_EQ(w[1], -(int64_t)p * (p - 1) / 2);
    CHECK_EQ(w[2], p);
}

static void bcast_and_agree(comm *c)
{
    int r = comm_rank(c), p = comm_size(c);
    char msg[32];
    snprintf(msg, sizeof msg, "from rank %d", r);
    comm_bcast_bytes(c, msg, sizeof msg, p - 1, "test bcast");
    char want[32];
    snprintf(want, sizeof want, "from rank %d", p - 1);
    CHECK(strcmp(msg, want) == 0);
    comm_barrier(c, "test barrier");

    CHECK_EQ(comm_agree(c, CNN_OK), CNN_OK);
    /* One rank fails: every rank gets its code. */
    CHECK_EQ(comm_agree(c, r == p - 1 ? CNN_EIO : CNN_OK), CNN_EIO);
    /* Several fail with different codes: the lowest failing rank's code wins. */
    int mine = r == 0 ? CNN_OK : (r % 2 ? CNN_EINVAL : CNN_ENOMEM);
    CHECK_EQ(comm_agree(c, mine), p > 1 ? CNN_EINVAL : CNN_OK);
    CHECK_EQ(comm_agree(c, CNN_ESTATE), CNN_ESTATE);
}

/* Rank r sends r bytes 'a' + r (rank 0 sends none): root gets them in rank order, with the
 * lengths and a terminating '\0'; the others get NULL. */
static void gather(comm *c)
{
    int r = comm_rank(c), p = comm_size(c);
    char mine[16];
    memset(mine, 'a' + r, sizeof mine);
    size_t lens[16];
    int root = p - 1;
    char *all = comm_gather_bytes(c, mine, (size_t)r, root, lens, "test gather");
    if (r != root) {
        CHECK(all == NULL);
        return;
    }
    char want[256] = "";
    for (int k = 0; k < p; k++) {
        CHECK_EQ(lens[k], (size_t)k);
        for (int j = 0; j < k; j++)
            want[strlen(want)] = (char)('a' + k);
    }
    CHECK(all && strcmp(all, want) == 0);
    free(all);
}

static void tensors(comm *c)
{
    int r = comm_rank(c), p = comm_size(c);
    backend *be;
    cnn_err e = {0};
    CHECK_EQ(backend_create("cpu", 1, &be, &e), CNN_OK);
    enum { N = 3000 };
    tensor t = tensor_view(NULL, SHAPE(3, 1000), DTYPE_F32, DEVICE_CPU);
    CHECK_EQ(backend_alloc_tensor(be, &t, &e), CNN_OK);
    float *h = cnn_xmalloc(N * sizeof *h);
    for (int i = 0; i < N; i++)
        h[i] = (float)r + 0.25f * (float)(i % 64);
    backend_upload(be, &t, h);
    comm_allreduce_sum_tensor(c, be, &t, "test tensor sum");
    backend_download(be, &t, h);
    for (int i = 0; i < N; i++)
        if (h[i] != (float)(p * (p - 1) / 2) + 0.25f * (float)(p * (i % 64))) {
            fprintf(stderr, "tensor sum [%d] = %g, want %g\n", i, h[i],
                    (double)(p * (p - 1) / 2) + 0.25 * p * (i % 64));
            exit(1);
        }
    for (int i = 0; i < N; i++)
        h[i] = (float)(r * 10000 + i);
    backend_upload(be, &t, h);
    comm_bcast_tensor(c, be, &t, p - 1, "test tensor bcast");
    backend_download(be, &t, h);
    for (int i = 0; i < N; i++)
        CHECK(h[i] == (float)((p - 1) * 10000 + i));
    /* exec.reduce_sum's callback is the same sum. */
    comm_sync_bn c_bn = {c, be};
    backend_upload(be, &t, (float[N]){[0] = 1.0f, [N - 1] = 2.0f});
    comm_sync_bn_reduce(&c_bn, &t);
    backend_download(be, &t, h);
    CHECK(h[0] == (float)p && h[1] == 0.0f && h[N - 1] == 2.0f * (float)p);
    free(h);
    backend_free_tensor(be, &t);
    backend_destroy(be);
}

int main(int argc, char **argv)
{
    comm *c;
    cnn_err e = {0};
    if (comm_init(&argc, &argv, 60, &c, &e) < 0) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    int r = comm_rank(c), p = comm_size(c);
    /* All ranks of these tests run on this one machine. */
    CHECK_EQ(comm_local_size(c), p);
    CHECK_EQ(comm_local_rank(c), r);
    host_sums(c);
    bcast_and_agree(c);
    gather(c);
    tensors(c);
    comm_set_phase(c, "done");
    comm_barrier(c, "end");
    if (r == 0)
        printf("comm collectives: %d ranks OK\n", p);
    comm_finalize(c);
    return 0;
}
