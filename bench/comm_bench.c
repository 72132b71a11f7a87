/* comm-bench: the gradient all-reduce of src/comm on resnet18_cifar's gradient layout
 * (issue #6, section 6), under `mpirun -np 2`:
 *   (a) reducer_finish of all buckets (comm.bucket_mb) against (b) one bare MPI_Allreduce
 *       of the same bytes: bus bandwidth 2(p-1)/p * bytes / time, medians; ratio a/b;
 *   (c) a real forward+backward at batch 32 per rank (1 thread) with reducer_hook: the
 *       fraction of all-reduce time hidden behind backward, 1 - exposed/comm from
 *       reducer_stats, the same without the ranks' imbalance (exposed after the slowest
 *       rank's backward, against (a)), and how much slower backward runs while the
 *       communication thread works (CPU taken from compute).
 * Each communication-thread mode (CNN_COMM_POLL_US: 0 = blocking MPI_Allreduce, N =
 * MPI_Iallreduce polled every N us) is measured in the same run. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "../src/comm/comm.h"
#include "../src/config/config.h"

typedef struct bench_stats {
    double median, min, max; /* ms */
} bench_stats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bench_stats bench_stats_of(const double *ms, int n)
{
    double *v = cnn_xmalloc((size_t)n * sizeof *v);
    memcpy(v, ms, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    bench_stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    free(v);
    return s;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++)
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    fputc('"', f);
}

typedef struct opts {
    const char *config, *json;
    double bucket_mb;
    int reps, steps, batch;
    long polls[8]; /* communication-thread modes to measure (CNN_COMM_POLL_US values) */
    int n_polls;
} opts;

typedef struct mode_result {
    long poll_us;
    bench_stats finish;    /* (a) ms */
    double busbw;          /* GB/s */
    double comm_s, exposed_s, hidden; /* (c) per step */
    double step_ms, bw_ms; /* (c) forward+backward+finish; backward alone with the hook */
    int n_buckets;
    double after_ms; /* (c) exposed after the slowest rank's backward */
    double hidden_alone; /* 1 - after / (a): against the all-reduce alone */
} mode_result;

static double now_s(void) { return MPI_Wtime(); }

static void usage(void)
{
    fprintf(stderr, "usage: mpirun -np 2 comm-bench [--config YAML] [--bucket-mb MB] "
                    "[--reps N] [--steps N] [--batch N] [--poll-us US]... [--json PATH]\n"
                    "  --poll-us: a communication-thread mode to measure (0 = blocking "
                    "MPI_Allreduce); default 0 10 50 200\n");
    exit(2);
}

static opts parse(int argc, char **argv)
{
    opts o = {.config = CNN_SOURCE_DIR "/configs/resnet18_cifar.yaml", .bucket_mb = 25,
              .reps = 20, .steps = 6, .batch = 32};
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--config"))
            o.config = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            o.json = argv[++i];
        else if (!strcmp(argv[i], "--bucket-mb"))
            o.bucket_mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps"))
            o.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps"))
            o.steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch"))
            o.batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--poll-us") && o.n_polls < 8)
            o.polls[o.n_polls++] = atol(argv[++i]);
        else
            usage();
    }
    static const long def[] = {0, 10, 50, 200};
    if (o.n_polls == 0)
        for (; o.n_polls < 4; o.n_polls++)
            o.polls[o.n_polls] = def[o.n_polls];
    if (o.reps < 1 || o.steps < 2 || o.batch < 1 || !(o.bucket_mb > 0))
        usage();
    return o;
}

static void fill_grads(net *n)
{
    float *g = n->grads_flat.data;
    for (int64_t i = 0; i < tensor_numel(&n->grads_flat); i++)
        g[i] = (float)(i % 7);
}

