/* comm-bench: the gradient all-reduce of src/comm on resnet18_cifar's gradient layout
 * (issue #6, section 6), under `mpirun -np 2`:
 *   (a) reducer_finish of all buckets (comm.bucket_mb) against (b) one bare MPI_Allreduce
 *       of the same bytes on MPI_COMM_WORLD, with the algorithm Open MPI picks or the one
 *       forced by --mca (the README gives the ring command): bus bandwidth
 *       2(p-1)/p * bytes / time; (a) and (b) alternate rep by rep, so both see the same load;
 *       medians, and the median of the reps' ratios;
 *   (c) a real forward+backward at batch 32 per rank (1 thread) with reducer_hook: the
 *       fraction of all-reduce time hidden behind backward, 1 - exposed/comm from
 *       reducer_stats, the same without the ranks' imbalance (exposed after the slowest
 *       rank's backward, against (a)), and how much slower backward runs while the
 *       communication thread works (CPU taken from compute); rounds alternate the modes.
 * Each communication-thread mode (--mode blocking | ring[:US] | nbc[:US], see
 * src/comm/comm_thread.c) is measured in the same run. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "../src/comm/comm.h"
#include "../src/config/config.h"

#define MAX_MODES 8

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

/* A communication-thread mode: CNN_COMM_ALGO, CNN_COMM_POLL_US (0 = blocking) and
 * CNN_COMM_CHUNK_KB (0: the transport's default). */
typedef struct mode {
    char algo[12];
    long poll_us, chunk_kb;
    char name[40];
} mode;

typedef struct opts {
    const char *config, *json;
    double bucket_mb;
    int reps, steps, rounds, batch;
    mode modes[MAX_MODES];
    int n_modes;
} opts;

typedef struct mode_result {
    reducer *r;
    double *finish_ms, *ratio; /* (a) per rep, and (b)/(a) of the same rep */
    bench_stats finish;
    double busbw, ratio_med;          /* GB/s; median of the reps' ratios */
    double comm_s, exposed_s, hidden; /* (c) per step */
    double *bw_ms, *step_ms;          /* (c) per step: backward with the hook; whole step */
    int n_steps;
    double after_s;      /* (c) summed: exposed after the slowest rank's backward */
    double hidden_alone; /* 1 - after / (a): against the all-reduce alone */
    reducer_stats st;    /* (c) summed over rounds */
} mode_result;

static double now_s(void) { return MPI_Wtime(); }

static void usage(void)
{
    fprintf(stderr, "usage: mpirun -np 2 comm-bench [--config YAML] [--bucket-mb MB] "
                    "[--reps N] [--steps N] [--rounds N] [--batch N] [--mode M]... "
                    "[--json PATH]\n"
                    "  --mode: blocking, ring[:US[:KB]] or nbc[:US] (US: poll interval, "
                    "default 50; KB: ring message size); default: blocking ring nbc\n");
    exit(2);
}

static void add_mode(opts *o, const char *spec)
{
    if (o->n_modes == MAX_MODES)
        usage();
    mode *m = &o->modes[o->n_modes++];
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (len >= sizeof m->algo)
        usage();
    memcpy(m->algo, spec, len);
    m->algo[len] = 0;
    m->poll_us = colon ? atol(colon + 1) : 50;
    const char *colon2 = colon ? strchr(colon + 1, ':') : NULL;
    m->chunk_kb = colon2 ? atol(colon2 + 1) : 0;
    if (!strcmp(m->algo, "blocking"))
        m->poll_us = 0;
    else if ((strcmp(m->algo, "ring") && strcmp(m->algo, "nbc")) || m->poll_us <= 0 ||
             m->chunk_kb < 0)
        usage();
    char algo[sizeof m->algo]; /* a copy: GCC cannot tell m->algo from m->name apart */
    memcpy(algo, m->algo, sizeof algo);
    if (m->chunk_kb)
        snprintf(m->name, sizeof m->name, "%s %ldus %ldK", algo, m->poll_us, m->chunk_kb);
    else if (m->poll_us)
        snprintf(m->name, sizeof m->name, "%s %ldus", algo, m->poll_us);
    else
        snprintf(m->name, sizeof m->name, "blocking");
}

