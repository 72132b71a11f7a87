/* The loader's threads and ring on synthetic samples (loader_impl.h seam): batches in step
 * order holding the sampler's indices, per-sample keys (seed, epoch, index), padding in
 * evaluation, resume and restart mid-epoch with slow samples in flight, a failing sample
 * reported by name, prefetch overlapping a slow consumer, option errors, alloc callbacks. */
#include "../../src/data/loader_impl.h"
#include "../check.h"

#include <pthread.h>
#include <time.h>

#define OH 4
#define OW 3
#define CH 3

typedef struct synth {
    int64_t bad;       /* this index fails (-1: none) */
    int64_t slow;      /* this index sleeps slow_ms (-1: none) */
    int slow_ms, each_us;
    pthread_mutex_t mu;
    int64_t calls;
} synth;

static void sleep_us(long us)
{
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

/* image[0..1] = the key's halves of word 0, image[2] = word 1's low 16 bits (exact in float),
 * the rest index * 100 + position; label index % 7; target = -image. */
static int fill(void *ctx, int64_t index, rng_key key, float *image, int32_t *label,
                float *target, cnn_err *e)
{
    synth *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    int64_t bad = s->bad;
    pthread_mutex_unlock(&s->mu);
    if (s->each_us)
        sleep_us(s->each_us);
    if (index == s->slow)
        sleep_us(1000L * s->slow_ms);
    if (index == bad)
        return CNN_ERR(e, CNN_EIO, "sample %lld: cannot read (synthetic failure)",
                       (long long)index);
    for (int i = 0; i < CH * OH * OW; i++)
        image[i] = (float)(index * 100 + i);
    image[0] = (float)(key.k[0] >> 16);
    image[1] = (float)(key.k[0] & 0xffff);
    image[2] = (float)(key.k[1] & 0xffff);
    *label = (int32_t)(index % 7);
    if (target)
        for (int i = 0; i < CH * OH * OW; i++)
            target[i] = -image[i];
    return CNN_OK;
}

static void set_bad(synth *s, int64_t index)
{
    pthread_mutex_lock(&s->mu);
    s->bad = index;
    pthread_mutex_unlock(&s->mu);
}

static loader_opts opts(int64_t n, int b, int rank, int world, bool train, int workers,
                        int prefetch)
{
    loader_opts o = {0};
    cnn_err e = {0};
    if (sampler_init(&o.smp, n, b, rank, world, 11, true, train, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    o.aug = (augment_cfg){.out_h = OH, .out_w = OW, .train = train, .scale = {0.08f, 1},
                          .ratio = {0.75f, 4.0f / 3}, .std = {1, 1, 1}};
    o.workers = workers;
    o.prefetch = prefetch;
    o.channels = CH;
    o.key = rng_fold(rng_key_from_seed(5), 77);
    return o;
}

static loader *mk(const loader_opts *o, synth *s)
{
    loader_source src = {.fill = fill, .ctx = s, .task = DATA_CLASSIFY};
    loader *ld;
    cnn_err e = {0};
    if (loader_create_with(o, &src, &ld, &e) < 0) {
        fprintf(stderr, "loader_create: %s\n", e.msg);
        exit(1);
    }
    return ld;
}

static void check_sample(const loader_opts *o, const batch *b, int k, int64_t want)
{
    CHECK_EQ(b->index[k], want);
    const float *im = b->images + (size_t)k * CH * OH * OW;
    if (want < 0) {
        for (int i = 0; i < CH * OH * OW; i++)
            CHECK_EQ(im[i], 0);
        CHECK_EQ(b->labels[k], -100);
        return;
    }
    rng_key key = rng_fold(rng_fold(o->key, (uint64_t)b->epoch), (uint64_t)want);
    CHECK_EQ(im[0], key.k[0] >> 16);
    CHECK_EQ(im[1], key.k[0] & 0xffff);
    CHECK_EQ(im[2], key.k[1] & 0xffff);
    for (int i = 3; i < CH * OH * OW; i++)
        CHECK_EQ(im[i], want * 100 + i);
    CHECK_EQ(b->labels[k], want % 7);
    if (b->targets)
        CHECK_EQ(b->targets[(size_t)k * CH * OH * OW + 5], -(want * 100 + 5));
}

/* Consumes the epoch from `first` and checks every batch against the sampler. */
static void run_epoch(loader *ld, const loader_opts *o, int64_t epoch, int64_t first,
                      int64_t upto)
{
    cnn_err e = {0};
    CHECK_EQ(loader_start_epoch(ld, epoch, first, &e), 0);
    int64_t steps = sampler_steps(&o->smp), *perm = malloc((size_t)o->smp.n * 8);
    CHECK(perm);
    sampler_perm(&o->smp, epoch, perm);
    int per = o->smp.global_batch / o->smp.world;
    int64_t end = upto < steps ? upto : steps;
    for (int64_t st = first; st < end; st++) {
        const batch *b;
        CHECK_EQ(loader_next(ld, &b, &e), 0);
        CHECK(b != NULL);
        CHECK_EQ(b->epoch, epoch);
        CHECK_EQ(b->step, st);
        CHECK_EQ(b->n, per);
        int64_t idx[64];
        sampler_slice(&o->smp, perm, st, idx);
        int valid = 0;
        for (int k = 0; k < per; k++) {
            check_sample(o, b, k, idx[k]);
            valid += idx[k] >= 0;
        }
        CHECK_EQ(b->n_valid, valid);
    }
    if (upto >= steps) {
        const batch *b = (const batch *)1;
        CHECK_EQ(loader_next(ld, &b, &e), 0);
        CHECK(b == NULL);
        CHECK_EQ(loader_next(ld, &b, &e), 0);
        CHECK(b == NULL);
    }
    free(perm);
}

static void check_order_and_resume(void)
{
    synth s = {.bad = -1, .slow = 3, .slow_ms = 30, .each_us = 100};
    pthread_mutex_init(&s.mu, NULL);
    for (int workers = 1; workers <= 4; workers += 3) {
        loader_opts o = opts(103, 16, 1, 2, true, workers, 2);
        loader *ld = mk(&o, &s);
        run_epoch(ld, &o, 0, 0, INT64_MAX);
        run_epoch(ld, &o, 1, 3, INT64_MAX); /* resume mid-epoch */
        run_epoch(ld, &o, 2, 0, 2);         /* abandon with work in flight ... */
        run_epoch(ld, &o, 3, 0, INT64_MAX); /* ... and the next epoch is clean */
        for (int i = 0; i < 20; i++)        /* quick restarts */
            run_epoch(ld, &o, 4 + i, (int64_t)i % 5, (int64_t)i % 3);
        loader_destroy(ld);
    }
    /* Evaluation: 103 = 6 * 16 + 7, so the last step is padded; also n < B. */
    loader_opts o = opts(103, 16, 1, 2, false, 3, 1);
    o.aug.noise_std = 0.1f; /* targets too */
    loader *ld = mk(&o, &s);
    run_epoch(ld, &o, 0, 0, INT64_MAX);
    run_epoch(ld, &o, 0, 6, INT64_MAX);
    loader_destroy(ld);
    for (int r = 0; r < 4; r++) {
        loader_opts o2 = opts(5, 8, r, 4, false, 2, 2);
        ld = mk(&o2, &s);
        run_epoch(ld, &o2, 0, 0, INT64_MAX);
        loader_destroy(ld);
    }
    pthread_mutex_destroy(&s.mu);
}

static void check_error(void)
{
    synth s = {.bad = -1, .slow = -1};
    pthread_mutex_init(&s.mu, NULL);
    loader_opts o = opts(64, 8, 0, 1, true, 3, 2);
    int64_t perm[64];
    sampler_perm(&o.smp, 0, perm);
    s.bad = perm[8 * 3 + 5]; /* step 3 */
    loader *ld = mk(&o, &s);
    cnn_err e = {0};
    CHECK_EQ(loader_start_epoch(ld, 0, 0, &e), 0);
    const batch *b;
    int rc = 0, got = 0;
    while ((rc = loader_next(ld, &b, &e)) == 0 && b)
        got++;
    CHECK_EQ(rc, CNN_EIO);
    CHECK(got <= 3);
    char want[64];
    snprintf(want, sizeof want, "sample %lld: cannot read", (long long)s.bad);
    CHECK_STR_CONTAINS(e.msg, want);
    CHECK_EQ(loader_next(ld, &b, &e), CNN_EIO); /* stays failed until restarted */
    set_bad(&s, -1);
    run_epoch(ld, &o, 0, 0, INT64_MAX);
    set_bad(&s, perm[0]);
    CHECK_EQ(loader_start_epoch(ld, 0, 0, &e), 0);
    loader_destroy(ld); /* with a failure pending and work in flight */
    pthread_mutex_destroy(&s.mu);
}

/* A consumer slower than production waits only for the first batch. */
static void check_overlap(void)
{
    synth s = {.bad = -1, .slow = -1, .each_us = 4000};
    pthread_mutex_init(&s.mu, NULL);
    loader_opts o = opts(64, 8, 0, 2, true, 2, 1); /* 4 samples/batch, ~8 ms per batch */
    loader *ld = mk(&o, &s);
    cnn_err e = {0};
    CHECK_EQ(loader_start_epoch(ld, 0, 0, &e), 0);
    const batch *b;
    CHECK_EQ(loader_next(ld, &b, &e), 0);
    double first = loader_wait_seconds(ld);
    int n = 1;
    for (; b; n++) { /* "trains" 40 ms on every batch */
        sleep_us(40000);
        CHECK_EQ(loader_next(ld, &b, &e), 0);
    }
    double rest = loader_wait_seconds(ld);
    printf("  overlap: first batch waited %.1f ms, next %d batches %.1f ms in all\n",
           first * 1e3, n - 2, rest * 1e3);
    CHECK_EQ(n, 9); /* 8 batches, then the end */
    CHECK(first >= 0.006);
    /* Without overlap the 7 batches would wait ~56 ms; allow scheduler noise. */
    CHECK(rest < 0.025);
    loader_destroy(ld);
    pthread_mutex_destroy(&s.mu);
}

static int n_alloc, n_free;
static void *my_alloc(void *ctx, size_t bytes)
{
    (void)ctx;
    n_alloc++;
    return aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
}
static void my_free(void *ctx, void *p)
{
    (void)ctx;
    n_free++;
    free(p);
}

static void *fail_second(void *ctx, size_t bytes)
{
    int *calls = ctx;
    return ++*calls == 2 ? NULL : my_alloc(NULL, bytes);
}

static void check_options(void)
{
    synth s = {.bad = -1, .slow = -1};
    pthread_mutex_init(&s.mu, NULL);
    loader_source src = {.fill = fill, .ctx = &s, .task = DATA_CLASSIFY};
    loader *ld = (loader *)1;
    cnn_err e = {0};
    loader_opts o = opts(64, 8, 0, 1, true, 0, 2);
    CHECK_EQ(loader_create_with(&o, &src, &ld, &e), CNN_EINVAL);
    CHECK(ld == NULL);
    CHECK_STR_CONTAINS(e.msg, "data.workers=0");
    o = opts(64, 8, 0, 1, true, 2, 0);
    CHECK_EQ(loader_create_with(&o, &src, &ld, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "data.prefetch=0");
    o = opts(64, 8, 0, 1, true, 2, 2);
    o.channels = 2;
    CHECK_EQ(loader_create_with(&o, &src, &ld, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "2 input channels");
    o = opts(64, 8, 0, 1, true, 2, 2);
    o.aug.out_h = 0;
    CHECK_EQ(loader_create_with(&o, &src, &ld, &e), CNN_EINVAL);
    o = opts(64, 8, 0, 1, true, 2, 2);
    o.aug.scale[0] = 0;
    CHECK_EQ(loader_create_with(&o, &src, &ld, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "scale");
    o = opts(64, 8, 0, 1, true, 2, 2);
    o.alloc = my_alloc;
    CHECK_EQ(loader_create_with(&o, &src, &ld, &e), CNN_EINVAL);
    o.free = my_free;
    ld = mk(&o, &s);
    CHECK_EQ(n_alloc, 3); /* prefetch 2 ahead + the caller's */
    const batch *b;
    CHECK_EQ(loader_next(ld, &b, &e), CNN_ESTATE);
    CHECK_EQ(loader_start_epoch(ld, 0, 9, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "8 steps");
    run_epoch(ld, &o, 0, 0, INT64_MAX);
    loader_destroy(ld);
    CHECK_EQ(n_free, 3);
    int calls = 0; /* an allocation failure half-way leaves nothing behind (ASan) */
    o.alloc = fail_second;
    o.alloc_ctx = &calls;
    CHECK_EQ(loader_create_with(&o, &src, &ld, &e), CNN_ENOMEM);
    CHECK_STR_CONTAINS(e.msg, "lower data.batch_size or data.prefetch");
    CHECK_EQ(n_free, 4);
    loader_destroy(NULL);
    pthread_mutex_destroy(&s.mu);
}

int main(void)
{
    check_order_and_resume();
    check_error();
    check_overlap();
    check_options();
    printf("loader_ring: ok\n");
    return 0;
}
