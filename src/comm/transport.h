/* Private to src/comm: what the reducer and the tensor collectives need from a transport.
 * MPI (comm_thread.c: host memory, a communication thread progresses the buckets while the
 * compute thread runs backward) and NCCL (nccl/: device memory, a NCCL stream ordered after
 * the compute stream by events). transport_create (transport.c) picks one for a backend and
 * is the only place in src/comm that tests CNN_HAVE_NCCL. */
#ifndef CNN_COMM_TRANSPORT_H
#define CNN_COMM_TRANSPORT_H

#include "comm_impl.h"

typedef struct transport transport;

typedef struct transport_ops {
    const char *name;
    /* Starts the in-place sum over ranks of count f32 at p (memory of the transport's
     * backend, final in the compute order when called) and returns at once. Buckets are
     * started in the same order on every rank. */
    void (*bucket_start)(transport *t, float *p, size_t count, const char *what);
    /* Every started bucket complete, in the compute order (the host may return earlier on
     * a device transport); adds the transport's time on them to *comm_s. */
    void (*bucket_wait)(transport *t, double *comm_s);
    /* In-place sum / broadcast of device memory, in the compute order. */
    void (*allreduce)(transport *t, float *p, size_t count, const char *what);
    void (*bcast)(transport *t, float *p, size_t count, int root, const char *what);
    void (*destroy)(transport *t);
} transport_ops;

struct transport {
    const transport_ops *ops;
    comm *c;     /* borrowed */
    backend *be; /* borrowed */
};

/* The transport for be: MPI for host memory; NCCL for a backend with a native stream when
 * this build has NCCL; CNN_ENOTSUP otherwise. */
int transport_create(comm *c, backend *be, transport **out, cnn_err *e);
int transport_mpi_create(comm *c, backend *be, transport **out, cnn_err *e);
int transport_nccl_create(comm *c, backend *be, transport **out, cnn_err *e);

/* MPI on host floats in chunks that fit MPI's int counts (host collectives and the
 * communication thread). */
void comm_mpi_allreduce_f32(MPI_Comm mc, float *p, size_t count);
void comm_mpi_bcast_bytes(MPI_Comm mc, void *p, size_t bytes, int root);

#endif
