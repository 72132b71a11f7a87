/* model-bench: one whole-model training step (forward, loss, backward to every parameter) of
 * zoo models on the CPU backend against the same model in PyTorch CPU with the same threads,
 * in the same run (issue #4, section 6: ratio <= 1.2 for lenet5 at batch 64 and the
 * CIFAR-style resnet18 at batch 32). Our side builds the net from configs/<model>.yaml; the
 * peer (bench/torch_models.py) writes the same model in PyTorch and reports its parameter
 * count, which must equal ours. Rounds alternate the sides as layer-bench does; the ratio is
 * of the medians over all timed steps. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../src/config/config.h"
#include "../src/net/net.h"
#include "bench.h"

#ifndef CNN_BENCH_DIR
#define CNN_BENCH_DIR "bench"
#endif
#ifndef CNN_SOURCE_DIR
#define CNN_SOURCE_DIR "."
#endif

typedef struct model_case {
    const char *id; /* configs/<id>.yaml and the peer's model name */
    int batch;
    double target; /* ours/torch median ratio */
} model_case;

static const model_case cases[] = {
    {"lenet5", 64, 1.2},
    {"resnet18_cifar", 32, 1.2},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

static const char usage[] =
    "usage: model-bench [--threads T] [--warmup W] [--iters N] [--rounds R] [--filter S]\n"
    "                   [--json PATH] [--check] [--no-torch] [--python PATH]\n"
    "                   [--torch-script PATH] [--configs DIR]\n"
    "  --threads T   threads for both sides (default: all cores); sets OMP_NUM_THREADS\n"
    "  --warmup W    untimed steps per side and round (default 2)\n"
    "  --iters N     timed steps per side and round (default 5)\n"
    "  --rounds R    alternating rounds per model (default 4)\n"
    "  --filter S    only models whose name contains S\n"
    "  --json PATH   write all settings and timings as JSON\n"
    "  --check       exit 1 when a target is missed or a side fails\n"
    "  --no-torch    time our side only\n"
    "  --configs DIR where <model>.yaml are (default " CNN_SOURCE_DIR "/configs)\n"
    "  --python, --torch-script   the peer (default /usr/bin/python3, "
    CNN_BENCH_DIR "/torch_models.py)\n";

typedef struct model_run {
    net *n;
    backend *be;
    exec x;
} model_run;

static int ours_build(model_run *o, const char *configs, const model_case *mc, int threads,
                      cnn_err *e)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", configs, mc->id);
    cfg_node *root = NULL;
    CNN_TRY(e, config_parse_file(path, &root, e));
    const cfg_node *model = cfg_get(root, "model");
    int rc = model ? net_create(model, mc->batch, &o->n, e)
                   : CNN_ERR(e, CNN_EINVAL, "%s has no model: map", path);
    cfg_free(root);
    CNN_TRY(e, rc);
    CNN_TRY(e, backend_create("cpu", threads, &o->be, e));
    CNN_TRY(e, net_alloc(o->n, o->be, e));
    rng_key key = rng_key_from_seed(1);
    net_init(o->n, key);
    layer_fill_uniform(o->be, &o->n->input, rng_fold(key, 1), -1.0f, 1.0f);
    int64_t nt = tensor_numel(&o->n->target);
    int32_t *labels = cnn_xmalloc((size_t)nt * sizeof *labels);
    for (int64_t i = 0; i < nt; i++)
        labels[i] = (int32_t)(i * 7 % 10);
    backend_upload(o->be, &o->n->target, labels);
    free(labels);
    o->x = (exec){.be = o->be, .training = true, .key = rng_fold(key, 2), .reduce_ranks = 1};
    return CNN_OK;
}

static void ours_step(model_run *o)
{
    net_forward(o->n, &o->x, true);
    net_backward(o->n, &o->x, NULL, NULL);
    o->be->ops->sync(o->be);
}

static bool model_finite(model_run *o)
{
    const tensor *g = &o->n->grads_flat;
    int64_t n = tensor_numel(g);
    float *h = cnn_xmalloc((size_t)n * sizeof *h);
    float loss;
    backend_download(o->be, g, h);
    backend_download(o->be, net_loss_value(o->n), &loss);
    bool ok = loss == loss && loss - loss == 0.0f;
    for (int64_t i = 0; i < n && ok; i++)
        ok = h[i] - h[i] == 0.0f;
    free(h);
    return ok;
}

static void ours_free(model_run *o)
{
    net_destroy(o->n);
    backend_destroy(o->be);
}

