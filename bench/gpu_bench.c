/* gpu-bench: forward+backward (training mode) time of our conv2d layer on the CUDA backend
 * against PyTorch's F.conv2d on the same GPU in the same run (issue #3, section 5). Shapes
 * are VGG-16's and ResNet-50's convolutions at batch 64 on a 224 input. Both sides call
 * cuDNN, so the target is ours/torch <= 1.05 per shape: a gap means a worse algorithm choice
 * or extra copies. fp32: TF32 is off on both sides (our fp32 uses CUDNN_FMA_MATH). --bf16
 * adds a bf16 column: our side runs the layer's ops (conv_fwd, bias_add, conv_bwd_data,
 * conv_bwd_filter, bias_grad) through the backend on bf16 channels-last tensors (x, y and
 * their gradients NHWC, the filter and its gradient KRSC), the peer the same case in bf16
 * channels-last (torch.channels_last on x, the weight and so dy): like for like, both
 * sides' cuDNN sees the same layout. It is reported, not held to the target.
 * Our side is bench_ours.c (the layer API on a one-layer chain, synced before each timer
 * stops); the peer is bench/torch_gpu_conv.py in a child process (bench_peer.c), timed
 * between two torch.cuda.synchronize() calls. The two sides take turns on every case as in
 * layer-bench. Without a GPU it exits 77; without PyTorch it times our side alone.
 * See bench/README.md for usage and how to read the numbers. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef CNN_BENCH_DIR
#define CNN_BENCH_DIR "bench"
#endif

#define GPU_TARGET 1.05
#define BF16_NOTE "n/a (run with --bf16)"

/* n (batch) is set from --batch; 224-input spatial sizes. */
static const bench_case cases[] = {
    /* VGG-16: the first layer, then the second 3x3 conv of each block (bias, pad 1). */
    {"vgg_conv3x3_3_64", "vgg16", BOP_CONV, 0, 3, 224, 224, 64, 3, 1, 1, true},
    {"vgg_conv3x3_64", "vgg16", BOP_CONV, 0, 64, 224, 224, 64, 3, 1, 1, true},
    {"vgg_conv3x3_128", "vgg16", BOP_CONV, 0, 128, 112, 112, 128, 3, 1, 1, true},
    {"vgg_conv3x3_256", "vgg16", BOP_CONV, 0, 256, 56, 56, 256, 3, 1, 1, true},
    {"vgg_conv3x3_512_28", "vgg16", BOP_CONV, 0, 512, 28, 28, 512, 3, 1, 1, true},
    {"vgg_conv3x3_512_14", "vgg16", BOP_CONV, 0, 512, 14, 14, 512, 3, 1, 1, true},
    /* ResNet-50 (torchvision, stride on the 3x3): stem, then each stage's bottleneck convs
     * and the stride-2 3x3 and 1x1 projection that open it. No biases (batch norm follows). */
    {"rn50_stem_conv7x7_s2", "rn50", BOP_CONV, 0, 3, 224, 224, 64, 7, 2, 3, false},
    {"rn50_conv1x1_64_64", "rn50", BOP_CONV, 0, 64, 56, 56, 64, 1, 1, 0, false},
    {"rn50_conv3x3_64", "rn50", BOP_CONV, 0, 64, 56, 56, 64, 3, 1, 1, false},
    {"rn50_conv1x1_64_256", "rn50", BOP_CONV, 0, 64, 56, 56, 256, 1, 1, 0, false},
    {"rn50_conv1x1_256_64", "rn50", BOP_CONV, 0, 256, 56, 56, 64, 1, 1, 0, false},
    {"rn50_conv3x3_s2_128", "rn50", BOP_CONV, 0, 128, 56, 56, 128, 3, 2, 1, false},
    {"rn50_conv1x1_s2_256_512", "rn50", BOP_CONV, 0, 256, 56, 56, 512, 1, 2, 0, false},
    {"rn50_conv3x3_128", "rn50", BOP_CONV, 0, 128, 28, 28, 128, 3, 1, 1, false},
    {"rn50_conv1x1_128_512", "rn50", BOP_CONV, 0, 128, 28, 28, 512, 1, 1, 0, false},
    {"rn50_conv3x3_s2_256", "rn50", BOP_CONV, 0, 256, 28, 28, 256, 3, 2, 1, false},
    {"rn50_conv1x1_s2_512_1024", "rn50", BOP_CONV, 0, 512, 28, 28, 1024, 1, 2, 0, false},
    {"rn50_conv3x3_256", "rn50", BOP_CONV, 0, 256, 14, 14, 256, 3, 1, 1, false},
    {"rn50_conv1x1_1024_256", "rn50", BOP_CONV, 0, 1024, 14, 14, 256, 1, 1, 0, false},
    {"rn50_conv1x1_s2_1024_2048", "rn50", BOP_CONV, 0, 1024, 14, 14, 2048, 1, 2, 0, false},
    {"rn50_conv3x3_512", "rn50", BOP_CONV, 0, 512, 7, 7, 512, 3, 1, 1, false},
    {"rn50_conv1x1_512_2048", "rn50", BOP_CONV, 0, 512, 7, 7, 2048, 1, 1, 0, false},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

typedef struct opts {
    bench_opts b; /* warmup, iters, rounds, filter, json, python, script, check, ... */
    int batch;
    int workspace_mb; /* 0: the backend's default */
    bool breakdown;
    bool bf16; /* also time bf16 (both sides channels-last) */
} opts;

/* The bf16 column of one case: medians over rounds x iters, 0 when a side did not run. */
typedef struct bf16_result {
    double ours_ms, torch_ms;
    char err[160];
} bf16_result;

typedef struct result {
    bench_case bc;
    bench_sides s;
    bool pass;
    bf16_result h;
} result;

static const char usage[] =
    "usage: gpu-bench [--batch N] [--warmup W] [--iters N] [--rounds R] [--filter S]\n"
    "                 [--json PATH] [--check] [--no-torch] [--python PATH]\n"
    "                 [--torch-script PATH] [--list] [--breakdown] [--workspace-mb M]\n"
    "                 [--bf16]\n"
    "  --batch N     batch size of every case (default 64)\n"
    "  --breakdown   also time each op of a case alone on both sides (forward, bias add,\n"
    "                backward data, backward filter, bias gradient)\n"
    "  --workspace-mb M  cuDNN workspace limit (default: the backend's, 2048 MiB)\n"
    "  --bf16        also time each case in bf16, both sides channels-last (NHWC activations,\n"
    "                KRSC filters), reported beside the fp32 columns (no target)\n"
    "  --warmup W    untimed iterations per side and round (default 3; the first call of a\n"
    "                shape measures cuDNN's algorithms on both sides)\n"
    "  --iters N     timed iterations per side and round (default 10)\n"
    "  --rounds R    alternating rounds per case (default 4)\n"
    "  --filter S    only cases whose id contains S\n"
    "  --json PATH   write all settings and timings as JSON\n"
    "  --check       exit 1 when a target is missed or a side fails\n"
    "  --no-torch    time our side only\n"
    "  --python      the peer's interpreter (default: python3 on PATH)\n"
    "  --torch-script PATH   the peer (default " CNN_BENCH_DIR "/torch_gpu_conv.py, else\n"
    "                torch_gpu_conv.py next to or above this program)\n"
    "exit: 0 done, 1 error or (--check) a missed target, 2 usage, 77 no CUDA device\n";

static opts parse_args(int argc, char **argv)
{
    opts o = {.b = {.prog = "gpu-bench", .usage = usage, .warmup = 3, .iters = 10,
                    .rounds = 4, .python = "python3"},
              .batch = 64};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            o.batch = bench_parse_int(&o.b, argv[i + 1], 1, argv[i]);
            i++;
        } else if (!strcmp(argv[i], "--workspace-mb") && i + 1 < argc) {
            o.workspace_mb = bench_parse_int(&o.b, argv[i + 1], 1, argv[i]);
            i++;
        } else if (!strcmp(argv[i], "--breakdown")) {
            o.breakdown = true;
        } else if (!strcmp(argv[i], "--bf16")) {
            o.bf16 = true;
        } else {
            bench_parse_common(argc, argv, &i, &o.b);
        }
    }
    return o;
}

