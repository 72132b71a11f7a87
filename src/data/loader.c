/* The prefetching loader: worker threads fill a ring of batch slots while the caller trains
 * on the previous batch. Work is handed out per sample (step, position) in step order from
 * one counter, so a slow decode delays only its own sample while the others move on; a
 * batch is delivered when all its samples are done, strictly in step order. The ring holds
 * `prefetch` batches ahead plus the one the caller holds, so prefetch = 1 still overlaps.
 * One mutex guards all bookkeeping; samples are produced outside it into disjoint memory.
 * Restarting an epoch first waits for in-flight samples (never more than one per worker). */
#include "loader_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOADER_ALIGN 64
#define LOADER_IGNORE (-100) /* padding label: the losses' default ignore_index */

typedef struct slot {
    batch b;
    void *mem;
    int64_t step; /* -1: free */
    int done;     /* samples finished */
} slot;

typedef struct worker {
    struct loader *ld;
    pthread_t th;
    loader_scratch scratch;
} worker;

struct loader {
    loader_opts o;
    loader_source src; /* fill == NULL: the dataset */
    int per, min_side, nslots, n_started;
    bool sync_ready; /* mu and the condition variables exist */
    size_t img_elems, lab_elems; /* per sample */
    slot *slots;
    worker *w;
    int64_t *perm; /* (n) this epoch's permutation */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, ready_cv, idle_cv;
    /* under mu */
    int64_t epoch, steps, next_step, deliver;
    int next_k, busy;
    rng_key ekey;
    bool active, held, stop, quit, failed;
    cnn_err err;
    double wait_s;
};

static int check_opts(const loader_opts *o, const loader_source *src, cnn_err *e)
{
    if (o->workers < 1 || o->workers > 256)
        return CNN_ERR(e, CNN_EINVAL, "data.workers=%d must be in [1, 256]", o->workers);
    if (o->prefetch < 1 || o->prefetch > 64)
        return CNN_ERR(e, CNN_EINVAL, "data.prefetch=%d must be in [1, 64]", o->prefetch);
    if (o->channels != 1 && o->channels != 3)
        return CNN_ERR(e, CNN_EINVAL, "the network takes %d input channels; the loader "
                       "produces 1 (gray) or 3 (RGB)", o->channels);
    const augment_cfg *a = &o->aug;
    if (a->out_h < 1 || a->out_w < 1 || a->out_h > 16384 || a->out_w > 16384)
        return CNN_ERR(e, CNN_EINVAL, "input size %dx%d must be within 1..16384 per side",
                       a->out_h, a->out_w);
    if (a->train && !(a->scale[0] > 0 && a->scale[0] <= a->scale[1] && a->scale[1] <= 1 &&
                      a->ratio[0] > 0 && a->ratio[0] <= a->ratio[1]))
        return CNN_ERR(e, CNN_EINVAL, "random resized crop scale (%g, %g) and ratio (%g, %g) "
                       "need 0 < scale_lo <= scale_hi <= 1 and 0 < ratio_lo <= ratio_hi",
                       a->scale[0], a->scale[1], a->ratio[0], a->ratio[1]);
    for (int c = 0; c < o->channels; c++)
        if (!(a->std[c] > 0))
            return CNN_ERR(e, CNN_EINVAL, "normalization std[%d]=%g must be > 0", c, a->std[c]);
    if (!(a->noise_std >= 0))
        return CNN_ERR(e, CNN_EINVAL, "noise std %g must be >= 0", a->noise_std);
    if (a->channels != 0 && a->channels != o->channels)
        return CNN_ERR(e, CNN_EINVAL, "augmentation output has %d channels but the network "
                       "takes %d", a->channels, o->channels);
    if ((o->alloc == NULL) != (o->free == NULL))
        return CNN_ERR(e, CNN_EINVAL, "loader alloc and free callbacks come together");
    if (src)
        return CNN_OK;
    if (!o->ds)
        return CNN_ERR(e, CNN_EINVAL, "loader without a dataset");
    const dataset_info *in = dataset_get_info(o->ds);
    if (in->n != o->smp.n)
        return CNN_ERR(e, CNN_EINVAL, "the sampler covers %lld samples but the dataset has "
                       "%lld", (long long)o->smp.n, (long long)in->n);
    return CNN_OK;
}

