/* The MPI transport for host memory: a communication thread takes buckets from a FIFO and
 * all-reduces them on the reducer's own communicator while the compute thread goes on with
 * backward. It sleeps on a condition variable while the queue is empty. Two ways to run
 * one bucket (CNN_COMM_POLL_US, read once at creation): 0 = a blocking MPI_Allreduce;
 * N > 0 = MPI_Iallreduce, then MPI_Test with N-microsecond sleeps between tests while the
 * compute thread runs backward (the core stays with it), and without sleeps once
 * reducer_finish waits (nothing else to run: the rest is exposed time). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
} mpi_xport;

static void run_job(mpi_xport *m, const job *j)
{
    comm *c = m->base.c;
    comm_watch_enter(c, WATCH_BUCKETS, j->what);
    double t0 = comm_now();
    if (m->poll_us <= 0 || j->count > (size_t)INT32_MAX) {
        comm_mpi_allreduce_f32(c->bucket_comm, j->p, j->count);
    } else {
        MPI_Request rq;
        CNN_MPI(MPI_Iallreduce(MPI_IN_PLACE, j->p, (int)j->count, MPI_FLOAT, MPI_SUM,
                               c->bucket_comm, &rq));
        struct timespec nap = {0, m->poll_us * 1000L};
        for (int done = 0;;) {
            CNN_MPI(MPI_Test(&rq, &done, MPI_STATUS_IGNORE));
            if (done)
                break;
            if (!atomic_load(&m->urgent))
                nanosleep(&nap, NULL);
        }
    }
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
    CNN_PTHREAD(pthread_mutex_init(&m->mu, NULL));
    CNN_PTHREAD(pthread_cond_init(&m->cv_work, NULL));
    CNN_PTHREAD(pthread_cond_init(&m->cv_done, NULL));
    CNN_PTHREAD(pthread_create(&m->th, NULL, comm_thread_main, m));
    *out = &m->base;
    return CNN_OK;
}
