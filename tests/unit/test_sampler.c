/* The sampler: its permutation against a Python twin (tools/fixtures/philox.py), permutation
 * and uniformity properties, world-size invariance of every step's samples and order, the
 * evaluation split seeing every sample exactly once, resume at any step, and its errors. */
#include "../../src/data/data.h"
#include "../check.h"

static sampler mk(int64_t n, int b, int rank, int world, bool shuffle, bool drop_last)
{
    sampler s;
    cnn_err e = {0};
    if (sampler_init(&s, n, b, rank, world, 42, shuffle, drop_last, &e) != 0) {
        fprintf(stderr, "sampler_init: %s\n", e.msg);
        exit(1);
    }
    return s;
}

/* Expected values from the Python twin, with k = fold(fold(key_from_seed(seed), 0x5A4D504C),
 * epoch); for i = n-1 .. 1: o = philox(k, (i >> 1, i >> 33, 0, 0)), w = 2 * (i & 1),
 * x = o[w] | o[w+1] << 32, j = (x * (i + 1)) >> 64, swap p[i], p[j]. */
static void check_known_answers(void)
{
    static const struct {
        int64_t n;
        uint64_t seed;
        int64_t epoch, want[13];
    } kat[] = {
        {10, 42, 0, {9, 2, 0, 7, 3, 4, 5, 6, 1, 8}},
        {10, 42, 1, {4, 7, 1, 8, 3, 5, 9, 0, 2, 6}},
        {13, 7, 3, {6, 8, 10, 4, 2, 9, 11, 5, 3, 1, 7, 0, 12}},
    };
    for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
        sampler s;
        CHECK_EQ(sampler_init(&s, kat[t].n, 1, 0, 1, kat[t].seed, true, true, NULL), 0);
        int64_t p[13];
        sampler_perm(&s, kat[t].epoch, p);
        for (int64_t i = 0; i < kat[t].n; i++)
            CHECK_EQ(p[i], kat[t].want[i]);
    }
}

static void check_is_perm(const int64_t *p, int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    CHECK(seen);
    for (int64_t i = 0; i < n; i++) {
        CHECK(p[i] >= 0 && p[i] < n);
        CHECK_EQ(seen[p[i]], 0);
        seen[p[i]] = 1;
    }
    free(seen);
}

static void check_permutations(void)
{
    const int64_t ns[] = {1, 7, 1000, 100003};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int64_t n = ns[t];
        sampler s = mk(n, 1, 0, 1, true, true);
        int64_t *a = malloc((size_t)n * 8), *b = malloc((size_t)n * 8), *c = malloc((size_t)n * 8);
        CHECK(a && b && c);
        sampler_perm(&s, 5, a);
        sampler_perm(&s, 5, b);
        sampler_perm(&s, 6, c);
        check_is_perm(a, n);
        check_is_perm(c, n);
        CHECK_EQ(memcmp(a, b, (size_t)n * 8), 0);
        if (n >= 7)
            CHECK(memcmp(a, c, (size_t)n * 8) != 0);
        sampler id = mk(n, 1, 0, 1, false, true);
        sampler_perm(&id, 5, a);
        for (int64_t i = 0; i < n; i++)
            CHECK_EQ(a[i], i);
        free(a);
        free(b);
        free(c);
    }
}

/* All 24 orders of 4 items over 24000 epochs: each expected 1000 times (sd 31). The bound
 * (+-160, 5 sd) catches the classic off-by-one (j in [0, i) gives only the 6 cyclic ones). */
static void check_uniform(void)
{
    int count[256] = {0};
    sampler s = mk(4, 1, 0, 1, true, true);
    for (int ep = 0; ep < 24000; ep++) {
        int64_t p[4];
        sampler_perm(&s, ep, p);
        count[p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]]++;
    }
    int distinct = 0;
    for (int i = 0; i < 256; i++) {
        if (!count[i])
            continue;
        distinct++;
        CHECK(count[i] > 840 && count[i] < 1160);
    }
    CHECK_EQ(distinct, 24);
}

/* For W ranks, concatenating the ranks' slices of step s (padding removed) must give the
 * W = 1 slice of step s; over an epoch each sample appears exactly once (eval) or at most
 * once with n % B left out (train). */
