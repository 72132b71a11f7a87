/* Test assertions (libuv style): print the expression, both values and file:line, and fail
 * the test through its exit code, also under NDEBUG. */
#ifndef CNN_TESTS_CHECK_H
#define CNN_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_EQ(a, b)                                                                   \
    do {                                                                                 \
        long long a_ = (long long)(a), b_ = (long long)(b);                              \
        if (a_ != b_) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", __FILE__,  \
                    __LINE__, #a, #b, a_, b_);                                           \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                            \
    do {                                                                                 \
        double a_ = (double)(a), b_ = (double)(b);                                       \
        if (!(fabs(a_ - b_) <= (tol))) {                                                 \
            fprintf(stderr, "%s:%d: CHECK_NEAR(%s, %s, %g) failed: %.9g vs %.9g\n",      \
                    __FILE__, __LINE__, #a, #b, (double)(tol), a_, b_);                  \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                  \
    do {                                                                                 \
        const char *h_ = (hay), *n_ = (needle);                                          \
        if (!h_ || !strstr(h_, n_)) {                                                    \
            fprintf(stderr, "%s:%d: expected \"%s\" to contain \"%s\"\n", __FILE__,      \
                    __LINE__, h_ ? h_ : "(null)", n_);                                   \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* |got - ref| <= atol + rtol * |ref| elementwise; on failure prints the max abs/rel error,
 * its index and the first mismatching pairs. Returns 1 when all match. */
static inline int check_close(const char *what, const float *got, const float *ref, long long n,
                              double rtol, double atol)
{
    double max_abs = 0, max_rel = 0;
    long long worst = -1, bad = 0;
    for (long long i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        double rel = err / (fabs(ref[i]) > 1e-30 ? fabs(ref[i]) : 1e-30);
        if (!(err <= atol + rtol * fabs(ref[i]))) {
            if (bad < 5)
                fprintf(stderr, "  %s[%lld]: got %.9g, want %.9g\n", what, i, got[i], ref[i]);
            bad++;
        }
        if (err > max_abs || err != err) {
            max_abs = err;
            worst = i;
        }
        if (err > atol && rel > max_rel)
            max_rel = rel;
    }
    printf("  %-28s n=%-7lld max_abs=%.3g max_rel(beyond atol)=%.3g%s\n", what, n, max_abs,
           max_rel, bad ? "  MISMATCH" : "");
    if (bad)
        fprintf(stderr, "  %s: %lld of %lld elements off (rtol %g, atol %g); worst at %lld\n",
                what, bad, n, rtol, atol, worst);
    return bad == 0;
}

#endif
