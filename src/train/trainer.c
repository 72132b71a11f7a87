/* The training run: setup, resume, then the loop over optimizer steps; at each epoch's end
 * the evaluation (every eval.every epochs) and the checkpoint (every ckpt.every epochs);
 * at the run's end (train.epochs, train.max_steps or a signal) a last evaluation and
 * checkpoint unless the epoch's end just wrote them; the pictures after every evaluation
 * and at the end. Signals only set a flag: the step's
 * count all-reduce carries it, so every rank stops after the same step. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer_impl.h"

static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

bool trainer_signalled(void)
{
    return g_signal != 0;
}

void train_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGUSR1};
    for (int i = 0; i < 3; i++)
        if (sigaction(sigs[i], &sa, NULL) < 0)
            cnn_fatal("sigaction(%d) failed", sigs[i]);
}

void trainer_phase(trainer *t, const char *fmt, ...)
{
    char buf[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    comm_set_phase(t->c, buf);
}

/* CNN_TEST_STALL=RANK:WHERE (trainer_impl.h); a malformed value is ignored, it is a test
 * hook, not a user setting. */
static void read_stall(trainer *t)
{
    const char *v = getenv("CNN_TEST_STALL");
    int rank, used = 0;
    t->stall_rank = -1;
    if (v && sscanf(v, "%d:%n", &rank, &used) == 1 && used > 0 && v[used]) {
        t->stall_rank = rank;
        snprintf(t->stall_where, sizeof t->stall_where, "%s", v + used);
    }
}

void trainer_stall_point(trainer *t, const char *where)
{
    if (t->rank != t->stall_rank || strcmp(where, t->stall_where) != 0)
        return;
    fprintf(stderr, "cnn-dist: rank %d stalls before %s (CNN_TEST_STALL)\n", t->rank, where);
    fflush(stderr);
    t->stall_rank = -1;
    for (int i = 0; i < 600; i++) /* the watchdog ends the job long before */
        sleep(1);
}

static int epoch_end(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    t->epoch++;
    t->micro = 0;
    if (rc->eval.every && t->epoch % rc->eval.every == 0) {
        trainer_eval(t);
        trainer_pictures(t, false);
    }
    if (rc->ckpt.every && t->epoch % rc->ckpt.every == 0)
        return trainer_checkpoint(t, e);
    return CNN_OK;
}

/* FNV-1a over the parameters and buffers as this rank holds them. */
static uint64_t weights_hash(trainer *t)
{
    uint64_t h = 1469598103934665603ull;
    const tensor *ts[2] = {&t->n->params_flat, &t->n->buffers_flat};
    for (int k = 0; k < 2; k++) {
        size_t bytes = ts[k]->data ? tensor_bytes(ts[k]) : 0;
        unsigned char *host = cnn_xmalloc(bytes + 1);
        if (bytes)
            backend_download(t->be, ts[k], host);
        for (size_t i = 0; i < bytes; i++)
            h = (h ^ host[i]) * 1099511628211ull;
        free(host);
    }
    return h;
}

static int loop(trainer *t, cnn_err *e)
{
    bool started = false;
    while (t->step < t->total_steps && !t->stop_requested) {
        if (!started) {
            CNN_TRY(e, loader_start_epoch(t->train.ld, t->epoch, t->micro, e));
            started = true;
        }
        bool epoch_done = trainer_step(t);
        trainer_log_step(t);
        if (epoch_done) {
            started = false;
            CNN_TRY(e, epoch_end(t, e));
        }
    }
    if (t->stop_requested && t->rank == 0)
        printf("cnn-dist: stopping at step %lld on a signal; continue with --resume auto\n",
               (long long)t->step);
    if (!t->stop_requested && t->rc->eval.every && t->last_eval_step != t->step)
        trainer_eval(t);
    trainer_pictures(t, true);
    if (t->last_ckpt_step != t->step)
        CNN_TRY(e, trainer_checkpoint(t, e));
    return CNN_OK;
}

int train_run(const run_config *rc, comm *c, const train_opts *o, cnn_err *e)
{
    trainer t = {.rc = rc, .opts = o, .c = c};
    train_catch_signals();
    read_stall(&t);
    int r = trainer_setup(&t, e);
    if (r >= 0) {
        trainer_phase(&t, "resume");
        r = trainer_resume(&t, e);
    }
    if (r >= 0)
        r = trainer_log_open(&t, e);
    if (r >= 0)
        r = trainer_pictures_setup(&t, e);
    if (r >= 0)
        r = loop(&t, e);
    trainer_phase(&t, "end of run");
    if (r >= 0 && o->hash_weights) {
        printf("rank %d weights fnv1a64 %016llx\n", t.rank, (unsigned long long)weights_hash(&t));
        fflush(stdout);
    }
    trainer_log_close(&t);
    trainer_pictures_teardown(&t);
    trainer_teardown(&t);
    return r;
}