static void check_world(int64_t n, int b, bool drop_last)
{
    sampler s1 = mk(n, b, 0, 1, true, drop_last);
    int64_t steps = sampler_steps(&s1);
    CHECK_EQ(steps, drop_last ? n / b : (n + b - 1) / b);
    int64_t *perm = malloc((size_t)n * 8), *ref = malloc((size_t)b * 8);
    int64_t *got = malloc((size_t)b * 8);
    CHECK(perm && ref && got);
    sampler_perm(&s1, 3, perm);
    const int worlds[] = {1, 2, 4, 8};
    for (size_t wi = 0; wi < 4; wi++) {
        int w = worlds[wi], per = b / w;
        int *seen = calloc((size_t)n, sizeof(int));
        CHECK(seen);
        for (int64_t st = 0; st < steps; st++) {
            sampler_slice(&s1, perm, st, ref);
            int m = 0;
            for (int r = 0; r < w; r++) {
                sampler sr = mk(n, b, r, w, true, drop_last);
                CHECK_EQ(sampler_steps(&sr), steps);
                int64_t idx[64];
                sampler_slice(&sr, perm, st, idx);
                for (int k = 0; k < per; k++) {
                    if (idx[k] < 0) {
                        CHECK_EQ(idx[k], -1);
                        continue;
                    }
                    seen[idx[k]]++;
                    got[m++] = idx[k];
                }
            }
            int want = 0;
            for (int k = 0; k < b; k++)
                if (ref[k] >= 0)
                    CHECK_EQ(got[want++], ref[k]);
            CHECK_EQ(m, want);
        }
        int64_t once = 0;
        for (int64_t i = 0; i < n; i++) {
            CHECK(seen[i] <= 1);
            once += seen[i];
        }
        CHECK_EQ(once, drop_last ? n - n % b : n);
        free(seen);
    }
    free(perm);
    free(ref);
    free(got);
}

/* A resumed run computes step k from a fresh sampler and permutation buffer. */
static void check_resume(void)
{
    const int64_t n = 1003;
    const int b = 32, w = 4, per = b / w;
    for (int r = 0; r < w; r++) {
        sampler s = mk(n, b, r, w, true, false);
        int64_t steps = sampler_steps(&s);
        int64_t *perm = malloc((size_t)n * 8), *all = malloc((size_t)(steps * per) * 8);
        CHECK(perm && all);
        sampler_perm(&s, 9, perm);
        for (int64_t st = 0; st < steps; st++)
            sampler_slice(&s, perm, st, all + st * per);
        for (int64_t k = 0; k < steps; k += 7) {
            sampler s2 = mk(n, b, r, w, true, false);
            int64_t *p2 = malloc((size_t)n * 8), idx[8];
            CHECK(p2);
            sampler_perm(&s2, 9, p2);
            sampler_slice(&s2, p2, k, idx);
            CHECK_EQ(memcmp(idx, all + k * per, sizeof idx), 0);
            free(p2);
        }
        free(perm);
        free(all);
    }
}

static void check_errors(void)
{
    sampler s;
    cnn_err e = {0};
    CHECK_EQ(sampler_init(&s, 100, 48, 0, 5, 1, true, true, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg,
                       "data.batch_size=48 is not divisible by 5 ranks; use a multiple of 5");
    CHECK_EQ(sampler_init(&s, 100, 0, 0, 1, 1, true, true, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "data.batch_size=0");
    CHECK_EQ(sampler_init(&s, 0, 8, 0, 1, 1, true, true, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "0 samples");
    CHECK_EQ(sampler_init(&s, 100, 4, 0, 8, 1, true, true, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "not divisible by 8 ranks");
    CHECK_EQ(sampler_init(&s, 100, 8, 2, 2, 1, true, true, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "rank 2 of 2");
    CHECK_EQ(sampler_init(&s, 5, 8, 0, 1, 1, true, true, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "fewer than one global batch");
    /* Evaluation keeps a short dataset: one padded step. */
    CHECK_EQ(sampler_init(&s, 5, 8, 0, 1, 1, true, false, &e), 0);
    CHECK_EQ(sampler_steps(&s), 1);
}

int main(void)
{
    check_known_answers();
    check_permutations();
    check_uniform();
    check_world(1000, 48, true);
    check_world(1000, 48, false);
    check_world(1003, 64, false);
    check_world(5, 8, false);  /* n < B: ranks 3.. get only padding */
    check_world(100, 16, true);
    check_world(64, 64, false);
    check_resume();
    check_errors();
    printf("sampler: ok\n");
    return 0;
}