static size_t round_up(size_t x) { return (x + LOADER_ALIGN - 1) / LOADER_ALIGN * LOADER_ALIGN; }

/* One block per slot (one pinned allocation each): images, labels, targets, index. */
static int alloc_slot(loader *ld, slot *sl, cnn_err *e)
{
    size_t per = (size_t)ld->per, img = per * ld->img_elems * sizeof(float);
    size_t lab = per * ld->lab_elems * sizeof(int32_t), idx = per * sizeof(int64_t);
    bool noisy = ld->o.aug.noise_std > 0;
    size_t bytes = round_up(img) + round_up(lab) + (noisy ? round_up(img) : 0) + round_up(idx);
    void *p = ld->o.alloc ? ld->o.alloc(ld->o.alloc_ctx, bytes)
                          : aligned_alloc(LOADER_ALIGN, bytes);
    if (!p)
        return CNN_ERR(e, CNN_ENOMEM, "cannot allocate a batch slot of %zu bytes (%d samples "
                       "per rank); lower data.batch_size or data.prefetch", bytes, ld->per);
    sl->mem = p;
    if ((uintptr_t)p % LOADER_ALIGN)
        return CNN_ERR(e, CNN_ENOTSUP, "batch memory from the allocator is not %d-byte "
                       "aligned", LOADER_ALIGN);
    char *c = p;
    sl->b.images = (float *)c;
    c += round_up(img);
    sl->b.labels = (int32_t *)c;
    c += round_up(lab);
    if (noisy) {
        sl->b.targets = (float *)c;
        c += round_up(img);
    }
    sl->b.index = (int64_t *)c;
    sl->b.n = ld->per;
    sl->step = -1;
    return CNN_OK;
}

/* Bookkeeping under mu: may the next (step, position) be handed out? Its slot must have
 * been released by the caller (steps below `low` are). */
static bool claimable(const loader *ld)
{
    int64_t low = ld->deliver - (ld->held ? 1 : 0);
    return ld->active && !ld->stop && !ld->failed && !ld->quit && ld->next_step < ld->steps &&
           ld->next_step < low + ld->nslots;
}

static void init_slot(loader *ld, slot *sl, int64_t step)
{
    sl->step = step;
    sl->done = 0;
    sl->b.epoch = ld->epoch;
    sl->b.step = step;
    sampler_slice(&ld->o.smp, ld->perm, step, sl->b.index);
    sl->b.n_valid = 0;
    for (int k = 0; k < ld->per; k++)
        sl->b.n_valid += sl->b.index[k] >= 0;
}

static int produce(worker *w, slot *sl, int k, rng_key key, cnn_err *e)
{
    loader *ld = w->ld;
    int64_t idx = sl->b.index[k];
    float *img = sl->b.images + (size_t)k * ld->img_elems;
    int32_t *lab = sl->b.labels + (size_t)k * ld->lab_elems;
    float *tgt = sl->b.targets ? sl->b.targets + (size_t)k * ld->img_elems : NULL;
    if (idx < 0) {
        memset(img, 0, ld->img_elems * sizeof(float));
        if (tgt)
            memset(tgt, 0, ld->img_elems * sizeof(float));
        for (size_t i = 0; i < ld->lab_elems; i++)
            lab[i] = LOADER_IGNORE;
        return CNN_OK;
    }
    key = rng_fold(key, (uint64_t)idx);
    if (ld->src.fill)
        return ld->src.fill(ld->src.ctx, idx, key, img, lab, tgt, e);
    return loader_load_sample(ld->o.ds, &ld->o.aug, ld->o.channels, ld->min_side, &w->scratch,
                              idx, key, img, lab, tgt, e);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    loader *ld = w->ld;
    cnn_err e;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->quit && !claimable(ld))
            pthread_cond_wait(&ld->work_cv, &ld->mu);
        if (ld->quit)
            break;
        slot *sl = &ld->slots[ld->next_step % ld->nslots];
        int k = ld->next_k;
        if (k == 0)
            init_slot(ld, sl, ld->next_step);
        if (++ld->next_k == ld->per) {
            ld->next_k = 0;
            ld->next_step++;
        }
        rng_key key = ld->ekey;
        ld->busy++;
        pthread_mutex_unlock(&ld->mu);
        memset(&e, 0, sizeof e);
        int rc = produce(w, sl, k, key, &e);
        pthread_mutex_lock(&ld->mu);
        ld->busy--;
        if (rc < 0 && !ld->failed) {
            ld->failed = true;
            ld->err = e;
            pthread_cond_broadcast(&ld->ready_cv);
        } else if (rc >= 0 && ++sl->done == ld->per) {
            pthread_cond_broadcast(&ld->ready_cv);
        }
        if (ld->busy == 0)
            pthread_cond_broadcast(&ld->idle_cv);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

