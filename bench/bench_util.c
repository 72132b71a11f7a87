/* layer-bench helpers: what a case means (layer spec, target, FLOPs, label), order
 * statistics of the timings, and JSON writing. Targets are issue #2's: ours/torch <= 1.25
 * on every convolution, <= 1.0 on pooling and batch norm; relu is a harness check only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const char *bench_op_name(bench_op op)
{
    switch (op) {
    case BOP_CONV: return "conv2d";
    case BOP_BATCH_NORM: return "batch_norm2d";
    case BOP_MAX_POOL: return "max_pool2d";
    case BOP_RELU: return "relu";
    }
    return "?";
}

double bench_target(const bench_case *bc)
{
    switch (bc->op) {
    case BOP_CONV: return 1.25;
    case BOP_BATCH_NORM:
    case BOP_MAX_POOL: return 1.0;
    case BOP_RELU: return 0.0;
    }
    return 0.0;
}

static int out_size(int in, int r, int stride, int pad) { return (in + 2 * pad - r) / stride + 1; }

double bench_flops(const bench_case *bc)
{
    if (bc->op != BOP_CONV)
        return 0.0;
    double p = out_size(bc->h, bc->r, bc->stride, bc->pad);
    double q = out_size(bc->w, bc->r, bc->stride, bc->pad);
    /* forward, data gradient and filter gradient are each one N*K*C*R*S*P*Q MAC pass */
    return 3.0 * 2.0 * bc->n * bc->k * bc->c * bc->r * bc->r * p * q;
}

const char *bench_shape_str(const bench_case *bc, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%dx%dx%dx%d", bc->n, bc->c, bc->h, bc->w);
    if (len < 0 || (size_t)len >= n)
        return buf;
    if (bc->op == BOP_CONV)
        snprintf(buf + len, n - (size_t)len, " k%d %dx%d/s%d/p%d%s", bc->k, bc->r, bc->r,
                 bc->stride, bc->pad, bc->bias ? " +b" : "");
    else if (bc->op == BOP_MAX_POOL)
        snprintf(buf + len, n - (size_t)len, " %dx%d/s%d/p%d", bc->r, bc->r, bc->stride,
                 bc->pad);
    return buf;
}

const char *bench_spec(const bench_case *bc, char *buf, size_t n)
{
    switch (bc->op) {
    case BOP_CONV:
        snprintf(buf, n, "{type: conv2d, name: %s, out: %d, kernel: %d, stride: %d, pad: %d, "
                 "bias: %s}", bc->id, bc->k, bc->r, bc->stride, bc->pad,
                 bc->bias ? "true" : "false");
        break;
    case BOP_MAX_POOL:
        snprintf(buf, n, "{type: max_pool2d, name: %s, kernel: %d, stride: %d, pad: %d}",
                 bc->id, bc->r, bc->stride, bc->pad);
        break;
    case BOP_BATCH_NORM:
    case BOP_RELU:
        snprintf(buf, n, "{type: %s, name: %s}", bench_op_name(bc->op), bc->id);
        break;
    }
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (numpy's default percentile). */
static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return sorted[n - 1];
    return sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]);
}

bench_stats bench_stats_of(const double *ms, int n)
{
    bench_stats s = {.n = n};
    if (n <= 0)
        return s;
    double *v = cnn_xmalloc((size_t)n * sizeof *v);
    memcpy(v, ms, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = quantile(v, n, 0.5);
    s.q1 = quantile(v, n, 0.25);
    s.q3 = quantile(v, n, 0.75);
    free(v);
    return s;
}

void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void json_stats(FILE *f, const bench_stats *s, const double *ms)
{
    fprintf(f, "{\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"q1_ms\": %.4f, "
            "\"q3_ms\": %.4f, \"times_ms\": [", s->median, s->min, s->max, s->q1, s->q3);
    for (int i = 0; i < s->n; i++)
        fprintf(f, "%s%.4f", i ? ", " : "", ms[i]);
    fputs("]}", f);
}
