/* cnn-pack's ordered thread pool: workers claim file indices in order and fill a window of
 * result slots; the calling thread takes the results strictly in index order, so shards are
 * byte-identical for any --threads. The window (4 per thread) bounds memory to a few
 * decoded files per thread. Also the progress line (files/s, ETA) for terminals. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pack_images_impl.h"

typedef struct slot {
    bool ready;
    pack_sample s;
} slot;

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t ready, space;
    int64_t n, next, taken, window;
    bool stop;
    slot *slots; /* (window) item i lives in slot i % window */
    pack_work_fn work;
    void *ctx;
} pool;

static void lock(pthread_mutex_t *m)
{
    CNN_ASSERT(pthread_mutex_lock(m) == 0);
}

static void unlock(pthread_mutex_t *m)
{
    CNN_ASSERT(pthread_mutex_unlock(m) == 0);
}

static void *worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        lock(&p->mu);
        while (!p->stop && p->next < p->n && p->next - p->taken >= p->window)
            CNN_ASSERT(pthread_cond_wait(&p->space, &p->mu) == 0);
        if (p->stop || p->next >= p->n) {
            unlock(&p->mu);
            return NULL;
        }
        int64_t i = p->next++;
        unlock(&p->mu);
        pack_sample s;
        p->work(p->ctx, i, &s);
        lock(&p->mu);
        p->slots[i % p->window] = (slot){true, s};
        CNN_ASSERT(pthread_cond_broadcast(&p->ready) == 0);
        unlock(&p->mu);
    }
}

static int take_all(pool *p, pack_take_fn take, cnn_err *e)
{
    for (int64_t i = 0; i < p->n; i++) {
        slot *sl = &p->slots[i % p->window];
        lock(&p->mu);
        while (!sl->ready)
            CNN_ASSERT(pthread_cond_wait(&p->ready, &p->mu) == 0);
        pack_sample s = sl->s;
        sl->ready = false;
        p->taken = i + 1;
        CNN_ASSERT(pthread_cond_broadcast(&p->space) == 0);
        unlock(&p->mu);
        int rc = take(p->ctx, i, &s, e);
        pack_sample_free(&s);
        if (rc < 0)
            return rc;
    }
    return CNN_OK;
}

int pack_run(int64_t n, int threads, pack_work_fn work, pack_take_fn take, void *ctx,
             cnn_err *e)
{
    CNN_ASSERT(threads >= 1);
    pool p = {.n = n, .window = 4 * (int64_t)threads, .work = work, .ctx = ctx};
    p.slots = cnn_xcalloc((size_t)p.window, sizeof *p.slots);
    CNN_ASSERT(pthread_mutex_init(&p.mu, NULL) == 0);
    CNN_ASSERT(pthread_cond_init(&p.ready, NULL) == 0);
    CNN_ASSERT(pthread_cond_init(&p.space, NULL) == 0);
    pthread_t *tid = cnn_xcalloc((size_t)threads, sizeof *tid);
    int started = 0, rc = CNN_OK;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, worker, &p) != 0)
            break;
    if (started == 0)
        rc = CNN_ERR(e, CNN_ENOMEM, "cannot start a packing thread; use fewer --threads");
    if (rc == CNN_OK)
        rc = take_all(&p, take, e);
    lock(&p.mu);
    p.stop = true;
    CNN_ASSERT(pthread_cond_broadcast(&p.space) == 0);
    unlock(&p.mu);
    for (int t = 0; t < started; t++)
        CNN_ASSERT(pthread_join(tid[t], NULL) == 0);
    for (int64_t k = 0; k < p.window; k++) /* results computed past a failure */
        if (p.slots[k].ready)
            pack_sample_free(&p.slots[k].s);
    pthread_cond_destroy(&p.ready);
    pthread_cond_destroy(&p.space);
    pthread_mutex_destroy(&p.mu);
    free(p.slots);
    free(tid);
    return rc;
}

double pack_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void pack_progress_init(pack_progress *p, bool on, int64_t n, const char *what)
{
    *p = (pack_progress){.on = on, .n = n, .t0 = pack_now(), .what = what};
    p->last_t = p->t0;
}

static void show(pack_progress *p, int64_t done, double t)
{
    double rate = done / (t - p->t0 > 1e-9 ? t - p->t0 : 1e-9);
    long eta = rate > 0 ? (long)((double)(p->n - done) / rate) : 0;
    fprintf(stderr, "\r%s %lld/%lld (%3.0f%%)  %.0f files/s  ETA %ld:%02ld:%02ld ", p->what,
            (long long)done, (long long)p->n, p->n ? 100.0 * done / p->n : 100.0, rate,
            eta / 3600, eta / 60 % 60, eta % 60);
    fflush(stderr);
    p->last_t = t;
}

void pack_progress_tick(pack_progress *p, int64_t done)
{
    if (!p->on)
        return;
    double t = pack_now();
    if (t - p->last_t >= 0.25)
        show(p, done, t);
}

void pack_progress_end(pack_progress *p, int64_t done)
{
    if (!p->on)
        return;
    show(p, done, pack_now());
    fputc('\n', stderr);
}
