/* Blocking collectives on the main thread's communicator: host values (counts, metrics,
 * agreement), tensors of any backend (host memory directly; device memory through the
 * device transport, or staged through the host when there is none), and the sync-BN
 * callback. Each is bracketed by a watch slot so the watchdog can name it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"

/* Largest count per MPI call: MPI counts are int. */
#define CHUNK ((size_t)1 << 30)

void comm_mpi_allreduce_f32(MPI_Comm mc, float *p, size_t count)
{
    for (size_t i = 0; i < count; i += CHUNK) {
        size_t k = count - i < CHUNK ? count - i : CHUNK;
        CNN_MPI(MPI_Allreduce(MPI_IN_PLACE, p + i, (int)k, MPI_FLOAT, MPI_SUM, mc));
    }
}

void comm_mpi_bcast_bytes(MPI_Comm mc, void *p, size_t bytes, int root)
{
    for (size_t i = 0; i < bytes; i += CHUNK) {
        size_t k = bytes - i < CHUNK ? bytes - i : CHUNK;
        CNN_MPI(MPI_Bcast((char *)p + i, (int)k, MPI_BYTE, root, mc));
    }
}

static void host_allreduce(comm *c, void *v, int n, MPI_Datatype ty, MPI_Op op,
                           const char *what)
{
    CNN_ASSERT(n >= 0);
    comm_watch_enter(c, WATCH_MAIN, what);
    CNN_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, ty, op, c->main_comm));
    comm_watch_leave(c, WATCH_MAIN);
}

void comm_allreduce_sum_f64(comm *c, double *v, int n, const char *what)
{
    host_allreduce(c, v, n, MPI_DOUBLE, MPI_SUM, what);
}

void comm_allreduce_sum_i64(comm *c, int64_t *v, int n, const char *what)
{
    host_allreduce(c, v, n, MPI_INT64_T, MPI_SUM, what);
}

void comm_allreduce_max_f64(comm *c, double *v, int n, const char *what)
{
    host_allreduce(c, v, n, MPI_DOUBLE, MPI_MAX, what);
}

void comm_bcast_bytes(comm *c, void *buf, size_t bytes, int root, const char *what)
{
    CNN_ASSERT(root >= 0 && root < c->size);
    comm_watch_enter(c, WATCH_MAIN, what);
    comm_mpi_bcast_bytes(c->main_comm, buf, bytes, root);
    comm_watch_leave(c, WATCH_MAIN);
}

char *comm_gather_bytes(comm *c, const void *mine, size_t n, int root, size_t *lens,
                        const char *what)
{
    CNN_ASSERT(root >= 0 && root < c->size);
    uint64_t mine_n = n, *all_n = c->rank == root ? cnn_xcalloc((size_t)c->size, 8) : NULL;
    comm_watch_enter(c, WATCH_MAIN, what);
    CNN_MPI(MPI_Gather(&mine_n, 1, MPI_UINT64_T, all_n, 1, MPI_UINT64_T, root, c->main_comm));
    int *counts = NULL, *displs = NULL;
    char *all = NULL;
    if (c->rank == root) {
        counts = cnn_xcalloc((size_t)c->size, sizeof *counts);
        displs = cnn_xcalloc((size_t)c->size, sizeof *displs);
        size_t total = 0;
        for (int r = 0; r < c->size; r++) {
            if (all_n[r] > (uint64_t)INT_MAX - total)
                cnn_fatal("%s: %llu bytes from rank %d after %zu: more than one gather of MPI "
                          "can carry (2 GiB); gather less at a time", what,
                          (unsigned long long)all_n[r], r, total);
            displs[r] = (int)total;
            counts[r] = (int)all_n[r];
            total += all_n[r];
            if (lens)
                lens[r] = all_n[r];
        }
        all = cnn_xmalloc(total + 1);
        all[total] = '\0';
    }
    CNN_ASSERT(n <= INT_MAX);
    CNN_MPI(MPI_Gatherv(mine, (int)n, MPI_BYTE, all, counts, displs, MPI_BYTE, root,
                        c->main_comm));
    comm_watch_leave(c, WATCH_MAIN);
    free(all_n);
    free(counts);
    free(displs);
    return all;
}

void comm_barrier(comm *c, const char *what)
{
    comm_watch_enter(c, WATCH_MAIN, what);
    CNN_MPI(MPI_Barrier(c->main_comm));
    comm_watch_leave(c, WATCH_MAIN);
}

/* The transport for tensors of a device backend, made on first use (every rank makes its
 * first device-tensor collective at the same point, so the collective creation matches);
 * NULL when none can reach its memory (then tensors are staged through the host). */
static transport *dev_transport(comm *c, backend *be)
{
    if (be->ops->dev == DEVICE_CPU)
        return NULL;
    if (c->dev_xport_be == be)
        return c->dev_xport;
    CNN_ASSERT(c->dev_xport_be == NULL); /* one device backend per process */
    cnn_err e = {0};
    int rc = transport_create(c, be, &c->dev_xport, &e);
    if (rc < 0 && rc != CNN_ENOTSUP)
        cnn_fatal("comm: cannot create the device transport: %s", e.msg);
    c->dev_xport_be = be;
    return c->dev_xport;
}

typedef enum { OP_SUM, OP_BCAST } tensor_op;

static void tensor_collective(comm *c, backend *be, tensor *t, tensor_op op, int root,
                              const char *what)
{
    CNN_ASSERT(t->dt == DTYPE_F32);
    size_t count = (size_t)tensor_numel(t);
    transport *x = dev_transport(c, be);
    if (x) {
        if (op == OP_SUM)
            x->ops->allreduce(x, t->data, count, what);
        else
            x->ops->bcast(x, t->data, count, root, what);
        return;
    }
    bool staged = be->ops->dev != DEVICE_CPU;
    float *h = t->data;
    if (staged) {
        h = cnn_xmalloc(count * sizeof *h);
        backend_download(be, t, h); /* waits for the compute order */
    } else {
        be->ops->sync(be);
    }
    comm_watch_enter(c, WATCH_MAIN, what);
    if (op == OP_SUM)
        comm_mpi_allreduce_f32(c->main_comm, h, count);
    else
        comm_mpi_bcast_bytes(c->main_comm, h, count * sizeof *h, root);
    comm_watch_leave(c, WATCH_MAIN);
    if (staged) {
        backend_upload(be, t, h);
        be->ops->sync(be); /* the copy has read h */
        free(h);
    }
}

void comm_bcast_tensor(comm *c, backend *be, tensor *t, int root, const char *what)
{
    CNN_ASSERT(root >= 0 && root < c->size);
    tensor_collective(c, be, t, OP_BCAST, root, what);
}

void comm_allreduce_sum_tensor(comm *c, backend *be, tensor *t, const char *what)
{
    tensor_collective(c, be, t, OP_SUM, 0, what);
}

void comm_sync_bn_reduce(void *ctx, tensor *t)
{
    comm_sync_bn *s = ctx;
    comm_allreduce_sum_tensor(s->c, s->be, t, "sync batch norm sums");
}
