/* The NCCL transport for the CUDA backend: a non-blocking NCCL communicator created from an
 * id broadcast over MPI, and a NCCL stream ordered after the compute stream by events (a
 * bucket waits on an event recorded when its gradients are final; the compute stream waits
 * on an event recorded after the last bucket), so the host never synchronizes. A poll
 * thread checks ncclCommGetAsyncError and the age of the outstanding work; an error or a
 * timeout aborts the NCCL communicator, then the job. Compiled only with CNN_HAVE_NCCL. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../transport.h"

#define CNN_CUDA_CHECK(call)                                                             \
    do {                                                                                 \
        cudaError_t cnn_cu_ = (call);                                                    \
        if (cnn_cu_ != cudaSuccess)                                                      \
            cnn_fatal("%s failed: %s", #call, cudaGetErrorString(cnn_cu_));              \
    } while (0)

typedef struct nccl_xport {
    transport base;
    ncclComm_t nc;
    cudaStream_t compute, stream;
    cudaEvent_t ready, done, t_start, t_end;
    bool timing_pending; /* t_start/t_end recorded for a step not yet accounted */
    bool step_open;      /* a bucket of the current step has been started */
    bool step_timed;     /* ... and t_start was recorded for it */
    pthread_t poll;
    atomic_bool stop;
    pthread_mutex_t mu;
    double outstanding_since; /* when `done` was last recorded, 0 = nothing watched */
    char what[WATCH_WHAT_MAX];
} nccl_xport;

/* Non-blocking communicator: a call may return ncclInProgress, and the state must become
 * ncclSuccess before the next NCCL call. */
static void nccl_settle(nccl_xport *x, ncclResult_t rc, const char *call, const char *file,
                        int line)
{
    double t0 = comm_now();
    while (rc == ncclInProgress) {
        if (comm_now() - t0 > x->base.c->timeout_s)
            cnn_fatal_at(file, line, "%s still in progress after %.0f s (comm.timeout_s)", call,
                         x->base.c->timeout_s);
        struct timespec nap = {0, 100000};
        nanosleep(&nap, NULL);
        ncclResult_t st = ncclCommGetAsyncError(x->nc, &rc);
        if (st != ncclSuccess)
            rc = st;
    }
    if (rc != ncclSuccess) {
        const char *why = ncclGetErrorString(rc);
        ncclCommAbort(x->nc);
        cnn_fatal_at(file, line, "%s failed: %s", call, why);
    }
}
#define CNN_NCCL(x, call) nccl_settle((x), (call), #call, __FILE__, __LINE__)

static void *poll_main(void *arg)
{
    nccl_xport *x = arg;
    comm *c = x->base.c;
    while (!atomic_load(&x->stop)) {
        struct timespec nap = {0, 100000000L};
        nanosleep(&nap, NULL);
        ncclResult_t st = ncclSuccess;
        ncclResult_t rc = ncclCommGetAsyncError(x->nc, &st);
        if (rc == ncclSuccess && (st == ncclSuccess || st == ncclInProgress)) {
            CNN_PTHREAD(pthread_mutex_lock(&x->mu));
            double since = x->outstanding_since;
            bool late = since > 0 && cudaEventQuery(x->done) == cudaErrorNotReady &&
                        comm_now() - since > c->timeout_s;
            CNN_PTHREAD(pthread_mutex_unlock(&x->mu));
            if (!late)
                continue;
            ncclCommAbort(x->nc);
            cnn_fatal("NCCL '%s' not complete after %.1f s (comm.timeout_s %g): a rank has "
                      "not joined it or a link is down; NCCL communicator aborted",
                      x->what, comm_now() - since, c->timeout_s);
        }
        ncclCommAbort(x->nc);
        cnn_fatal("NCCL asynchronous error: %s", ncclGetErrorString(rc != ncclSuccess ? rc : st));
    }
    return NULL;
}

/* Work queued on the NCCL stream after everything queued so far on the compute stream. */
static void follow_compute(nccl_xport *x)
{
    CNN_CUDA_CHECK(cudaEventRecord(x->ready, x->compute));
    CNN_CUDA_CHECK(cudaStreamWaitEvent(x->stream, x->ready, 0));
}

/* The compute stream continues after everything queued so far on the NCCL stream. */
static void rejoin_compute(nccl_xport *x, const char *what)
{
    CNN_PTHREAD(pthread_mutex_lock(&x->mu));
    CNN_CUDA_CHECK(cudaEventRecord(x->done, x->stream));
    x->outstanding_since = comm_now();
    snprintf(x->what, sizeof x->what, "%s", what);
    CNN_PTHREAD(pthread_mutex_unlock(&x->mu));
    CNN_CUDA_CHECK(cudaStreamWaitEvent(x->compute, x->done, 0));
}

