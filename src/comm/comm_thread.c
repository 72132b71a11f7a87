/* The MPI transport for host memory: a communication thread takes buckets from a FIFO and
 * all-reduces them on the reducer's own communicator while the compute thread goes on with
 * backward. It sleeps on a condition variable while the queue is empty. How one bucket is
 * run (read once at creation):
 *   CNN_COMM_POLL_US=0: a blocking MPI_Allreduce (spins inside Open MPI: takes the core
 *     from backward when ranks share cores);
 *   N > 0 (default 50): a nonblocking all-reduce progressed by tests with N-microsecond
 *     sleeps between tests that moved nothing while the compute thread runs backward (the
 *     core stays with it), and by MPI_Waitsome once the compute thread waits for the
 *     buckets (nothing else to run: the rest is exposed time). Every rank issues the same
 *     messages; only how each waits for them differs, so the ranks may differ in that.
 *   CNN_COMM_ALGO=ring (default): our ring over MPI_Isend/MPI_Irecv (ring.c);
 *     nbc: Open MPI's MPI_Iallreduce (libnbc), kept for comparison in comm-bench. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring.h"
#include "transport.h"

/* comm-bench on the shared 2-core machine, 2 ranks, resnet18_cifar batch 32: a blocking
 * MPI_Allreduce spins inside Open MPI and once slowed backward 9x (14.8 s against 1.6 s)
 * when the cores were oversubscribed; polling every 50 us kept backward at full speed and
 * hid 63% of the all-reduce (20 us: 43%, 100 us: 27%; noisy, load average 7-11). */
#define DEFAULT_POLL_US 50

typedef struct job {
    float *p;
    size_t count;
    char what[WATCH_WHAT_MAX];
} job;

typedef struct mpi_xport {
    transport base;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    job *q; /* FIFO [head, tail) of started buckets */
    int cap, head, tail;
    bool stop;
    double busy_s; /* time in MPI since the last bucket_wait */
    atomic_bool urgent; /* the compute thread waits in bucket_wait: poll without sleeping */
    long poll_us;
    ring *ring; /* NULL: libnbc's MPI_Iallreduce */
} mpi_xport;

/* Floats per ring message (16 MiB) and slices in flight. On one node every byte is copied
 * by the receiving rank's CPU (Open MPI's CMA single copy), so pipelining smaller slices
 * overlaps nothing and only adds handshakes, each of which waits for the peer to be
 * scheduled: comm-bench at load 6-9, median of reps against a ring MPI_Allreduce, put
 * 256 KiB messages at 0.38-0.83, 1 MiB at 0.50-0.86, 4 MiB at 0.69-1.02, 16 MiB at
 * 0.77-0.98, and 16 MiB beat 4 MiB on the median time in all 4 runs that had both. Two
 * slices in flight keep one moving while the other's sum is added. */
#define DEFAULT_CHUNK ((size_t)1 << 22)
#define RING_WINDOW 2

static void nap(const mpi_xport *m)
{
    struct timespec t = {0, m->poll_us * 1000L};
    nanosleep(&t, NULL);
}

static void run_nbc(mpi_xport *m, const job *j)
{
    MPI_Request rq;
    CNN_MPI(MPI_Iallreduce(MPI_IN_PLACE, j->p, (int)j->count, MPI_FLOAT, MPI_SUM,
                           m->base.c->bucket_comm, &rq));
    for (int done = 0;;) {
        if (atomic_load(&m->urgent)) {
            CNN_MPI(MPI_Wait(&rq, MPI_STATUS_IGNORE));
            return;
        }
        CNN_MPI(MPI_Test(&rq, &done, MPI_STATUS_IGNORE));
        if (done)
            return;
        nap(m);
    }
}

static void run_ring(mpi_xport *m, const job *j)
{
    ring_start(m->ring, j->p, j->count);
    for (;;) {
        bool urgent = atomic_load(&m->urgent);
        ring_state st = ring_progress(m->ring, urgent);
        if (st == RING_DONE)
            return;
        if (st == RING_IDLE && !urgent)
            nap(m);
    }
}

static void run_job(mpi_xport *m, const job *j)
{
    comm *c = m->base.c;
    comm_watch_enter(c, WATCH_BUCKETS, j->what);
    double t0 = comm_now();
    if (m->poll_us <= 0 || (!m->ring && j->count > (size_t)INT32_MAX))
        comm_mpi_allreduce_f32(c->bucket_comm, j->p, j->count);
    else if (m->ring)
        run_ring(m, j);
    else
        run_nbc(m, j);
    double dt = comm_now() - t0;
    comm_watch_leave(c, WATCH_BUCKETS);
    CNN_PTHREAD(pthread_mutex_lock(&m->mu));
    m->busy_s += dt;
    CNN_PTHREAD(pthread_mutex_unlock(&m->mu));
}

static void *comm_thread_main(void *arg)
{
    mpi_xport *m = arg;
    for (;;) {
        CNN_PTHREAD(pthread_mutex_lock(&m->mu));
        while (!m->stop && m->head == m->tail)
            CNN_PTHREAD(pthread_cond_wait(&m->cv_work, &m->mu));
        if (m->head == m->tail) { /* stopping with nothing left */
            CNN_PTHREAD(pthread_mutex_unlock(&m->mu));
            return NULL;
        }
        job j = m->q[m->head]; /* a copy: bucket_start may grow q meanwhile */
        CNN_PTHREAD(pthread_mutex_unlock(&m->mu));
        run_job(m, &j);
        CNN_PTHREAD(pthread_mutex_lock(&m->mu));
        m->head++;
        CNN_PTHREAD(pthread_cond_broadcast(&m->cv_done));
        CNN_PTHREAD(pthread_mutex_unlock(&m->mu));
    }
}

