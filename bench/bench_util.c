/* Helpers of layer-bench and gpu-bench: what a case means (layer spec, target, FLOPs,
 * label), order statistics of the timings, JSON writing, and the parts both programs share
 * (common options, the alternating round loop, table cells and JSON pieces). layer-bench's
 * targets are issue #2's: ours/torch <= 1.25 on every convolution, <= 1.0 on pooling and
 * batch norm; relu is a harness check only. */
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

int bench_parse_int(const bench_opts *o, const char *s, int lo, const char *name)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > 1000000) {
        fprintf(stderr, "%s: %s %s: expected an integer >= %d\n%s", o->prog, name, s, lo,
                o->usage);
        exit(2);
    }
    return (int)v;
}

void bench_parse_common(int argc, char **argv, int *i, bench_opts *o)
{
    const char *a = argv[*i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        fputs(o->usage, stdout);
        exit(0);
    } else if (!strcmp(a, "--check")) {
        o->check = true;
    } else if (!strcmp(a, "--no-torch")) {
        o->no_torch = true;
    } else if (!strcmp(a, "--list")) {
        o->list = true;
    } else {
        const char *v = *i + 1 < argc ? argv[++*i] : NULL;
        if (v && !strcmp(a, "--warmup"))
            o->warmup = bench_parse_int(o, v, 0, a);
        else if (v && !strcmp(a, "--iters"))
            o->iters = bench_parse_int(o, v, 1, a);
        else if (v && !strcmp(a, "--rounds"))
            o->rounds = bench_parse_int(o, v, 1, a);
        else if (v && !strcmp(a, "--filter"))
            o->filter = v;
        else if (v && !strcmp(a, "--json"))
            o->json = v;
        else if (v && !strcmp(a, "--python"))
            o->python = v;
        else if (v && !strcmp(a, "--torch-script"))
            o->script = v;
        else {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n%s", o->prog, a, o->usage);
            exit(2);
        }
    }
}

void bench_list(const bench_case *cases, int n)
{
    char buf[256];
    for (int i = 0; i < n; i++)
        printf("%-26s %s\n", cases[i].id, bench_spec(&cases[i], buf, sizeof buf));
}

/* One round of our side. */
static void run_ours(bench_sides *s, ours_run *run, const bench_opts *o)
{
    if (!run)
        return;
    ours_time(run, o->warmup, o->iters, s->ours_ms + s->n_ours);
    s->n_ours += o->iters;
}

/* One round of the peer; finite only when every round was. */
static void run_torch(bench_sides *s, const bench_case *bc, peer **p, const bench_opts *o)
{
    if (!*p || s->torch_err[0])
        return;
    cnn_err e = {0};
    bool finite = false;
    if (peer_time(*p, bc, o->warmup, o->iters, s->torch_ms + s->n_torch, &finite, &e) < 0) {
        snprintf(s->torch_err, sizeof s->torch_err, "%s", e.msg);
        if (e.code == CNN_EIO) { /* the peer is gone: the rest of the run is ours alone */
            peer_stop(*p);
            *p = NULL;
        }
        return;
    }
    s->torch_finite = finite && (s->n_torch == 0 || s->torch_finite);
    s->n_torch += o->iters;
}

void bench_run_sides(bench_sides *s, backend *be, const bench_case *bc, peer **p,
                     const bench_opts *o)
{
    size_t n = (size_t)o->rounds * (size_t)o->iters;
    s->ours_ms = cnn_xcalloc(n, sizeof *s->ours_ms);
    s->torch_ms = cnn_xcalloc(n, sizeof *s->torch_ms);
    cnn_err e = {0};
    ours_run *run = NULL;
    if (ours_open(be, bc, &run, &e) < 0)
        snprintf(s->ours_err, sizeof s->ours_err, "%s", e.msg);
    for (int round = 0; round < o->rounds; round++) {
        if (round % 2 == 0) {
            run_ours(s, run, o);
            run_torch(s, bc, p, o);
        } else {
            run_torch(s, bc, p, o);
            run_ours(s, run, o);
        }
    }
    if (run) {
        s->ours_finite = ours_finite(run);
        if (!s->ours_finite)
            snprintf(s->ours_err, sizeof s->ours_err, "non-finite output or gradient");
    }
    if (s->n_torch && !s->torch_finite)
        snprintf(s->torch_err, sizeof s->torch_err, "non-finite output or gradient");
    ours_close(run);
    s->ours = bench_stats_of(s->ours_ms, s->n_ours);
    s->torch = bench_stats_of(s->torch_ms, s->n_torch);
    if (s->n_ours && s->n_torch && s->torch.median > 0) {
        s->ratio = s->ours.median / s->torch.median;
        s->ratio_min = s->ours.min / s->torch.min;
    }
}

void bench_sides_free(bench_sides *s)
{
    free(s->ours_ms);
    free(s->torch_ms);
}

void bench_sides_cells(const bench_sides *s, char am[16], char a[32], char bm[16],
                       char b[32])
{
    snprintf(am, 16, "-");
    a[0] = '\0';
    snprintf(bm, 16, "-");
    b[0] = '\0';
    if (s->n_ours) {
        snprintf(am, 16, "%.2f", s->ours.median);
        snprintf(a, 32, "[%.2f-%.2f]", s->ours.min, s->ours.max);
    }
    if (s->n_torch) {
        snprintf(bm, 16, "%.2f", s->torch.median);
        snprintf(b, 32, "[%.2f-%.2f]", s->torch.min, s->torch.max);
    }
}

void bench_print_errors(const bench_sides *s)
{
    if (s->ours_err[0])
        printf("    ours: %s\n", s->ours_err);
    if (s->torch_err[0])
        printf("    torch: %s\n", s->torch_err);
    fflush(stdout);
}

void bench_json_sides(FILE *f, const bench_sides *s)
{
    if (s->n_ours)
        json_stats(f, &s->ours, s->ours_ms);
    else
        fputs("null", f);
    fputs(",\n     \"torch\": ", f);
    if (s->n_torch)
        json_stats(f, &s->torch, s->torch_ms);
    else
        fputs("null", f);
}

void bench_json_errors(FILE *f, const bench_sides *s)
{
    json_str(f, s->ours_err);
    fputs(", \"torch_error\": ", f);
    json_str(f, s->torch_err);
}

double bench_seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}