static int start_threads(loader *ld, cnn_err *e)
{
    ld->w = cnn_xcalloc((size_t)ld->o.workers, sizeof(worker));
    for (int i = 0; i < ld->o.workers; i++) {
        ld->w[i].ld = ld;
        int rc = pthread_create(&ld->w[i].th, NULL, worker_main, &ld->w[i]);
        if (rc != 0)
            return CNN_ERR(e, CNN_ENOMEM, "pthread_create for loader worker %d of %d failed "
                           "(error %d: %s); lower data.workers", i, ld->o.workers, rc,
                           strerror(rc));
        ld->n_started++;
    }
    return CNN_OK;
}

static int setup(loader *ld, cnn_err *e)
{
    for (int i = 0; i < ld->nslots; i++)
        CNN_TRY(e, alloc_slot(ld, &ld->slots[i], e));
    if (pthread_mutex_init(&ld->mu, NULL) || pthread_cond_init(&ld->work_cv, NULL) ||
        pthread_cond_init(&ld->ready_cv, NULL) || pthread_cond_init(&ld->idle_cv, NULL))
        cnn_fatal("pthread mutex/condition variable initialisation failed");
    ld->sync_ready = true;
    return start_threads(ld, e);
}

int loader_create_with(const loader_opts *o, const loader_source *src, loader **out,
                       cnn_err *e)
{
    *out = NULL;
    CNN_ASSERT(!src || src->fill);
    int rc = check_opts(o, src, e);
    if (rc < 0) {
        if (src && src->release)
            src->release(src->ctx);
        return rc;
    }
    loader *ld = cnn_xcalloc(1, sizeof *ld);
    ld->o = *o;
    ld->o.aug.channels = o->channels; /* raw gray into an RGB network: augment converts */
    data_task task = DATA_CLASSIFY;
    if (src) {
        ld->src = *src;
        task = src->task;
    } else {
        task = dataset_get_info(o->ds)->task;
    }
    ld->per = o->smp.global_batch / o->smp.world;
    ld->min_side = loader_min_side(&o->aug, task);
    size_t hw = (size_t)o->aug.out_h * (size_t)o->aug.out_w;
    ld->img_elems = (size_t)o->channels * hw;
    ld->lab_elems = task == DATA_SEGMENT ? hw : 1;
    ld->nslots = o->prefetch + 1;
    ld->slots = cnn_xcalloc((size_t)ld->nslots, sizeof(slot));
    ld->perm = malloc((size_t)o->smp.n * sizeof(int64_t));
    rc = ld->perm ? setup(ld, e)
                      : CNN_ERR(e, CNN_ENOMEM, "cannot allocate the permutation of %lld "
                                "samples", (long long)o->smp.n);
    if (rc < 0) {
        loader_destroy(ld);
        cnn_err_trace(e, __FILE__, __LINE__);
        return rc;
    }
    *out = ld;
    return CNN_OK;
}

int loader_create(const loader_opts *o, loader **out, cnn_err *e)
{
    return loader_create_with(o, NULL, out, e);
}

