/* layer-bench: forward+backward (training mode) time of our CPU conv2d, batch norm and max
 * pooling layers against the same ops in PyTorch CPU, with the same thread count, in the
 * same run (issue #2, section 5; DESIGN.md "Benchmarks"). Shapes are VGG-16's and
 * ResNet-50's at batch 8 and reduced spatial size, so the whole run takes well under a minute.
 * Each case alternates the two sides over several rounds (ours first on even rounds,
 * PyTorch first on odd ones) so that load from other processes falls on both; the ratio is
 * of the medians over all timed iterations. Prints a table; --json writes everything.
 * See bench/README.md for usage and how to read the numbers. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#ifndef CNN_BENCH_DIR
#define CNN_BENCH_DIR "bench"
#endif

static const bench_case cases[] = {
    /* VGG-16's 3x3 convolutions at a quarter of the 224 input: 64@56, 128@28, 256@14. */
    {"vgg_conv3x3_64", "vgg16", BOP_CONV, 8, 64, 56, 56, 64, 3, 1, 1, true},
    {"vgg_conv3x3_128", "vgg16", BOP_CONV, 8, 128, 28, 28, 128, 3, 1, 1, true},
    {"vgg_conv3x3_256", "vgg16", BOP_CONV, 8, 256, 14, 14, 256, 3, 1, 1, true},
    /* ResNet-50 at half the 224 input: stem on 112, layer1 (bottleneck) on 28, the stride-2
     * 3x3 and 1x1 projection that open layer2. No biases: batch norm follows each. */
    {"rn50_stem_conv7x7_s2", "rn50", BOP_CONV, 8, 3, 112, 112, 64, 7, 2, 3, false},
    {"rn50_conv1x1_64_256", "rn50", BOP_CONV, 8, 64, 28, 28, 256, 1, 1, 0, false},
    {"rn50_conv1x1_256_64", "rn50", BOP_CONV, 8, 256, 28, 28, 64, 1, 1, 0, false},
    {"rn50_conv3x3_64", "rn50", BOP_CONV, 8, 64, 28, 28, 64, 3, 1, 1, false},
    {"rn50_conv3x3_s2_128", "rn50", BOP_CONV, 8, 128, 28, 28, 128, 3, 2, 1, false},
    {"rn50_conv1x1_s2_256_512", "rn50", BOP_CONV, 8, 256, 28, 28, 512, 1, 2, 0, false},
    /* The stem's batch norm (112 -> 56) and layer1's output one. */
    {"rn50_bn_64", "rn50", BOP_BATCH_NORM, 8, 64, 56, 56, 0, 0, 0, 0, false},
    {"rn50_bn_256", "rn50", BOP_BATCH_NORM, 8, 256, 28, 28, 0, 0, 0, 0, false},
    {"rn50_maxpool3x3_s2", "rn50", BOP_MAX_POOL, 8, 64, 56, 56, 0, 3, 2, 1, false},
    {"vgg_maxpool2x2_64", "vgg16", BOP_MAX_POOL, 8, 64, 56, 56, 0, 2, 2, 0, false},
    {"vgg_maxpool2x2_128", "vgg16", BOP_MAX_POOL, 8, 128, 28, 28, 0, 2, 2, 0, false},
    /* No target: checks the harness itself on the simplest layer. */
    {"relu", "-", BOP_RELU, 8, 64, 56, 56, 0, 0, 0, 0, false},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

typedef struct opts {
    bench_opts b; /* warmup, iters, rounds, filter, json, python, script, check, ... */
    int threads;
    bool plain_malloc;
} opts;

typedef enum verdict { V_NONE, V_PASS, V_FAIL, V_INFO } verdict;

typedef struct result {
    const bench_case *bc;
    bench_sides s;
    verdict v;
} result;

static const char usage[] =
    "usage: layer-bench [--threads T] [--warmup W] [--iters N] [--rounds R] [--filter S]\n"
    "                   [--json PATH] [--check] [--no-torch] [--python PATH]\n"
    "                   [--torch-script PATH] [--torch-plain-malloc] [--list]\n"
    "  --threads T   threads for both sides (default: all cores); sets OMP_NUM_THREADS\n"
    "  --warmup W    untimed iterations per side and round (default 3)\n"
    "  --iters N     timed iterations per side and round (default 20)\n"
    "  --rounds R    alternating rounds per case (default 6)\n"
    "  --filter S    only cases whose id or layer type contains S\n"
    "  --json PATH   write all settings and timings as JSON\n"
    "  --check       exit 1 when a target is missed or a side fails\n"
    "  --no-torch    time our side only\n"
    "  --python, --torch-script   the peer (default /usr/bin/python3, "
    CNN_BENCH_DIR "/torch_layers.py)\n"
    "  --torch-plain-malloc   leave the peer's glibc malloc untuned (see README)\n";

