/* The watchdog thread: notices a collective that has not completed within the timeout, asks
 * every other rank what it is doing, prints one report naming the ranks that have not
 * joined, and aborts the job. It talks on its own communicator with nonblocking calls only
 * (an Irecv for questions is always posted and polled with MPI_Test and short sleeps), so it
 * answers its peers even while this rank's main thread is stuck in a collective. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm_impl.h"

enum { TAG_ASK = 7001, TAG_ANSWER = 7002 };
#define NAP_MS 20        /* polling period for questions */
#define CHECK_EVERY 5    /* timeouts checked every CHECK_EVERY naps (100 ms) */
#define ANSWER_WAIT_S 2.0

typedef struct answer {
    int32_t line, active;
    int64_t seq;
    double age; /* seconds since the slot's collective began (active) or ended */
    char what[WATCH_WHAT_MAX];
} answer;

struct watchdog {
    comm *c;
    pthread_t th;
    atomic_bool stop;
    int32_t ask_buf; /* the line a peer asks about */
    MPI_Request ask_rq;
    answer reply;      /* what this rank sent last (must live until the send completes) */
    MPI_Request reply_rq;
};

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void post_ask_recv(watchdog *d)
{
    CNN_MPI(MPI_Irecv(&d->ask_buf, 1, MPI_INT32_T, MPI_ANY_SOURCE, TAG_ASK, d->c->dog_comm,
                      &d->ask_rq));
}

static answer describe(comm *c, int line)
{
    watch_slot s = comm_watch_get(c, line);
    answer a = {.line = line, .active = s.active, .seq = s.seq, .age = comm_now() - s.since};
    snprintf(a.what, sizeof a.what, "%s", s.seq ? s.what : "none yet");
    return a;
}

/* Answers a question that has arrived, if any (one at a time: the last reply must be out). */
static void serve(watchdog *d)
{
    int got = 0;
    MPI_Status st;
    if (d->reply_rq != MPI_REQUEST_NULL) {
        int sent = 0;
        CNN_MPI(MPI_Test(&d->reply_rq, &sent, MPI_STATUS_IGNORE));
        if (!sent)
            return;
    }
    CNN_MPI(MPI_Test(&d->ask_rq, &got, &st));
    if (!got)
        return;
    int line = d->ask_buf >= 0 && d->ask_buf < WATCH_LINES ? d->ask_buf : WATCH_MAIN;
    d->reply = describe(d->c, line);
    CNN_MPI(MPI_Isend(&d->reply, sizeof d->reply, MPI_BYTE, st.MPI_SOURCE, TAG_ANSWER,
                      d->c->dog_comm, &d->reply_rq));
    post_ask_recv(d);
}

static void say_peer(char *buf, size_t cap, int peer, const watch_slot *mine, const answer *a,
                     bool answered)
{
    size_t len = strlen(buf);
    if (!answered)
        snprintf(buf + len, cap - len, "; rank %d did not answer", peer);
    else if (a->seq < mine->seq || (a->seq == mine->seq && !a->active))
        snprintf(buf + len, cap - len,
                 "; rank %d has not joined it (it is at collective #%lld '%s', %s %.1f s ago)",
                 peer, (long long)a->seq, a->what, a->active ? "entered" : "left", a->age);
    else if (a->seq == mine->seq)
        snprintf(buf + len, cap - len, "; rank %d is in it too (for %.1f s)", peer, a->age);
    else
        snprintf(buf + len, cap - len, "; rank %d is past it (at #%lld '%s')", peer,
                 (long long)a->seq, a->what);
}

/* Asks every peer about line, waits up to ANSWER_WAIT_S, prints the report and aborts. */
static _Noreturn void report_and_abort(watchdog *d, int line, const watch_slot *mine)
{
    comm *c = d->c;
    int p = c->size;
    int32_t q = line;
    answer *ans = cnn_xcalloc((size_t)p, sizeof *ans);
    MPI_Request *rq = cnn_xcalloc((size_t)(2 * p), sizeof *rq);
    int *done = cnn_xcalloc((size_t)p, sizeof *done);
    for (int r = 0; r < p; r++) {
        rq[r] = rq[p + r] = MPI_REQUEST_NULL;
        if (r == c->rank)
            continue;
        CNN_MPI(MPI_Irecv(&ans[r], sizeof ans[r], MPI_BYTE, r, TAG_ANSWER, c->dog_comm, &rq[r]));
        CNN_MPI(MPI_Isend(&q, 1, MPI_INT32_T, r, TAG_ASK, c->dog_comm, &rq[p + r]));
    }
    for (double t0 = comm_now(); comm_now() - t0 < ANSWER_WAIT_S;) {
        int left = 0;
        for (int r = 0; r < p; r++)
            if (r != c->rank && !done[r]) {
                CNN_MPI(MPI_Test(&rq[r], &done[r], MPI_STATUS_IGNORE));
                left += !done[r];
            }
        if (!left)
            break;
        serve(d); /* peers may be asking us at the same time */
        nap(NAP_MS);
    }
    char buf[4096];
    snprintf(buf, sizeof buf,
             "watchdog: rank %d: collective #%lld '%s' not complete after %.1f s "
             "(comm.timeout_s %g)",
             c->rank, (long long)mine->seq, mine->what, comm_now() - mine->since, c->timeout_s);
    for (int r = 0; r < p; r++)
        if (r != c->rank)
            say_peer(buf, sizeof buf, r, mine, &ans[r], done[r]);
    comm_abort(c, buf); /* ends every rank; the buffers above die with the process */
}

static void *watchdog_main(void *arg)
{
    watchdog *d = arg;
    comm *c = d->c;
    for (int tick = 0; !atomic_load(&d->stop); tick++) {
        serve(d);
        if (tick % CHECK_EVERY == 0)
            for (int line = 0; line < WATCH_LINES; line++) {
                watch_slot s = comm_watch_get(c, line);
                if (s.active && comm_now() - s.since > c->timeout_s)
                    report_and_abort(d, line, &s);
            }
        nap(NAP_MS);
    }
    return NULL;
}

int watchdog_start(comm *c, watchdog **out, cnn_err *e)
{
    (void)e;
    watchdog *d = cnn_xcalloc(1, sizeof *d);
    d->c = c;
    atomic_init(&d->stop, false);
    d->reply_rq = MPI_REQUEST_NULL;
    post_ask_recv(d);
    CNN_PTHREAD(pthread_create(&d->th, NULL, watchdog_main, d));
    *out = d;
    return CNN_OK;
}

void watchdog_stop(watchdog *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, true);
    CNN_PTHREAD(pthread_join(d->th, NULL));
    CNN_MPI(MPI_Cancel(&d->ask_rq));
    CNN_MPI(MPI_Wait(&d->ask_rq, MPI_STATUS_IGNORE));
    if (d->reply_rq != MPI_REQUEST_NULL)
        CNN_MPI(MPI_Wait(&d->reply_rq, MPI_STATUS_IGNORE));
    free(d);
}
