/* The communicator's life: MPI_Init_thread with MPI_THREAD_MULTIPLE (the reducer's and the
 * watchdog's threads call MPI), three duplicated communicators, node-local ranks, the
 * cnn_fatal abort hook (MPI_Abort, so one rank's fault ends the job in seconds), agreement
 * on errors, and the watch slots that bracket every collective for the watchdog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm_impl.h"
#include "transport.h"

void comm_mpi_fail(int rc, const char *call, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    cnn_fatal_at(file, line, "%s failed: %s", call, msg);
}

double comm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* cnn_fatal's hook: a fault on any thread of any rank ends every rank. */
static void comm_abort_hook(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
}

static int init_mpi(int *argc, char ***argv, cnn_err *e)
{
    int inited = 0, provided = 0;
    CNN_MPI(MPI_Initialized(&inited));
    if (inited)
        return CNN_ERR(e, CNN_ESTATE, "comm_init called twice: MPI is already initialised");
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return CNN_ERR(e, CNN_EINVAL, "MPI_Init_thread failed; check the MPI installation "
                                      "(mpirun --version) and the launcher's environment");
    if (provided < MPI_THREAD_MULTIPLE) {
        const char *names[] = {"MPI_THREAD_SINGLE", "MPI_THREAD_FUNNELED",
                               "MPI_THREAD_SERIALIZED", "MPI_THREAD_MULTIPLE"};
        const char *got = provided >= 0 && provided <= 3 ? names[provided] : "unknown";
        MPI_Finalize();
        return CNN_ERR(e, CNN_ENOTSUP,
                       "the MPI library provides only %s, but comm needs MPI_THREAD_MULTIPLE "
                       "(its reducer and watchdog threads call MPI); use an MPI built with "
                       "thread support (Open MPI: ompi_info | grep THREAD_MULTIPLE)", got);
    }
    return CNN_OK;
}

static void dup_comm(MPI_Comm *out)
{
    CNN_MPI(MPI_Comm_dup(MPI_COMM_WORLD, out));
    CNN_MPI(MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN));
}

int comm_init(int *argc, char ***argv, double timeout_s, comm **out, cnn_err *e)
{
    *out = NULL;
    if (!(timeout_s > 0))
        return CNN_ERR(e, CNN_EINVAL, "comm timeout %g s must be > 0 (comm.timeout_s)",
                       timeout_s);
    CNN_TRY(e, init_mpi(argc, argv, e));
    CNN_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    comm *c = cnn_xcalloc(1, sizeof *c);
    c->timeout_s = timeout_s;
    CNN_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank));
    CNN_MPI(MPI_Comm_size(MPI_COMM_WORLD, &c->size));
    cnn_proc_set(c->rank, c->size, comm_abort_hook);
    MPI_Comm node;
    CNN_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL,
                                &node));
    CNN_MPI(MPI_Comm_rank(node, &c->local_rank));
    CNN_MPI(MPI_Comm_size(node, &c->local_size));
    CNN_MPI(MPI_Comm_free(&node));
    dup_comm(&c->main_comm);
    dup_comm(&c->bucket_comm);
    dup_comm(&c->dog_comm);
    CNN_PTHREAD(pthread_mutex_init(&c->watch_mu, NULL));
    for (int i = 0; i < WATCH_LINES; i++)
        c->watch[i].since = comm_now();
    snprintf(c->phase, sizeof c->phase, "start-up");
    int rc = watchdog_start(c, &c->dog, e);
    if (rc < 0) {
        cnn_err_trace(e, __FILE__, __LINE__);
        comm_finalize(c);
        return rc;
    }
    *out = c;
    return CNN_OK;
}

void comm_finalize(comm *c)
{
    if (!c)
        return;
    if (c->dev_xport)
        c->dev_xport->ops->destroy(c->dev_xport);
    /* Every rank has left its last collective before any watchdog stops answering. */
    CNN_MPI(MPI_Barrier(c->dog_comm));
    watchdog_stop(c->dog);
    CNN_MPI(MPI_Comm_free(&c->main_comm));
    CNN_MPI(MPI_Comm_free(&c->bucket_comm));
    CNN_MPI(MPI_Comm_free(&c->dog_comm));
    pthread_mutex_destroy(&c->watch_mu);
    free(c);
    cnn_proc_set(cnn_proc_rank(), cnn_proc_size(), NULL);
    MPI_Finalize();
}

int comm_rank(const comm *c) { return c->rank; }
int comm_size(const comm *c) { return c->size; }
int comm_local_rank(const comm *c) { return c->local_rank; }
int comm_local_size(const comm *c) { return c->local_size; }

int comm_agree(comm *c, int rc)
{
    int first = rc != CNN_OK ? c->rank : c->size;
    comm_watch_enter(c, WATCH_MAIN, "agree on errors");
    CNN_MPI(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, c->main_comm));
    int code = rc;
    if (first < c->size)
        CNN_MPI(MPI_Bcast(&code, 1, MPI_INT, first, c->main_comm));
    comm_watch_leave(c, WATCH_MAIN);
    return first < c->size ? code : CNN_OK;
}

_Noreturn void comm_abort(comm *c, const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "[r%d/%d %s] abort: %s\n", c->rank, c->size, cnn_proc_host(), msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    abort();
}

void comm_set_phase(comm *c, const char *phase)
{
    CNN_PTHREAD(pthread_mutex_lock(&c->watch_mu));
    snprintf(c->phase, sizeof c->phase, "%s", phase);
    CNN_PTHREAD(pthread_mutex_unlock(&c->watch_mu));
}

void comm_watch_enter(comm *c, int line, const char *what)
{
    CNN_PTHREAD(pthread_mutex_lock(&c->watch_mu));
    watch_slot *s = &c->watch[line];
    s->seq++;
    s->active = true;
    s->since = comm_now();
    if (c->phase[0]) /* the comm thread's buckets too: they belong to the main thread's step */
        snprintf(s->what, sizeof s->what, "%s (%s)", what, c->phase);
    else
        snprintf(s->what, sizeof s->what, "%s", what);
    CNN_PTHREAD(pthread_mutex_unlock(&c->watch_mu));
}

void comm_watch_leave(comm *c, int line)
{
    CNN_PTHREAD(pthread_mutex_lock(&c->watch_mu));
    c->watch[line].active = false;
    c->watch[line].since = comm_now();
    CNN_PTHREAD(pthread_mutex_unlock(&c->watch_mu));
}

watch_slot comm_watch_get(comm *c, int line)
{
    CNN_PTHREAD(pthread_mutex_lock(&c->watch_mu));
    watch_slot s = c->watch[line];
    CNN_PTHREAD(pthread_mutex_unlock(&c->watch_mu));
    return s;
}