static opts parse_args(int argc, char **argv)
{
    opts o = {.b = {.prog = "layer-bench", .usage = usage, .warmup = 3, .iters = 20,
                    .rounds = 6, .python = "/usr/bin/python3",
                    .script = CNN_BENCH_DIR "/torch_layers.py"},
              .threads = omp_get_num_procs()};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--torch-plain-malloc"))
            o.plain_malloc = true;
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            o.threads = bench_parse_int(&o.b, argv[++i], 1, a);
        else
            bench_parse_common(argc, argv, &i, &o.b);
    }
    return o;
}

static bool selected(const opts *o, const bench_case *bc)
{
    const char *f = o->b.filter;
    return !f || strstr(bc->id, f) || strstr(bench_op_name(bc->op), f);
}

static void load_avg(double out[3])
{
    out[0] = out[1] = out[2] = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &out[0], &out[1], &out[2]) != 3)
            out[0] = out[1] = out[2] = -1;
        fclose(f);
    }
}

static void finish(result *r)
{
    double target = bench_target(r->bc), ratio = r->s.ratio;
    if (ratio <= 0)
        r->v = V_NONE;
    else if (target <= 0)
        r->v = V_INFO;
    else
        r->v = ratio <= target && r->s.ours_finite ? V_PASS : V_FAIL;
}

static void print_header(void)
{
    printf("%-12s %-5s %-31s %8s %-17s %8s %-17s %6s %6s %6s  %s\n", "op", "net", "shape",
           "ours ms", " [min-max]", "torch ms", " [min-max]", "ratio", "(min)", "target",
           "verdict");
}

static void print_row(const result *r)
{
    char shp[64], a[32], b[32], am[16], bm[16], ratio[16] = "-", rmin[16] = "-";
    char tgt[16] = "-", v[48];
    const bench_case *bc = r->bc;
    bench_sides_cells(&r->s, am, a, bm, b);
    if (r->s.ratio > 0) {
        snprintf(ratio, sizeof ratio, "%.2f", r->s.ratio);
        snprintf(rmin, sizeof rmin, "(%.2f)", r->s.ratio_min);
    }
    if (bench_target(bc) > 0)
        snprintf(tgt, sizeof tgt, "<=%.2f", bench_target(bc));
    switch (r->v) {
    case V_PASS: snprintf(v, sizeof v, "pass"); break;
    case V_FAIL:
        snprintf(v, sizeof v, "FAIL (%+.0f%% over)", 100.0 * (r->s.ratio / bench_target(bc) - 1));
        break;
    case V_INFO: snprintf(v, sizeof v, "info"); break;
    case V_NONE: snprintf(v, sizeof v, "%s", r->s.n_ours ? "ours only" : "-"); break;
    }
    printf("%-12s %-5s %-31s %8s %-17s %8s %-17s %6s %6s %6s  %s\n", bench_op_name(bc->op),
           bc->net, bench_shape_str(bc, shp, sizeof shp), am, a, bm, b, ratio, rmin, tgt, v);
    bench_print_errors(&r->s);
}

typedef struct run_info {
    const opts *o;
    peer_info peer;
    bool have_peer;
    char peer_err[1024];
    double load0[3], load1[3];
    double seconds;
} run_info;

static void write_result(FILE *f, const result *r)
{
    char buf[256];
    const bench_case *bc = r->bc;
    fprintf(f, "    {\"id\": \"%s\", \"op\": \"%s\", \"net\": \"%s\", \"shape\": ", bc->id,
            bench_op_name(bc->op), bc->net);
    json_str(f, bench_shape_str(bc, buf, sizeof buf));
    fputs(", \"spec\": ", f);
    json_str(f, bench_spec(bc, buf, sizeof buf));
    fprintf(f, ", \"flops\": %.0f, \"target\": %g,\n     \"ours\": ", bench_flops(bc),
            bench_target(bc));
    bench_json_sides(f, &r->s);
    static const char *const vname[] = {"null", "true", "false", "null"};
    fprintf(f, ",\n     \"ratio\": %.4f, \"ratio_min\": %.4f, \"pass\": %s, "
            "\"ours_error\": ", r->s.ratio, r->s.ratio_min, vname[r->v]);
    bench_json_errors(f, &r->s);
    fputs("}", f);
}