static void nccl_bucket_start(transport *t, float *p, size_t count, const char *what)
{
    nccl_xport *x = (nccl_xport *)t;
    follow_compute(x);
    if (!x->step_open) {
        x->step_open = true;
        x->step_timed = !x->timing_pending; /* one step timed at a time */
        if (x->step_timed)
            CNN_CUDA_CHECK(cudaEventRecord(x->t_start, x->stream));
    }
    snprintf(x->what, sizeof x->what, "%s", what);
    CNN_NCCL(x, ncclAllReduce(p, p, count, ncclFloat32, ncclSum, x->nc, x->stream));
}

/* Adds the previous step's NCCL time once its events are complete (never waits for them). */
static void nccl_bucket_wait(transport *t, double *comm_s)
{
    nccl_xport *x = (nccl_xport *)t;
    if (x->timing_pending && cudaEventQuery(x->t_end) == cudaSuccess) {
        float ms = 0;
        CNN_CUDA_CHECK(cudaEventElapsedTime(&ms, x->t_start, x->t_end));
        *comm_s += 1e-3 * ms;
        x->timing_pending = false;
    }
    if (!x->step_open)
        return;
    if (x->step_timed) {
        CNN_CUDA_CHECK(cudaEventRecord(x->t_end, x->stream));
        x->timing_pending = true;
    }
    x->step_open = false;
    rejoin_compute(x, "last gradient bucket");
}

static void nccl_allreduce(transport *t, float *p, size_t count, const char *what)
{
    nccl_xport *x = (nccl_xport *)t;
    follow_compute(x);
    CNN_NCCL(x, ncclAllReduce(p, p, count, ncclFloat32, ncclSum, x->nc, x->stream));
    rejoin_compute(x, what);
}

static void nccl_bcast(transport *t, float *p, size_t count, int root, const char *what)
{
    nccl_xport *x = (nccl_xport *)t;
    follow_compute(x);
    CNN_NCCL(x, ncclBroadcast(p, p, count, ncclFloat32, root, x->nc, x->stream));
    rejoin_compute(x, what);
}

static void nccl_destroy(transport *t)
{
    nccl_xport *x = (nccl_xport *)t;
    if (!x)
        return;
    atomic_store(&x->stop, true);
    CNN_PTHREAD(pthread_join(x->poll, NULL));
    CNN_CUDA_CHECK(cudaStreamSynchronize(x->stream));
    CNN_NCCL(x, ncclCommFinalize(x->nc));
    CNN_NCCL(x, ncclCommDestroy(x->nc));
    cudaEventDestroy(x->ready);
    cudaEventDestroy(x->done);
    cudaEventDestroy(x->t_start);
    cudaEventDestroy(x->t_end);
    cudaStreamDestroy(x->stream);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static const transport_ops nccl_ops = {
    .name = "nccl",
    .bucket_start = nccl_bucket_start,
    .bucket_wait = nccl_bucket_wait,
    .allreduce = nccl_allreduce,
    .bcast = nccl_bcast,
    .destroy = nccl_destroy,
};

static void init_comm(nccl_xport *x, comm *c)
{
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (c->rank == 0 && ncclGetUniqueId(&id) != ncclSuccess)
        cnn_fatal("ncclGetUniqueId failed (is the NCCL library usable on this node?)");
    comm_bcast_bytes(c, &id, sizeof id, 0, "NCCL unique id");
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    comm_watch_enter(c, WATCH_MAIN, "NCCL communicator creation");
    CNN_NCCL(x, ncclCommInitRankConfig(&x->nc, c->size, id, c->rank, &cfg));
    comm_watch_leave(c, WATCH_MAIN);
}

int transport_nccl_create(comm *c, backend *be, transport **out, cnn_err *e)
{
    *out = NULL;
    void *stream = be->ops->native_stream ? be->ops->native_stream(be) : NULL;
    if (!stream)
        return CNN_ERR(e, CNN_ENOTSUP, "backend '%s' has no native stream for NCCL",
                       be->ops->name);
    nccl_xport *x = cnn_xcalloc(1, sizeof *x);
    x->base = (transport){&nccl_ops, c, be};
    x->compute = (cudaStream_t)stream;
    CNN_CUDA_CHECK(cudaStreamCreateWithFlags(&x->stream, cudaStreamNonBlocking));
    CNN_CUDA_CHECK(cudaEventCreateWithFlags(&x->ready, cudaEventDisableTiming));
    CNN_CUDA_CHECK(cudaEventCreateWithFlags(&x->done, cudaEventDisableTiming));
    CNN_CUDA_CHECK(cudaEventCreate(&x->t_start));
    CNN_CUDA_CHECK(cudaEventCreate(&x->t_end));
    CNN_PTHREAD(pthread_mutex_init(&x->mu, NULL));
    init_comm(x, c);
    atomic_init(&x->stop, false);
    CNN_PTHREAD(pthread_create(&x->poll, NULL, poll_main, x));
    *out = &x->base;
    return CNN_OK;
}