/* A program name without '/' is looked up on PATH (execl does not search). */
static bool find_on_path(const char *name, char *out, size_t n)
{
    if (strchr(name, '/')) {
        snprintf(out, n, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t len = strcspn(path, ":");
        snprintf(out, n, "%.*s/%s", (int)len, len ? path : ".", name);
        if (access(out, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/* The source tree's script, else torch_gpu_conv.py beside the binary or one level up (a
 * bundle made by tools/gpu-bundle.sh keeps it in its root, the binary in bin/). */
static bool find_script(char *out, size_t n)
{
    snprintf(out, n, "%s", CNN_BENCH_DIR "/torch_gpu_conv.py");
    if (access(out, R_OK) == 0)
        return true;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return false;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    static const char *const rel[] = {"/torch_gpu_conv.py", "/../torch_gpu_conv.py"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, n, "%s%s", exe, rel[i]);
        if (access(out, R_OK) == 0)
            return true;
    }
    return false;
}

static peer *start_peer(const opts *o, peer_info *info, char *err, size_t errn)
{
    char python[4096], script[4096];
    if (o->b.no_torch) {
        snprintf(err, errn, "--no-torch");
        return NULL;
    }
    peer *p = NULL;
    cnn_err e = {0};
    if (!find_on_path(o->b.python, python, sizeof python))
        snprintf(err, errn, "no Python interpreter '%s' (pass --python PATH to one with a "
                 "CUDA build of PyTorch)", o->b.python);
    else if (o->b.script)
        snprintf(script, sizeof script, "%s", o->b.script);
    else if (!find_script(script, sizeof script))
        snprintf(err, errn, "cannot find torch_gpu_conv.py; pass --torch-script PATH");
    /* threads 0: the peer keeps torch's default; plain malloc: host memory is not timed */
    if (!err[0] && peer_start(python, script, 0, true, &p, info, &e) < 0)
        snprintf(err, errn, "%s", e.msg);
    if (!p)
        printf("gpu-bench: PyTorch peer unavailable: %s\ngpu-bench: timing our side alone "
               "(no ratios)\n", err);
    return p;
}

static void print_header(void)
{
    printf("%-5s %-32s %8s %-15s %6s %8s %-15s %6s %6s %6s  %-16s %s\n", "net", "shape",
           "ours ms", " [min-max]", "TF/s", "torch ms", " [min-max]", "ratio", "(min)",
           "target", "verdict", "bf16 NHWC ours / torch ms (ratio)");
}

static void print_row(const result *r)
{
    char shp[64], a[32], b[32], am[16], bm[16], ratio[16] = "-", rmin[16] = "-";
    char tf[16] = "-", v[48], h[96];
    const bench_sides *s = &r->s;
    bench_sides_cells(s, am, a, bm, b);
    if (s->n_ours)
        snprintf(tf, sizeof tf, "%.1f", bench_flops(&r->bc) / (s->ours.median * 1e9));
    if (s->ratio > 0) {
        snprintf(ratio, sizeof ratio, "%.3f", s->ratio);
        snprintf(rmin, sizeof rmin, "(%.3f)", s->ratio_min);
    }
    if (r->pass)
        snprintf(v, sizeof v, "pass");
    else if (s->ratio > 0)
        snprintf(v, sizeof v, "FAIL (%+.0f%% over)", 100.0 * (s->ratio / GPU_TARGET - 1));
    else
        snprintf(v, sizeof v, "%s", s->n_ours ? "ours only" : "-");
    if (r->h.err[0])
        snprintf(h, sizeof h, "error: %s", r->h.err);
    else if (r->h.ours_ms > 0 && r->h.torch_ms > 0)
        snprintf(h, sizeof h, "%.3f / %.3f (%.3f)", r->h.ours_ms, r->h.torch_ms,
                 r->h.ours_ms / r->h.torch_ms);
    else if (r->h.ours_ms > 0)
        snprintf(h, sizeof h, "%.3f / -", r->h.ours_ms);
    else
        snprintf(h, sizeof h, "%s", BF16_NOTE);
    printf("%-5s %-32s %8s %-15s %6s %8s %-15s %6s %6s <=%.2f  %-16s %s\n", r->bc.net,
           bench_shape_str(&r->bc, shp, sizeof shp), am, a, tf, bm, b, ratio, rmin, GPU_TARGET,
           v, h);
    bench_print_errors(s);
}

static void write_result(FILE *f, const result *r)
{
    char buf[256];
    fprintf(f, "    {\"id\": \"%s\", \"net\": \"%s\", \"shape\": ", r->bc.id, r->bc.net);
    json_str(f, bench_shape_str(&r->bc, buf, sizeof buf));
    fputs(", \"spec\": ", f);
    json_str(f, bench_spec(&r->bc, buf, sizeof buf));
    fprintf(f, ", \"flops\": %.0f, \"target\": %g,\n     \"f32\": {\"ours\": ",
            bench_flops(&r->bc), GPU_TARGET);
    bench_json_sides(f, &r->s);
    fprintf(f, ",\n     \"ratio\": %.4f, \"ratio_min\": %.4f, \"pass\": %s, \"ours_error\": ",
            r->s.ratio, r->s.ratio_min, r->s.ratio > 0 ? (r->pass ? "true" : "false") : "null");
    bench_json_errors(f, &r->s);
    fputs("},\n     \"bf16\": ", f);
    if (r->h.ours_ms > 0 || r->h.torch_ms > 0 || r->h.err[0]) {
        fprintf(f, "{\"ours_layout\": \"channels_last\", \"torch_layout\": \"channels_last\", "
                "\"ours_ms\": %.4f, \"torch_ms\": %.4f, \"ratio\": %.4f, \"error\": ",
                r->h.ours_ms, r->h.torch_ms,
                r->h.ours_ms > 0 && r->h.torch_ms > 0 ? r->h.ours_ms / r->h.torch_ms : 0.0);
        json_str(f, r->h.err);
        fputs("}}", f);
    } else {
        fputs("null}", f);
    }
}

static int write_json(const char *path, const opts *o, const peer_info *pi, bool have_peer,
                      const char *peer_err, double seconds, const result *rs, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "gpu-bench: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "{\"bench\": \"gpu-bench\", \"time\": %lld, \"batch\": %d, \"warmup\": %d, "
            "\"iters\": %d, \"rounds\": %d, \"seconds\": %.1f,\n \"peer\": ",
            (long long)time(NULL), o->batch, o->b.warmup, o->b.iters, o->b.rounds, seconds);
    if (have_peer) {
        fprintf(f, "{\"torch\": \"%s\", \"cudnn\": \"%s\", \"gpu\": ", pi->torch, pi->cudnn);
        json_str(f, pi->gpu);
        fputs(", \"cudnn_benchmark\": true, \"tf32\": false}", f);
    } else {
        fputs("null", f);
    }
    fputs(", \"peer_error\": ", f);
    json_str(f, peer_err);
    fputs(",\n \"cases\": [\n", f);
    for (int i = 0; i < n; i++) {
        write_result(f, &rs[i]);
        fputs(i + 1 < n ? ",\n" : "\n", f);
    }
    fputs(" ]}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- --breakdown: each op alone, ours through the backend ops, torch through the peer ---- */

typedef enum part { P_FWD, P_BIAS_ADD, P_BWD_DATA, P_BWD_FILTER, P_BIAS_GRAD, N_PARTS } part;
static const char *const part_names[N_PARTS] = {"fwd", "bias_add", "bwd_data", "bwd_filter",
                                                "bias_grad"};

typedef struct op_set {
    conv_desc d;
    tensor x, w, b, y, dy, dx, dw, db;
} op_set;

/* A cheap deterministic pattern in [-1, 1) (rounded to dt), stored in lay when 4-D: timing
 * does not depend on the values, so they are not permuted. */
static void fill(backend *be, tensor *t, shape s, dtype dt, layout lay, cnn_err *e)
{
    *t = (tensor){.s = s, .dt = dt, .lay = s.nd == 4 ? lay : LAYOUT_NCHW};
    if (backend_alloc_tensor(be, t, e) < 0)
        return;
    size_t n = (size_t)shape_numel(&s);
    float *h = cnn_xmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = (float)((int)(i * 2654435761u % 2048) - 1024) / 1024.0f;
    void *raw = h;
    if (dt != DTYPE_F32) {
        raw = cnn_xmalloc(tensor_bytes(t));
        dtype_convert_host(dt, raw, DTYPE_F32, h, (int64_t)n);
    }
    backend_upload(be, t, raw);
    if (raw != h)
        free(raw);
    free(h);
}

/* lay: how x, y, their gradients (NHWC) and the filters (KRSC) are stored. */
static int op_set_open(backend *be, const bench_case *bc, dtype dt, layout lay, op_set *s,
                       cnn_err *e)
{
    int p = (bc->h + 2 * bc->pad - bc->r) / bc->stride + 1;
    int q = (bc->w + 2 * bc->pad - bc->r) / bc->stride + 1;
    s->d = (conv_desc){.pad_h = bc->pad, .pad_w = bc->pad, .stride_h = bc->stride,
                       .stride_w = bc->stride, .dil_h = 1, .dil_w = 1, .groups = 1};
    tensor *ts[] = {&s->x, &s->w, &s->b, &s->y, &s->dy, &s->dx, &s->dw, &s->db};
    shape sh[] = {SHAPE(bc->n, bc->c, bc->h, bc->w), SHAPE(bc->k, bc->c, bc->r, bc->r),
                  SHAPE(bc->k), SHAPE(bc->n, bc->k, p, q), SHAPE(bc->n, bc->k, p, q),
                  SHAPE(bc->n, bc->c, bc->h, bc->w), SHAPE(bc->k, bc->c, bc->r, bc->r),
                  SHAPE(bc->k)};
    for (int i = 0; i < 8; i++) {
        fill(be, ts[i], sh[i], dt, lay, e);
        if (!ts[i]->data)
            return -1;
    }
    return 0;
}

static void op_set_close(backend *be, op_set *s)
{
    tensor *ts[] = {&s->x, &s->w, &s->b, &s->y, &s->dy, &s->dx, &s->dw, &s->db};
    for (int i = 0; i < 8; i++)
        backend_free_tensor(be, ts[i]);
}

static void run_part(backend *be, op_set *s, part pt)
{
    const backend_ops *o = be->ops;
    switch (pt) {
    case P_FWD: o->conv_fwd(be, &s->d, &s->x, &s->w, &s->y, 0.0f); break;
    case P_BIAS_ADD: o->bias_add(be, &s->y, &s->b); break;
    case P_BWD_DATA: o->conv_bwd_data(be, &s->d, &s->dy, &s->w, &s->dx, 0.0f); break;
    case P_BWD_FILTER: o->conv_bwd_filter(be, &s->d, &s->x, &s->dy, &s->dw, 0.0f); break;
    default: o->bias_grad(be, &s->dy, &s->db, 0.0f); break;
    }
}

/* Median ms of iters calls, each synced (as the whole-layer timing is). */
static double time_part(backend *be, op_set *s, part pt, const bench_opts *o, double *ms)
{
    for (int i = 0; i < o->warmup + o->iters; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_part(be, s, pt);
        be->ops->sync(be);
        if (i >= o->warmup)
            ms[i - o->warmup] = bench_seconds_since(&t0) * 1e3;
    }
    return bench_stats_of(ms, o->iters).median;
}

static double torch_part(peer *p, const bench_case *bc, part pt, const bench_opts *o,
                         double *ms)
{
    if (!p)
        return 0.0;
    char req[640];
    snprintf(req, sizeof req,
             "{\"id\": \"%s\", \"op\": \"conv2d\", \"n\": %d, \"c\": %d, \"h\": %d, "
             "\"w\": %d, \"k\": %d, \"r\": %d, \"s\": %d, \"stride\": %d, \"pad\": %d, "
             "\"bias\": %s, \"part\": \"%s\", \"warmup\": %d, \"iters\": %d}",
             bc->id, bc->n, bc->c, bc->h, bc->w, bc->k, bc->r, bc->r, bc->stride, bc->pad,
             bc->bias ? "true" : "false", part_names[pt], o->warmup, o->iters);
    cnn_err e = {0};
    bool finite;
    if (peer_request(p, bc->id, req, o->iters, ms, &finite, &e) < 0)
        return 0.0;
    return bench_stats_of(ms, o->iters).median;
}

static void breakdown(backend *be, const bench_case *bc, peer *p, const bench_opts *o)
{
    op_set s;
    memset(&s, 0, sizeof s);
    cnn_err e = {0};
    double *ms = cnn_xcalloc((size_t)o->iters, sizeof *ms);
    if (op_set_open(be, bc, DTYPE_F32, LAYOUT_NCHW, &s, &e) < 0) {
        printf("      breakdown: %s\n", e.msg);
    } else {
        for (int pt = 0; pt < N_PARTS; pt++) {
            if (!bc->bias && (pt == P_BIAS_ADD || pt == P_BIAS_GRAD))
                continue;
            double ours = time_part(be, &s, (part)pt, o, ms);
            double torch = torch_part(p, bc, (part)pt, o, ms);
            printf("      %-12s ours %8.3f ms  torch %8.3f ms  ratio %6.3f\n", part_names[pt],
                   ours, torch, torch > 0 ? ours / torch : 0.0);
        }
    }
    op_set_close(be, &s);
    free(ms);
    fflush(stdout);
}

/* ---- --bf16: the layer's five ops in bf16 channels-last on both sides ---- */

/* One forward+backward as the conv2d layer runs it, then a sync (as bench_ours times). */
static void run_all_parts(backend *be, op_set *s, bool bias)
{
    for (int pt = 0; pt < N_PARTS; pt++)
        if (bias || (pt != P_BIAS_ADD && pt != P_BIAS_GRAD))
            run_part(be, s, (part)pt);
    be->ops->sync(be);
}

/* Rounds alternate the sides as bench_run_sides does; each side's median over all rounds. */
static void time_bf16(backend *be, const bench_case *bc, peer *p, const bench_opts *o,
                      bf16_result *h)
{
    op_set s;
    memset(&s, 0, sizeof s);
    cnn_err e = {0};
    int total = o->rounds * o->iters;
    double *ours = cnn_xcalloc((size_t)total, sizeof *ours);
    double *torch = cnn_xcalloc((size_t)total, sizeof *torch);
    int n_torch = 0;
    if (op_set_open(be, bc, DTYPE_BF16, LAYOUT_NHWC, &s, &e) < 0) {
        snprintf(h->err, sizeof h->err, "%s", e.msg);
        total = 0;
    }
    char req[640];
    snprintf(req, sizeof req,
             "{\"id\": \"%s_bf16\", \"op\": \"conv2d\", \"n\": %d, \"c\": %d, \"h\": %d, "
             "\"w\": %d, \"k\": %d, \"r\": %d, \"s\": %d, \"stride\": %d, \"pad\": %d, "
             "\"bias\": %s, \"dtype\": \"bf16\", \"warmup\": %d, \"iters\": %d}",
             bc->id, bc->n, bc->c, bc->h, bc->w, bc->k, bc->r, bc->r, bc->stride, bc->pad,
             bc->bias ? "true" : "false", o->warmup, o->iters);
    for (int r = 0; r < o->rounds && total; r++)
        for (int side = 0; side < 2; side++) {
            if ((side == 0) == (r % 2 == 0)) { /* ours first on even rounds */
                for (int i = 0; i < o->warmup + o->iters; i++) {
                    struct timespec t0;
                    clock_gettime(CLOCK_MONOTONIC, &t0);
                    run_all_parts(be, &s, bc->bias);
                    if (i >= o->warmup)
                        ours[r * o->iters + i - o->warmup] = bench_seconds_since(&t0) * 1e3;
                }
            } else if (p) {
                bool finite;
                cnn_err pe = {0};
                if (peer_request(p, bc->id, req, o->iters, torch + n_torch, &finite, &pe) == 0)
                    n_torch += o->iters;
                else if (!h->err[0])
                    snprintf(h->err, sizeof h->err, "torch: %s", pe.msg);
            }
        }
    if (total)
        h->ours_ms = bench_stats_of(ours, total).median;
    if (n_torch)
        h->torch_ms = bench_stats_of(torch, n_torch).median;
    op_set_close(be, &s);
    free(ours);
    free(torch);
}

/* The CUDA backend, or 77 when no GPU is visible ("auto" then gives the CPU backend). */
static int open_cuda(backend **be, int workspace_mb)
{
    cnn_err e = {0};
    backend_opts bo = {.name = "auto", .threads = 1,
                       .workspace_bytes = (size_t)workspace_mb << 20};
    if (backend_create_opts(&bo, be, &e) < 0) {
        fprintf(stderr, "gpu-bench: %s\n  (at %s)\n", e.msg, e.trace);
        return 1;
    }
    if ((*be)->ops->dev != DEVICE_CUDA) {
        backend_destroy(*be);
        *be = NULL;
        printf("gpu-bench: no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES); "
               "skipped\n");
        return 77;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o = parse_args(argc, argv);
    if (o.b.list) {
        bench_list(cases, N_CASES);
        return 0;
    }
    backend *be;
    int rc = open_cuda(&be, o.workspace_mb);
    if (rc)
        return rc;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    peer_info pi = {0};
    char peer_err[1024] = "";
    peer *p = start_peer(&o, &pi, peer_err, sizeof peer_err);
    bool have_peer = p != NULL;
    printf("gpu-bench: conv2d forward+backward, fp32 (no TF32), batch %d; warmup %d, %d rounds "
           "x %d iters per side; target ours/torch <= %.2f\n", o.batch, o.b.warmup, o.b.rounds,
           o.b.iters, GPU_TARGET);
    if (have_peer)
        printf("gpu-bench: peer PyTorch %s, cuDNN %s, on %s (cudnn.benchmark, no TF32)\n",
               pi.torch, pi.cudnn, pi.gpu);
    print_header();
    result rs[N_CASES];
    int n = 0;
    for (int i = 0; i < N_CASES; i++) {
        if (o.b.filter && !strstr(cases[i].id, o.b.filter))
            continue;
        rs[n] = (result){.bc = cases[i]};
        rs[n].bc.n = o.batch;
        result *r = &rs[n];
        bench_run_sides(&r->s, be, &r->bc, &p, &o.b);
        r->pass = r->s.ratio > 0 && r->s.ratio <= GPU_TARGET && r->s.ours_finite &&
                  r->s.torch_finite;
        if (o.bf16)
            time_bf16(be, &r->bc, p, &o.b, &r->h);
        print_row(&rs[n++]);
        if (o.breakdown)
            breakdown(be, &rs[n - 1].bc, p, &o.b);
    }
    peer_stop(p);
    double seconds = bench_seconds_since(&t0);
    int pass = 0, fail = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        pass += rs[i].pass;
        fail += rs[i].s.ratio > 0 && !rs[i].pass;
        errors += rs[i].s.ours_err[0] || rs[i].s.torch_err[0];
    }
    printf("gpu-bench: %d pass, %d fail, %d with errors; %.0f s%s\n", pass, fail, errors,
           seconds, o.bf16 ? "; bf16 column: both sides channels-last, no target"
                           : "; bf16: run with --bf16");
    if (o.b.check && !have_peer)
        printf("gpu-bench: --check: no PyTorch peer, so no target could be checked\n");
    rc = o.b.check && (!have_peer || fail || errors) ? 1 : 0;
    if (o.b.json && write_json(o.b.json, &o, &pi, have_peer, peer_err, seconds, rs, n) < 0)
        rc = 1;
    for (int i = 0; i < n; i++)
        bench_sides_free(&rs[i].s);
    backend_destroy(be);
    return rc;
}