static int write_json(const char *path, const run_info *ri, const result *rs, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "layer-bench: cannot write %s\n", path);
        return -1;
    }
    const opts *o = ri->o;
    fprintf(f, "{\"bench\": \"layer-bench\", \"time\": %lld, \"threads\": %d, \"warmup\": %d, "
            "\"iters\": %d, \"rounds\": %d, \"peer_malloc_tuned\": %s,\n \"cores\": %d, "
            "\"load_before\": [%.2f, %.2f, %.2f], \"load_after\": [%.2f, %.2f, %.2f], "
            "\"seconds\": %.1f,\n \"peer\": ",
            (long long)time(NULL), o->threads, o->b.warmup, o->b.iters, o->b.rounds,
            o->plain_malloc ? "false" : "true",
            omp_get_num_procs(), ri->load0[0], ri->load0[1], ri->load0[2], ri->load1[0],
            ri->load1[1], ri->load1[2], ri->seconds);
    if (ri->have_peer)
        fprintf(f, "{\"torch\": \"%s\", \"onednn\": \"%s\", \"threads\": %d}", ri->peer.torch,
                ri->peer.onednn, ri->peer.threads);
    else
        fputs("null", f);
    fputs(", \"peer_error\": ", f);
    json_str(f, ri->peer_err);
    fputs(",\n \"cases\": [\n", f);
    for (int i = 0; i < n; i++) {
        write_result(f, &rs[i]);
        fputs(i + 1 < n ? ",\n" : "\n", f);
    }
    fputs(" ]}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static peer *start_peer(const opts *o, run_info *ri)
{
    if (o->b.no_torch) {
        snprintf(ri->peer_err, sizeof ri->peer_err, "--no-torch");
        return NULL;
    }
    peer *p = NULL;
    cnn_err e = {0};
    if (peer_start(o->b.python, o->b.script, o->threads, o->plain_malloc, &p, &ri->peer, &e) < 0) {
        snprintf(ri->peer_err, sizeof ri->peer_err, "%s", e.msg);
        printf("layer-bench: PyTorch peer unavailable: %s\nlayer-bench: timing our side "
               "alone (no ratios)\n", e.msg);
        return NULL;
    }
    ri->have_peer = true;
    return p;
}

static int summarize(const opts *o, const run_info *ri, const result *rs, int n)
{
    int pass = 0, fail = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        pass += rs[i].v == V_PASS;
        fail += rs[i].v == V_FAIL;
        errors += rs[i].s.ours_err[0] || rs[i].s.torch_err[0];
    }
    printf("layer-bench: %d pass, %d fail, %d with errors; %.0f s; load average %.2f before, "
           "%.2f after (%d cores)\n", pass, fail, errors, ri->seconds, ri->load0[0],
           ri->load1[0], omp_get_num_procs());
    if (!o->b.check)
        return 0;
    if (!ri->have_peer) {
        printf("layer-bench: --check: no PyTorch peer, so no target could be checked\n");
        return 1;
    }
    return fail || errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    opts o = parse_args(argc, argv);
    if (o.b.list) {
        bench_list(cases, N_CASES);
        return 0;
    }
    char tbuf[16];
    snprintf(tbuf, sizeof tbuf, "%d", o.threads);
    setenv("OMP_NUM_THREADS", tbuf, 1); /* inherited by the peer; ours via backend_create */
    backend *be;
    cnn_err e = {0};
    if (backend_create("cpu", o.threads, &be, &e) < 0) {
        fprintf(stderr, "layer-bench: %s\n  (at %s)\n", e.msg, e.trace);
        return 1;
    }
    run_info ri = {.o = &o};
    load_avg(ri.load0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    peer *p = start_peer(&o, &ri);
    printf("layer-bench: %d threads (OMP_NUM_THREADS=%s), %d cores, load average %.2f; "
           "warmup %d, %d rounds x %d iters per side; forward+backward, training mode\n",
           o.threads, tbuf, omp_get_num_procs(), ri.load0[0], o.b.warmup, o.b.rounds, o.b.iters);
    if (ri.have_peer)
        printf("layer-bench: peer PyTorch %s (oneDNN %s), %d threads, %s\n", ri.peer.torch,
               ri.peer.onednn, ri.peer.threads,
               o.plain_malloc ? "default malloc" : "malloc keeps freed memory");
    print_header();
    result rs[N_CASES];
    int n = 0;
    for (int i = 0; i < N_CASES; i++) {
        if (!selected(&o, &cases[i]))
            continue;
        rs[n] = (result){.bc = &cases[i]};
        bench_run_sides(&rs[n].s, be, rs[n].bc, &p, &o.b);
        finish(&rs[n]);
        print_row(&rs[n++]);
    }
    peer_stop(p);
    ri.seconds = bench_seconds_since(&t0);
    load_avg(ri.load1);
    int rc = summarize(&o, &ri, rs, n);
    if (o.b.json && write_json(o.b.json, &ri, rs, n) < 0)
        rc = 1;
    for (int i = 0; i < n; i++)
        bench_sides_free(&rs[i].s);
    backend_destroy(be);
    return rc;
}