static void mpi_bucket_start(transport *t, float *p, size_t count, const char *what)
{
    mpi_xport *m = (mpi_xport *)t;
    CNN_PTHREAD(pthread_mutex_lock(&m->mu));
    if (m->head == m->tail)
        m->head = m->tail = 0; /* queue drained: reuse it from the front */
    if (m->tail == m->cap)
        m->q = cnn_xgrow(m->q, &m->cap, sizeof *m->q);
    job *j = &m->q[m->tail++];
    j->p = p;
    j->count = count;
    snprintf(j->what, sizeof j->what, "%s", what);
    CNN_PTHREAD(pthread_cond_signal(&m->cv_work));
    CNN_PTHREAD(pthread_mutex_unlock(&m->mu));
}

static void mpi_bucket_wait(transport *t, double *comm_s)
{
    mpi_xport *m = (mpi_xport *)t;
    CNN_PTHREAD(pthread_mutex_lock(&m->mu));
    atomic_store(&m->urgent, true);
    while (m->head != m->tail)
        CNN_PTHREAD(pthread_cond_wait(&m->cv_done, &m->mu));
    atomic_store(&m->urgent, false);
    *comm_s += m->busy_s;
    m->busy_s = 0;
    CNN_PTHREAD(pthread_mutex_unlock(&m->mu));
}

static void mpi_allreduce(transport *t, float *p, size_t count, const char *what)
{
    comm *c = t->c;
    comm_watch_enter(c, WATCH_MAIN, what);
    comm_mpi_allreduce_f32(c->main_comm, p, count);
    comm_watch_leave(c, WATCH_MAIN);
}

static void mpi_bcast(transport *t, float *p, size_t count, int root, const char *what)
{
    comm *c = t->c;
    comm_watch_enter(c, WATCH_MAIN, what);
    comm_mpi_bcast_bytes(c->main_comm, p, count * sizeof *p, root);
    comm_watch_leave(c, WATCH_MAIN);
}

static void mpi_destroy(transport *t)
{
    mpi_xport *m = (mpi_xport *)t;
    if (!m)
        return;
    CNN_PTHREAD(pthread_mutex_lock(&m->mu));
    m->stop = true;
    CNN_PTHREAD(pthread_cond_signal(&m->cv_work));
    CNN_PTHREAD(pthread_mutex_unlock(&m->mu));
    CNN_PTHREAD(pthread_join(m->th, NULL));
    pthread_cond_destroy(&m->cv_work);
    pthread_cond_destroy(&m->cv_done);
    pthread_mutex_destroy(&m->mu);
    ring_destroy(m->ring);
    free(m->q);
    free(m);
}

static const transport_ops mpi_ops = {
    .name = "mpi",
    .bucket_start = mpi_bucket_start,
    .bucket_wait = mpi_bucket_wait,
    .allreduce = mpi_allreduce,
    .bcast = mpi_bcast,
    .destroy = mpi_destroy,
};

/* CNN_COMM_ALGO and CNN_COMM_CHUNK_KB (floats per ring message x 4 / 1024). */
static int make_ring(mpi_xport *m, cnn_err *e)
{
    const char *algo = getenv("CNN_COMM_ALGO"), *kb = getenv("CNN_COMM_CHUNK_KB");
    if (algo && *algo && !strcmp(algo, "nbc"))
        return CNN_OK;
    if (algo && *algo && strcmp(algo, "ring"))
        return CNN_ERR(e, CNN_EINVAL, "CNN_COMM_ALGO=%s: use ring (the default) or nbc", algo);
    size_t chunk = DEFAULT_CHUNK;
    if (kb && *kb) {
        char *end;
        long v = strtol(kb, &end, 10);
        if (*end || v < 1 || v > (1L << 20))
            return CNN_ERR(e, CNN_EINVAL, "CNN_COMM_CHUNK_KB=%s: use an integer in 1..%ld",
                           kb, 1L << 20);
        chunk = (size_t)v * 1024 / sizeof(float);
    }
    m->ring = ring_create(m->base.c->bucket_comm, chunk, RING_WINDOW);
    return CNN_OK;
}

int transport_mpi_create(comm *c, backend *be, transport **out, cnn_err *e)
{
    *out = NULL;
    if (be->ops->dev != DEVICE_CPU)
        return CNN_ERR(e, CNN_ENOTSUP, "the MPI transport reduces host memory only; backend "
                                       "'%s' needs the NCCL transport", be->ops->name);
    mpi_xport *m = cnn_xcalloc(1, sizeof *m);
    m->base = (transport){&mpi_ops, c, be};
    atomic_init(&m->urgent, false);
    const char *env = getenv("CNN_COMM_POLL_US");
    m->poll_us = env && *env ? strtol(env, NULL, 10) : DEFAULT_POLL_US;
    if (m->poll_us > 100000)
        m->poll_us = 100000;
    int rc = m->poll_us > 0 ? make_ring(m, e) : CNN_OK;
    if (rc < 0) {
        free(m);
        cnn_err_trace(e, __FILE__, __LINE__);
        return rc;
    }
    CNN_PTHREAD(pthread_mutex_init(&m->mu, NULL));
    CNN_PTHREAD(pthread_cond_init(&m->cv_work, NULL));
    CNN_PTHREAD(pthread_cond_init(&m->cv_done, NULL));
    CNN_PTHREAD(pthread_create(&m->th, NULL, comm_thread_main, m));
    *out = &m->base;
    return CNN_OK;
}
