/* Shared by the files of layer-bench (bench/layer_bench.c): the case description that both
 * sides time, our side (a layer built from its YAML spec on the CPU backend), the PyTorch
 * peer (bench/torch_layers.py in a child process) and the report (table and JSON).
 * A case is described once, here; the YAML spec and the peer's JSON are both derived from
 * it, so the two sides cannot drift apart. */
#ifndef CNN_BENCH_H
#define CNN_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "../src/core/core.h"

typedef enum bench_op { BOP_CONV, BOP_BATCH_NORM, BOP_MAX_POOL, BOP_RELU } bench_op;

typedef struct bench_case {
    const char *id;  /* stable key in the JSON: "vgg_conv3x3_64" */
    const char *net; /* where the shape comes from, for the table */
    bench_op op;
    int n, c, h, w;        /* input (N, C, H, W) */
    int k, r, stride, pad; /* conv: K outputs, R x R kernel; pool: R x R window */
    bool bias;             /* conv only */
} bench_case;

/* Layer type (and peer op name) of a case; its target ratio ours/torch (0: none). */
const char *bench_op_name(bench_op op);
double bench_target(const bench_case *bc);
/* Floating-point operations of one forward+backward (conv: 3 GEMM-sized passes), 0 if n/a. */
double bench_flops(const bench_case *bc);
/* "8x64x56x56 k64 3x3/s1/p1 +b" into buf. */
const char *bench_shape_str(const bench_case *bc, char *buf, size_t n);
/* The YAML spec our layer is built from. */
const char *bench_spec(const bench_case *bc, char *buf, size_t n);

typedef struct bench_stats {
    int n;
    double median, min, max, q1, q3; /* ms */
} bench_stats;
bench_stats bench_stats_of(const double *ms, int n);

/* ---- our side (bench_ours.c) ---- */
typedef struct ours_run ours_run;
/* Builds the case's layer, binds memory, fills input and output gradient with uniform
 * [-1, 1) values. Fails with a message when the layer or a backend op it needs is missing. */
int ours_open(backend *be, const bench_case *bc, ours_run **out, cnn_err *e);
/* warmup untimed, then iters timed forward+backward passes into ms[iters]. */
void ours_time(ours_run *r, int warmup, int iters, double *ms);
/* Output, input gradient and parameter gradients are all finite. */
bool ours_finite(ours_run *r);
void ours_close(ours_run *r);

/* ---- the PyTorch peer (bench_peer.c) ---- */
typedef struct peer_info {
    char torch[32], onednn[32];
    char cudnn[32], gpu[96]; /* GPU peer (bench/torch_gpu_conv.py) only; "" otherwise */
    int threads;
} peer_info;
typedef struct peer peer;
/* Starts `python script --serve --threads T` and reads its hello line. Unless
 * plain_malloc, the child's glibc keeps freed memory (see bench_peer.c). On failure *out is
 * NULL and e says why and how to install PyTorch (the script's "hint" when it sends one).
 * Used by layer-bench (torch_layers.py) and gpu-bench (torch_gpu_conv.py). */
int peer_start(const char *python, const char *script, int threads, bool plain_malloc,
               peer **out, peer_info *info, cnn_err *e);
/* Times one case in the peer: iters values into ms; finite as ours_finite. */
int peer_time(peer *p, const bench_case *bc, int warmup, int iters, double *ms, bool *finite,
              cnn_err *e);
/* The generic form: sends one JSON request line (what names it in messages), reads the
 * reply's times_ms (iters values) and finite flag. */
int peer_request(peer *p, const char *what, const char *request, int iters, double *ms,
                 bool *finite, cnn_err *e);
/* An integer field of the last reply ("params"), or def. */
long long peer_reply_int(const peer *p, const char *key, long long def);
void peer_stop(peer *p);

/* ---- JSON writing (bench_util.c) ---- */
void json_str(FILE *f, const char *s);
void json_stats(FILE *f, const bench_stats *s, const double *ms);

/* ---- shared by layer-bench and gpu-bench (bench_util.c) ---- */
/* The options both programs take; prog and usage name the program in messages. */
typedef struct bench_opts {
    const char *prog, *usage;
    int warmup, iters, rounds;
    const char *filter, *json, *python, *script;
    bool check, no_torch, list;
} bench_opts;
/* s as an integer in [lo, 1000000] for option name; else a message and exit 2. */
int bench_parse_int(const bench_opts *o, const char *s, int lo, const char *name);
/* Takes argv[*i] (and its value, advancing *i) when it is a common option: -h/--help
 * (usage, exit 0), --check, --no-torch, --list, --warmup, --iters, --rounds, --filter,
 * --json, --python, --torch-script. Anything else ends the program with a usage error
 * (exit 2), so a program handles its own options before calling this. */
void bench_parse_common(int argc, char **argv, int *i, bench_opts *o);
/* --list: every case's id and YAML spec. */
void bench_list(const bench_case *cases, int n);

/* One case's two sides, timed in alternating rounds. */
typedef struct bench_sides {
    double *ours_ms, *torch_ms; /* (rounds * iters) */
    int n_ours, n_torch;
    bench_stats ours, torch;
    bool ours_finite, torch_finite;
    char ours_err[320], torch_err[320];
    double ratio;     /* medians ours / torch; 0 when a side is missing */
    double ratio_min; /* fastest ours / fastest torch: what a quiet machine would show */
} bench_sides;
/* Opens our layer for bc, runs o->rounds rounds (ours first on even rounds, the peer first
 * on odd ones) of o->warmup + o->iters iterations per side, then fills the statistics and
 * ratios. A side's failure is kept in its *_err and ends that side for the case; when the
 * peer is gone (CNN_EIO) it is stopped and *p set to NULL. */
void bench_run_sides(bench_sides *s, backend *be, const bench_case *bc, peer **p,
                     const bench_opts *o);
void bench_sides_free(bench_sides *s);
/* Table cells: ours median, [min-max], torch median, [min-max] ("-"/"" when missing). */
void bench_sides_cells(const bench_sides *s, char am[16], char a[32], char bm[16],
                       char b[32]);
/* The lines under a table row with each side's error, if any; flushes stdout. */
void bench_print_errors(const bench_sides *s);
/* JSON: ours' stats (or null), then ",\n     \"torch\": " and the peer's. */
void bench_json_sides(FILE *f, const bench_sides *s);
/* JSON: the ours_error value, then ", \"torch_error\": " and its value. */
void bench_json_errors(FILE *f, const bench_sides *s);
double bench_seconds_since(const struct timespec *t0);

#endif