typedef struct side {
    double *ms; /* (rounds * iters) */
    int n;
    bench_stats st;
    bool finite;
    char err[512];
} side;

typedef struct result {
    const model_case *mc;
    side ours, torch;
    int64_t params, torch_params;
    double ratio;
    bool pass;
} result;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static void round_ours(model_run *o, side *s, const bench_opts *b)
{
    for (int i = 0; i < b->warmup; i++)
        ours_step(o);
    for (int i = 0; i < b->iters; i++) {
        double t0 = now_ms();
        ours_step(o);
        s->ms[s->n++] = now_ms() - t0;
    }
}

static void round_torch(peer **p, result *r, const bench_opts *b)
{
    if (!*p || r->torch.err[0])
        return;
    char req[256];
    snprintf(req, sizeof req, "{\"model\": \"%s\", \"batch\": %d, \"warmup\": %d, \"iters\": %d}",
             r->mc->id, r->mc->batch, b->warmup, b->iters);
    cnn_err e = {0};
    bool finite = false;
    if (peer_request(*p, r->mc->id, req, b->iters, r->torch.ms + r->torch.n, &finite, &e) < 0) {
        snprintf(r->torch.err, sizeof r->torch.err, "%s", e.msg);
        if (e.code == CNN_EIO) {
            peer_stop(*p);
            *p = NULL;
        }
        return;
    }
    r->torch_params = peer_reply_int(*p, "params", -1);
    r->torch.finite = finite && (r->torch.n == 0 || r->torch.finite);
    r->torch.n += b->iters;
}

static void run_case(result *r, peer **p, const bench_opts *b, const char *configs,
                     int threads)
{
    size_t cap = (size_t)b->rounds * (size_t)b->iters;
    r->ours.ms = cnn_xcalloc(cap, sizeof(double));
    r->torch.ms = cnn_xcalloc(cap, sizeof(double));
    model_run o = {0};
    cnn_err e = {0};
    bool have_ours = ours_build(&o, configs, r->mc, threads, &e) == CNN_OK;
    if (!have_ours)
        snprintf(r->ours.err, sizeof r->ours.err, "%s", e.msg);
    else
        for (int i = 0; i < o.n->n_params; i++)
            r->params += tensor_numel(&o.n->params[i].slot->t);
    for (int round = 0; round < b->rounds; round++) {
        if (round % 2 == 0 && have_ours)
            round_ours(&o, &r->ours, b);
        round_torch(p, r, b);
        if (round % 2 == 1 && have_ours)
            round_ours(&o, &r->ours, b);
    }
    if (have_ours) {
        r->ours.finite = model_finite(&o);
        if (!r->ours.finite)
            snprintf(r->ours.err, sizeof r->ours.err, "non-finite loss or gradient");
        ours_free(&o);
    }
    if (r->torch.n && !r->torch.finite)
        snprintf(r->torch.err, sizeof r->torch.err, "non-finite loss or gradient");
    if (r->torch.n && r->params != r->torch_params)
        snprintf(r->torch.err, sizeof r->torch.err, "the peer's model has %lld parameters, "
                 "ours %lld: bench/torch_models.py no longer matches configs/%s.yaml",
                 (long long)r->torch_params, (long long)r->params, r->mc->id);
    r->ours.st = bench_stats_of(r->ours.ms, r->ours.n);
    r->torch.st = bench_stats_of(r->torch.ms, r->torch.n);
    if (r->ours.n && r->torch.n && !r->torch.err[0] && !r->ours.err[0])
        r->ratio = r->ours.st.median / r->torch.st.median;
    r->pass = r->ratio > 0 && r->ratio <= r->mc->target;
}

/* One side's "median [min-max]" in ms, or dashes when it has no timing (no peer). */
static const char *timing(const side *s, char *buf, size_t n)
{
    if (s->n)
        snprintf(buf, n, "%9.2f [%7.2f-%7.2f]", s->st.median, s->st.min, s->st.max);
    else
        snprintf(buf, n, "%9s [%7s-%7s]", "-", "-", "-");
    return buf;
}