/* (b) one bare MPI_Allreduce of the whole gradient. */
static bench_stats bare_allreduce(net *n, int reps)
{
    double *ms = cnn_xmalloc((size_t)reps * sizeof *ms);
    int count = (int)tensor_numel(&n->grads_flat);
    for (int i = -2; i < reps; i++) {
        fill_grads(n);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now_s();
        if (MPI_Allreduce(MPI_IN_PLACE, n->grads_flat.data, count, MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            cnn_fatal("MPI_Allreduce failed");
        if (i >= 0)
            ms[i] = 1e3 * (now_s() - t0);
    }
    bench_stats s = bench_stats_of(ms, reps);
    free(ms);
    return s;
}

/* (a) reducer_finish with every bucket (no hook). */
static bench_stats finish_only(reducer *r, net *n, int reps)
{
    double *ms = cnn_xmalloc((size_t)reps * sizeof *ms);
    for (int i = -2; i < reps; i++) {
        fill_grads(n);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now_s();
        reducer_finish(r);
        if (i >= 0)
            ms[i] = 1e3 * (now_s() - t0);
    }
    bench_stats s = bench_stats_of(ms, reps);
    free(ms);
    return s;
}

static void upload_batch(net *n, int rank)
{
    size_t cnt = (size_t)tensor_numel(&n->input);
    float *h = cnn_xmalloc(cnt * sizeof *h);
    rng_fill_uniform(rng_fold(rng_key_from_seed(3), (uint64_t)rank), 0, h, cnt, -1.0f, 1.0f);
    backend_upload(n->be, &n->input, h);
    free(h);
    int32_t *lab = cnn_xmalloc((size_t)n->batch * sizeof *lab);
    for (int i = 0; i < n->batch; i++)
        lab[i] = (i + rank) % 10;
    backend_upload(n->be, &n->target, lab);
    free(lab);
}

/* (c) steps of forward, backward with the hook (r) or without any communication (NULL),
 * finish; the first step warms up. Returns the median backward time in ms; *after_ms gets
 * the mean time from the end of the slowest rank's backward to the end of this rank's
 * finish: the exposed all-reduce without the ranks' imbalance (which a loaded machine adds
 * to reducer_stats' exposed time as waiting for the slower peer). */
static double train_steps(net *n, reducer *r, int steps, double *step_ms, double *after_ms)
{
    exec x = {.be = n->be, .training = true, .key = rng_key_from_seed(5)};
    double *bw = cnn_xmalloc((size_t)steps * sizeof *bw);
    double *st = cnn_xmalloc((size_t)steps * sizeof *st);
    double *bw_end = cnn_xmalloc((size_t)steps * sizeof *bw_end);
    double *fin_end = cnn_xmalloc((size_t)steps * sizeof *fin_end);
    for (int i = 0; i < steps; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now_s();
        net_forward(n, &x, true);
        double t1 = now_s();
        net_backward(n, &x, r ? reducer_hook : NULL, r);
        bw_end[i] = now_s(); /* one node: every rank reads the same clock */
        bw[i] = 1e3 * (bw_end[i] - t1);
        if (r)
            reducer_finish(r);
        fin_end[i] = now_s();
        st[i] = 1e3 * (fin_end[i] - t0);
    }
    if (MPI_Allreduce(MPI_IN_PLACE, bw_end, steps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        cnn_fatal("MPI_Allreduce failed");
    double after = 0;
    for (int i = 1; i < steps; i++)
        after += fin_end[i] > bw_end[i] ? fin_end[i] - bw_end[i] : 0;
    *after_ms = 1e3 * after / (steps - 1);
    bench_stats b = bench_stats_of(bw + 1, steps - 1), s = bench_stats_of(st + 1, steps - 1);
    free(bw), free(st), free(bw_end), free(fin_end);
    *step_ms = s.median;
    return b.median;
}

static void run_mode(comm *c, net *n, const opts *o, long poll_us, mode_result *m)
{
    char v[32];
    snprintf(v, sizeof v, "%ld", poll_us);
    setenv("CNN_COMM_POLL_US", v, 1); /* read by the transport at reducer_create */
    reducer *r;
    cnn_err e = {0};
    if (reducer_create(c, n, (size_t)(o->bucket_mb * 1024 * 1024), &r, &e) < 0)
        cnn_fatal("reducer_create: %s", e.msg);
    m->poll_us = poll_us;
    reducer_stats st;
    reducer_get_stats(r, &st);
    m->n_buckets = st.n_buckets;
    m->finish = finish_only(r, n, o->reps);
    reducer_stats s0, s1;
    double warm, warm_after;
    train_steps(n, r, 2, &warm, &warm_after); /* warm-up steps stay out of the stats */
    reducer_get_stats(r, &s0);
    m->bw_ms = train_steps(n, r, o->steps, &m->step_ms, &m->after_ms);
    reducer_get_stats(r, &s1);
    double k = (double)(s1.steps - s0.steps);
    /* The mean of the ranks' per-step times. */
    double t[2] = {(s1.comm_seconds - s0.comm_seconds) / k,
                   (s1.exposed_seconds - s0.exposed_seconds) / k};
    comm_allreduce_sum_f64(c, t, 2, "bench stats");
    m->comm_s = t[0] / comm_size(c);
    m->exposed_s = t[1] / comm_size(c);
    m->hidden = m->comm_s > 0 ? 1.0 - m->exposed_s / m->comm_s : 0;
    double a[1] = {m->after_ms};
    comm_allreduce_sum_f64(c, a, 1, "bench stats");
    m->after_ms = a[0] / comm_size(c);
    m->hidden_alone = 1.0 - m->after_ms / m->finish.median;
    reducer_destroy(r);
}

static void print_table(const opts *o, size_t bytes, int p, const bench_stats *bare,
                        double bare_bw, const mode_result *m, int nm, double bw_alone)
{
    printf("comm-bench: %s, %d ranks, %.1f MB of gradients, buckets of %g MiB (%d), batch %d"
           "\n", o->config, p, bytes / 1e6, o->bucket_mb, m[0].n_buckets, o->batch);
    printf("  (b) bare MPI_Allreduce        %8.2f ms  busbw %6.2f GB/s\n", bare->median,
           bare_bw);
    printf("  %-9s | %-23s | %-33s | %s\n", "comm mode", "(a) reducer_finish",
           "(c) per step: comm / exposed", "backward with hook vs alone");
    for (int i = 0; i < nm; i++) {
        char mode[16];
        if (m[i].poll_us)
            snprintf(mode, sizeof mode, "poll %ldus", m[i].poll_us);
        else
            snprintf(mode, sizeof mode, "blocking");
        printf("  %-9s | %7.2f ms %5.2f GB/s | %7.1f / %6.1f ms hidden %5.1f%% | %7.1f vs "
               "%7.1f ms (+%.1f%%)\n",
               mode, m[i].finish.median, m[i].busbw, 1e3 * m[i].comm_s, 1e3 * m[i].exposed_s,
               100 * m[i].hidden, m[i].bw_ms, bw_alone, 100 * (m[i].bw_ms / bw_alone - 1));
        printf("            | ratio (a)/(b) %.3f (target >= 0.90) | hidden %.3f (target >= "
               "0.70)\n", m[i].busbw / bare_bw, m[i].hidden);
        printf("            | without the ranks' imbalance: %.1f ms exposed after the slowest "
               "backward, hidden %.3f of (a)\n", m[i].after_ms, m[i].hidden_alone);
    }
}

static void write_json(const opts *o, size_t bytes, int p, const bench_stats *bare,
                       double bare_bw, const mode_result *m, int nm, double bw_alone)
{
    FILE *f = fopen(o->json, "w");
    if (!f)
        cnn_fatal("cannot write %s", o->json);
    fprintf(f, "{\"bench\": \"comm\", \"config\": ");
    json_str(f, o->config);
    fprintf(f, ", \"ranks\": %d, \"bytes\": %zu, \"bucket_mb\": %g, \"batch\": %d, "
               "\"bare_ms\": %.4f, \"bare_busbw_gbs\": %.4f, \"backward_alone_ms\": %.3f, "
               "\"modes\": [", p, bytes, o->bucket_mb, o->batch, bare->median, bare_bw,
            bw_alone);
    for (int i = 0; i < nm; i++)
        fprintf(f, "%s{\"poll_us\": %ld, \"finish_ms\": %.4f, \"busbw_gbs\": %.4f, "
                   "\"ratio\": %.4f, \"comm_ms\": %.3f, \"exposed_ms\": %.3f, "
                   "\"hidden\": %.4f, \"backward_ms\": %.3f, \"step_ms\": %.3f, "
                   "\"after_slowest_ms\": %.3f, \"hidden_vs_alone\": %.4f}",
                i ? ", " : "", m[i].poll_us, m[i].finish.median, m[i].busbw,
                m[i].busbw / bare_bw, 1e3 * m[i].comm_s, 1e3 * m[i].exposed_s, m[i].hidden,
                m[i].bw_ms, m[i].step_ms, m[i].after_ms, m[i].hidden_alone);
    fprintf(f, "]}\n");
    fclose(f);
}

int main(int argc, char **argv)
{
    comm *c;
    cnn_err e = {0};
    if (comm_init(&argc, &argv, 600, &c, &e) < 0) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    opts o = parse(argc, argv);
    int p = comm_size(c), rank = comm_rank(c);
    backend *be;
    cfg_node *root;
    net *n;
    if (backend_create("cpu", 1, &be, &e) < 0 || config_parse_file(o.config, &root, &e) < 0 ||
        net_create(cfg_get(root, "model"), o.batch, &n, &e) < 0 || net_alloc(n, be, &e) < 0)
        cnn_fatal("setup: %s", e.msg);
    net_init(n, rng_key_from_seed(1));
    upload_batch(n, rank);
    size_t bytes = tensor_bytes(&n->grads_flat);
    double busf = p > 1 ? 2.0 * (p - 1) / p : 1.0;
    bench_stats bare = bare_allreduce(n, o.reps);
    double bare_bw = busf * bytes / (bare.median * 1e-3) / 1e9;
    double alone_step, alone_after;
    double bw_alone = train_steps(n, NULL, o.steps, &alone_step, &alone_after);
    int nm = o.n_polls;
    mode_result m[8];
    for (int i = 0; i < nm; i++) {
        run_mode(c, n, &o, o.polls[i], &m[i]);
        m[i].busbw = busf * bytes / (m[i].finish.median * 1e-3) / 1e9;
    }
    if (rank == 0) {
        print_table(&o, bytes, p, &bare, bare_bw, m, nm, bw_alone);
        if (o.json)
            write_json(&o, bytes, p, &bare, bare_bw, m, nm, bw_alone);
    }
    net_destroy(n);
    cfg_free(root);
    backend_destroy(be);
    comm_finalize(c);
    return 0;
}