int loader_start_epoch(loader *ld, int64_t epoch, int64_t first_step, cnn_err *e)
{
    int64_t steps = sampler_steps(&ld->o.smp);
    if (epoch < 0 || first_step < 0 || first_step > steps)
        return CNN_ERR(e, CNN_EINVAL, "cannot start epoch %lld at step %lld: an epoch has "
                       "%lld steps", (long long)epoch, (long long)first_step, (long long)steps);
    pthread_mutex_lock(&ld->mu);
    ld->stop = true;
    while (ld->busy > 0)
        pthread_cond_wait(&ld->idle_cv, &ld->mu);
    sampler_perm(&ld->o.smp, epoch, ld->perm);
    for (int i = 0; i < ld->nslots; i++)
        ld->slots[i].step = -1;
    ld->epoch = epoch;
    ld->ekey = rng_fold(ld->o.key, (uint64_t)epoch);
    ld->steps = steps;
    ld->next_step = ld->deliver = first_step;
    ld->next_k = 0;
    ld->active = true;
    ld->held = ld->failed = ld->stop = false;
    pthread_cond_broadcast(&ld->work_cv);
    pthread_mutex_unlock(&ld->mu);
    return CNN_OK;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Under mu: the caller's previous batch is given back, then the next one awaited. */
static int next_locked(loader *ld, const batch **out, cnn_err *e)
{
    if (ld->held) {
        ld->held = false;
        pthread_cond_broadcast(&ld->work_cv);
    }
    if (!ld->active)
        return CNN_ERR(e, CNN_ESTATE, "loader_next before loader_start_epoch");
    if (!ld->failed && ld->deliver >= ld->steps)
        return CNN_OK;
    slot *sl = &ld->slots[ld->deliver % ld->nslots];
    double t0 = now_s();
    while (!ld->failed && !(sl->step == ld->deliver && sl->done == ld->per))
        pthread_cond_wait(&ld->ready_cv, &ld->mu);
    ld->wait_s += now_s() - t0;
    if (ld->failed) {
        if (e)
            *e = ld->err;
        return ld->err.code < 0 ? ld->err.code : CNN_EIO;
    }
    ld->held = true;
    ld->deliver++;
    *out = &sl->b;
    return CNN_OK;
}

int loader_next(loader *ld, const batch **out, cnn_err *e)
{
    *out = NULL;
    pthread_mutex_lock(&ld->mu);
    int rc = next_locked(ld, out, e);
    pthread_mutex_unlock(&ld->mu);
    if (rc < 0)
        cnn_err_trace(e, __FILE__, __LINE__);
    return rc;
}

double loader_wait_seconds(loader *ld)
{
    pthread_mutex_lock(&ld->mu);
    double s = ld->wait_s;
    ld->wait_s = 0;
    pthread_mutex_unlock(&ld->mu);
    return s;
}

void loader_destroy(loader *ld)
{
    if (!ld)
        return;
    if (ld->n_started > 0) {
        pthread_mutex_lock(&ld->mu);
        ld->quit = true;
        pthread_cond_broadcast(&ld->work_cv);
        pthread_mutex_unlock(&ld->mu);
        for (int i = 0; i < ld->n_started; i++)
            pthread_join(ld->w[i].th, NULL);
    }
    if (ld->w)
        for (int i = 0; i < ld->o.workers; i++)
            loader_scratch_free(&ld->w[i].scratch);
    if (ld->src.release)
        ld->src.release(ld->src.ctx);
    for (int i = 0; ld->slots && i < ld->nslots; i++) {
        if (ld->slots[i].mem && ld->o.free)
            ld->o.free(ld->o.alloc_ctx, ld->slots[i].mem);
        else
            free(ld->slots[i].mem);
    }
    if (ld->sync_ready) {
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->work_cv);
        pthread_cond_destroy(&ld->ready_cv);
        pthread_cond_destroy(&ld->idle_cv);
    }
    free(ld->w);
    free(ld->slots);
    free(ld->perm);
    free(ld);
}