static opts parse(int argc, char **argv)
{
    opts o = {.config = CNN_SOURCE_DIR "/configs/resnet18_cifar.yaml", .bucket_mb = 25,
              .reps = 20, .steps = 4, .rounds = 2, .batch = 32};
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--config"))
            o.config = v;
        else if (!strcmp(k, "--json"))
            o.json = v;
        else if (!strcmp(k, "--bucket-mb"))
            o.bucket_mb = atof(v);
        else if (!strcmp(k, "--reps"))
            o.reps = atoi(v);
        else if (!strcmp(k, "--steps"))
            o.steps = atoi(v);
        else if (!strcmp(k, "--rounds"))
            o.rounds = atoi(v);
        else if (!strcmp(k, "--batch"))
            o.batch = atoi(v);
        else if (!strcmp(k, "--mode"))
            add_mode(&o, v);
        else
            usage();
    }
    if (o.n_modes == 0) {
        add_mode(&o, "blocking");
        add_mode(&o, "ring");
        add_mode(&o, "nbc");
    }
    if (o.reps < 1 || o.steps < 1 || o.rounds < 1 || o.batch < 1 || !(o.bucket_mb > 0))
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
static double bare_allreduce(net *n)
{
    fill_grads(n);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    if (MPI_Allreduce(MPI_IN_PLACE, n->grads_flat.data, (int)tensor_numel(&n->grads_flat),
                      MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        cnn_fatal("MPI_Allreduce failed");
    return 1e3 * (now_s() - t0);
}

/* (a) reducer_finish with every bucket (no hook). */
static double finish_only(reducer *r, net *n)
{
    fill_grads(n);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    reducer_finish(r);
    return 1e3 * (now_s() - t0);
}

/* (a) and (b) rep by rep, the modes in a rotating order after the bare all-reduce. */
static void measure_bandwidth(net *n, const opts *o, mode_result *m, double *bare_ms)
{
    for (int i = -2; i < o->reps; i++) {
        double b = bare_allreduce(n);
        for (int j = 0; j < o->n_modes; j++) {
            int k = (j + (i < 0 ? 0 : i)) % o->n_modes;
            double a = finish_only(m[k].r, n);
            if (i >= 0) {
                m[k].finish_ms[i] = a;
                m[k].ratio[i] = b / a;
            }
        }
        if (i >= 0)
            bare_ms[i] = b;
    }
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

/* (c) one step untimed, then steps of forward, backward with the hook (r) or without any
 * communication (NULL), finish; appends backward and step times (ms) at bw[*k], st[*k].
 * Returns the summed time from the end of the slowest rank's backward to the end of this
 * rank's finish: the exposed all-reduce without the ranks' imbalance (which a loaded
 * machine adds to reducer_stats' exposed time as waiting for the slower peer). Only the
 * timed steps enter *acc (the reducer's stats over them). */
static double train_steps(net *n, reducer *r, int steps, double *bw, double *st, int *k,
                          reducer_stats *acc)
{
    exec x = {.be = n->be, .training = true, .key = rng_key_from_seed(5)};
    double *bw_end = cnn_xmalloc((size_t)(steps + 1) * sizeof *bw_end);
    double *fin_end = cnn_xmalloc((size_t)(steps + 1) * sizeof *fin_end);
    reducer_stats s0 = {0}, s1 = {0};
    for (int i = 0; i <= steps; i++) {
        if (i == 1 && r)
            reducer_get_stats(r, &s0);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now_s();
        net_forward(n, &x, true);
        double t1 = now_s();
        net_backward(n, &x, r ? reducer_hook : NULL, r);
        bw_end[i] = now_s(); /* one node: every rank reads the same clock */
        if (r)
            reducer_finish(r);
        fin_end[i] = now_s();
        if (i > 0) {
            bw[*k] = 1e3 * (bw_end[i] - t1);
            st[(*k)++] = 1e3 * (fin_end[i] - t0);
        }
    }
    if (r) {
        reducer_get_stats(r, &s1);
        acc->comm_seconds += s1.comm_seconds - s0.comm_seconds;
        acc->exposed_seconds += s1.exposed_seconds - s0.exposed_seconds;
        acc->steps += s1.steps - s0.steps;
    }
    if (MPI_Allreduce(MPI_IN_PLACE, bw_end, steps + 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        cnn_fatal("MPI_Allreduce failed");
    double after = 0;
    for (int i = 1; i <= steps; i++)
        after += fin_end[i] > bw_end[i] ? fin_end[i] - bw_end[i] : 0;
    free(bw_end), free(fin_end);
    return after;
}

/* The per-step means over ranks of (c). */
static void summarize_overlap(comm *c, mode_result *m)
{
    double k = (double)m->st.steps, p = comm_size(c);
    double t[3] = {m->st.comm_seconds / k, m->st.exposed_seconds / k, m->after_s / k};
    comm_allreduce_sum_f64(c, t, 3, "bench stats");
    m->comm_s = t[0] / p;
    m->exposed_s = t[1] / p;
    m->hidden = m->comm_s > 0 ? 1.0 - m->exposed_s / m->comm_s : 0;
    m->after_s = t[2] / p;
    m->hidden_alone = 1.0 - 1e3 * m->after_s / m->finish.median;
}

static void create_reducers(comm *c, net *n, const opts *o, mode_result *m)
{
    for (int i = 0; i < o->n_modes; i++) {
        char v[32];
        snprintf(v, sizeof v, "%ld", o->modes[i].poll_us);
        setenv("CNN_COMM_POLL_US", v, 1); /* read by the transport at reducer_create */
        setenv("CNN_COMM_ALGO", o->modes[i].poll_us ? o->modes[i].algo : "ring", 1);
        snprintf(v, sizeof v, "%ld", o->modes[i].chunk_kb);
        if (o->modes[i].chunk_kb)
            setenv("CNN_COMM_CHUNK_KB", v, 1);
        else
            unsetenv("CNN_COMM_CHUNK_KB");
        cnn_err e = {0};
        if (reducer_create(c, n, (size_t)(o->bucket_mb * 1024 * 1024), &m[i].r, &e) < 0)
            cnn_fatal("reducer_create: %s", e.msg);
        m[i].finish_ms = cnn_xcalloc((size_t)o->reps, sizeof(double));
        m[i].ratio = cnn_xcalloc((size_t)o->reps, sizeof(double));
        size_t steps = (size_t)o->rounds * (size_t)o->steps;
        m[i].bw_ms = cnn_xcalloc(steps, sizeof(double));
        m[i].step_ms = cnn_xcalloc(steps, sizeof(double));
    }
}

static void free_results(const opts *o, mode_result *m)
{
    for (int i = 0; i < o->n_modes; i++) {
        reducer_destroy(m[i].r);
        free(m[i].finish_ms), free(m[i].ratio), free(m[i].bw_ms), free(m[i].step_ms);
    }
}

/* What the bare MPI_Allreduce runs: Open MPI's choice unless --mca forced one. */
static const char *bare_algorithm(void)
{
    const char *dyn = getenv("OMPI_MCA_coll_tuned_use_dynamic_rules");
    const char *alg = getenv("OMPI_MCA_coll_tuned_allreduce_algorithm");
    if (!dyn || atoi(dyn) == 0 || !alg || atoi(alg) == 0)
        return "Open MPI's default choice";
    static const char *names[] = {"?", "basic linear", "nonoverlapping", "recursive doubling",
                                  "ring", "segmented ring", "rabenseifner"};
    int a = atoi(alg);
    return a > 0 && a < 7 ? names[a] : "forced (unknown)";
}

static void print_table(const opts *o, size_t bytes, int p, int n_buckets,
                        const bench_stats *bare, double bare_bw, const mode_result *m,
                        double bw_alone)
{
    printf("comm-bench: %s, %d ranks, %.1f MB of gradients, buckets of %g MiB (%d), batch %d"
           "\n", o->config, p, bytes / 1e6, o->bucket_mb, n_buckets, o->batch);
    printf("  (b) bare MPI_Allreduce (%s) %8.2f ms [%.2f-%.2f] busbw %6.2f GB/s\n",
           bare_algorithm(), bare->median, bare->min, bare->max, bare_bw);
    printf("  %-15s | %-23s | %-33s | %s\n", "comm mode", "(a) reducer_finish",
           "(c) per step: comm / exposed", "backward with hook vs alone");
    for (int i = 0; i < o->n_modes; i++) {
        bench_stats bw = bench_stats_of(m[i].bw_ms, m[i].n_steps);
        printf("  %-15s | %7.2f ms %5.2f GB/s | %7.1f / %6.1f ms hidden %5.1f%% | %7.1f vs "
               "%7.1f ms (%+.1f%%)\n",
               o->modes[i].name, m[i].finish.median, m[i].busbw, 1e3 * m[i].comm_s,
               1e3 * m[i].exposed_s, 100 * m[i].hidden, bw.median, bw_alone,
               100 * (bw.median / bw_alone - 1));
        printf("                  | ratio (a)/(b) %.3f, median of reps %.3f (target >= 0.90) | "
               "hidden %.3f (target >= 0.70)\n", m[i].busbw / bare_bw, m[i].ratio_med,
               m[i].hidden);
        printf("                  | without the ranks' imbalance: %.1f ms exposed after the "
               "slowest backward, hidden %.3f of (a)\n", 1e3 * m[i].after_s,
               m[i].hidden_alone);
    }
}

static void write_json(const opts *o, size_t bytes, int p, const bench_stats *bare,
                       double bare_bw, const mode_result *m, double bw_alone)
{
    FILE *f = fopen(o->json, "w");
    if (!f)
        cnn_fatal("cannot write %s", o->json);
    fprintf(f, "{\"bench\": \"comm\", \"config\": ");
    json_str(f, o->config);
    fprintf(f, ", \"ranks\": %d, \"bytes\": %zu, \"bucket_mb\": %g, \"batch\": %d, "
               "\"bare_algorithm\": ", p, bytes, o->bucket_mb, o->batch);
    json_str(f, bare_algorithm());
    fprintf(f, ", \"bare_ms\": %.4f, \"bare_busbw_gbs\": %.4f, \"backward_alone_ms\": %.3f, "
               "\"modes\": [", bare->median, bare_bw, bw_alone);
    for (int i = 0; i < o->n_modes; i++) {
        bench_stats bw = bench_stats_of(m[i].bw_ms, m[i].n_steps);
        bench_stats st = bench_stats_of(m[i].step_ms, m[i].n_steps);
        fprintf(f, "%s{\"mode\": \"%s\", \"poll_us\": %ld, \"finish_ms\": %.4f, "
                   "\"busbw_gbs\": %.4f, \"ratio\": %.4f, \"ratio_median_of_reps\": %.4f, "
                   "\"comm_ms\": %.3f, \"exposed_ms\": %.3f, \"hidden\": %.4f, "
                   "\"backward_ms\": %.3f, \"step_ms\": %.3f, \"after_slowest_ms\": %.3f, "
                   "\"hidden_vs_alone\": %.4f}",
                i ? ", " : "", o->modes[i].name, o->modes[i].poll_us, m[i].finish.median,
                m[i].busbw, m[i].busbw / bare_bw, m[i].ratio_med, 1e3 * m[i].comm_s,
                1e3 * m[i].exposed_s, m[i].hidden, bw.median, st.median, 1e3 * m[i].after_s,
                m[i].hidden_alone);
    }
    fprintf(f, "]}\n");
    fclose(f);
}

/* (c) in rounds; each round runs backward alone, then every mode, in a rotating order. */
static double measure_overlap(net *n, const opts *o, mode_result *m)
{
    size_t steps = (size_t)o->rounds * (size_t)o->steps;
    double *bw = cnn_xcalloc(steps, sizeof *bw), *st = cnn_xcalloc(steps, sizeof *st);
    int k = 0;
    for (int r = 0; r < o->rounds; r++) {
        train_steps(n, NULL, o->steps, bw, st, &k, NULL);
        for (int j = 0; j < o->n_modes; j++) {
            mode_result *x = &m[(j + r) % o->n_modes];
            x->after_s += train_steps(n, x->r, o->steps, x->bw_ms, x->step_ms, &x->n_steps,
                                      &x->st);
        }
    }
    double alone = bench_stats_of(bw, k).median;
    free(bw), free(st);
    return alone;
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
    mode_result m[MAX_MODES] = {0};
    create_reducers(c, n, &o, m);
    double *bare_ms = cnn_xcalloc((size_t)o.reps, sizeof *bare_ms);
    measure_bandwidth(n, &o, m, bare_ms);
    bench_stats bare = bench_stats_of(bare_ms, o.reps);
    double bare_bw = busf * bytes / (bare.median * 1e-3) / 1e9;
    double bw_alone = measure_overlap(n, &o, m);
    for (int i = 0; i < o.n_modes; i++) {
        m[i].finish = bench_stats_of(m[i].finish_ms, o.reps);
        m[i].busbw = busf * bytes / (m[i].finish.median * 1e-3) / 1e9;
        m[i].ratio_med = bench_stats_of(m[i].ratio, o.reps).median;
        summarize_overlap(c, &m[i]);
    }
    reducer_stats st;
    reducer_get_stats(m[0].r, &st);
    if (rank == 0) {
        print_table(&o, bytes, p, st.n_buckets, &bare, bare_bw, m, bw_alone);
        if (o.json)
            write_json(&o, bytes, p, &bare, bare_bw, m, bw_alone);
    }
    free_results(&o, m);
    free(bare_ms);
    net_destroy(n);
    cfg_free(root);
    backend_destroy(be);
    comm_finalize(c);
    return 0;
}