static void print_row(const result *r)
{
    char ratio[16] = "-", verdict[32] = "-", a[48], b[48];
    if (r->ratio > 0) {
        snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
        snprintf(verdict, sizeof verdict, "%s", r->pass ? "pass" : "FAIL");
    }
    printf("%-16s %5d %11lld %s %s %6s  <=%.2f  %s\n", r->mc->id, r->mc->batch,
           (long long)r->params, timing(&r->ours, a, sizeof a), timing(&r->torch, b, sizeof b),
           ratio, r->mc->target, verdict);
    if (r->ours.err[0])
        printf("  ours: %s\n", r->ours.err);
    if (r->torch.err[0])
        printf("  torch: %s\n", r->torch.err);
    fflush(stdout);
}

static void write_side(FILE *f, const side *s)
{
    if (!s->n) {
        fputs("null", f);
        return;
    }
    json_stats(f, &s->st, s->ms);
}

static int write_json(const char *path, const peer_info *pi, int threads, const bench_opts *b,
                      const result *rs, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "model-bench: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "{\"bench\": \"model-bench\", \"time\": %lld, \"threads\": %d, \"warmup\": %d, "
            "\"iters\": %d, \"rounds\": %d, \"torch\": \"%s\", \"onednn\": \"%s\",\n \"cases\": [\n",
            (long long)time(NULL), threads, b->warmup, b->iters, b->rounds, pi->torch,
            pi->onednn);
    for (int i = 0; i < n; i++) {
        const result *r = &rs[i];
        fprintf(f, "    {\"model\": \"%s\", \"batch\": %d, \"params\": %lld, \"target\": %g, "
                "\"ratio\": %.4f, \"pass\": %s,\n     \"ours\": ", r->mc->id, r->mc->batch,
                (long long)r->params, r->mc->target, r->ratio, r->pass ? "true" : "false");
        write_side(f, &r->ours);
        fputs(",\n     \"torch\": ", f);
        write_side(f, &r->torch);
        fputs(", \"ours_error\": ", f);
        json_str(f, r->ours.err);
        fputs(", \"torch_error\": ", f);
        json_str(f, r->torch.err);
        fputs(i + 1 < n ? "},\n" : "}\n", f);
    }
    fputs(" ]}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    bench_opts b = {.prog = "model-bench", .usage = usage, .warmup = 2, .iters = 5,
                    .rounds = 4, .python = "/usr/bin/python3",
                    .script = CNN_BENCH_DIR "/torch_models.py"};
    int threads = omp_get_num_procs();
    const char *configs = CNN_SOURCE_DIR "/configs";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = bench_parse_int(&b, argv[++i], 1, "--threads");
        else if (!strcmp(argv[i], "--configs") && i + 1 < argc)
            configs = argv[++i];
        else
            bench_parse_common(argc, argv, &i, &b);
    }
    if (b.list) {
        for (int i = 0; i < N_CASES; i++)
            printf("%-16s batch %d  %s/%s.yaml\n", cases[i].id, cases[i].batch, configs,
                   cases[i].id);
        return 0;
    }
    char tbuf[16];
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    setenv("OMP_NUM_THREADS", tbuf, 1); /* inherited by the peer; ours via backend_create */
    peer *p = NULL;
    peer_info pi = {0};
    cnn_err e = {0};
    if (!b.no_torch && peer_start(b.python, b.script, threads, false, &p, &pi, &e) < 0)
        printf("model-bench: PyTorch peer unavailable: %s\n", e.msg);
    printf("model-bench: %d threads; warmup %d, %d rounds x %d steps per side; one training "
           "step = forward + loss + backward\n", threads, b.warmup, b.rounds, b.iters);
    if (p)
        printf("model-bench: peer PyTorch %s (oneDNN %s), %d threads\n", pi.torch, pi.onednn,
               pi.threads);
    printf("%-16s %5s %11s %9s %-17s %9s %-17s %6s  %-6s %s\n", "model", "batch", "params",
           "ours ms", " [min-max]", "torch ms", " [min-max]", "ratio", "target", "verdict");
    result rs[N_CASES];
    int n = 0, bad = 0;
    for (int i = 0; i < N_CASES; i++) {
        if (b.filter && !strstr(cases[i].id, b.filter))
            continue;
        rs[n] = (result){.mc = &cases[i]};
        run_case(&rs[n], &p, &b, configs, threads);
        print_row(&rs[n]);
        bad += !rs[n].pass;
        n++;
    }
    peer_stop(p);
    int rc = b.check && (bad || !n) ? 1 : 0;
    if (b.json && write_json(b.json, &pi, threads, &b, rs, n) < 0)
        rc = 1;
    for (int i = 0; i < n; i++) {
        free(rs[i].ours.ms);
        free(rs[i].torch.ms);
    }
    return rc;
}
