/* cnn-pack: converts a dataset once into HDF5 shards (docs/data.md). This file owns the
 * command line, the `mnist`, `mnist-scenes`, `cifar` and `info` commands and MPI packing;
 * the image sources (imagefolder, imagenet-val, segmentation) live in
 * src/data/pack_images.c. Exit codes: 0
 * success, 2 usage error, 1 anything else. Under mpirun or srun (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK set) rank r packs the shards s % size == r; the ranks agree after
 * sealing and after renaming, and rank 0 writes the master last, so a failure on any rank
 * leaves no output. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "data/data.h"

static const char *const fashion_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                                "Ankle boot"};
static const char *const digit_classes[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static const char usage[] =
    "usage: cnn-pack mnist IMAGES LABELS --out PREFIX [--range A:B] [--shards N]\n"
    "           [--mode raw|encoded]\n"
    "       cnn-pack mnist-scenes IMAGES LABELS --out PREFIX [--size 64] [--items 1-4]\n"
    "           [--count N] [--seed S] [--range A:B] [--shards N] [--mode raw|encoded]\n"
    "       cnn-pack cifar DIR --out PREFIX [--split train|test] [--fine|--coarse]\n"
    "       cnn-pack imagefolder SRC --out PREFIX [--shards N] [--mode encoded|raw] ...\n"
    "       cnn-pack imagenet-val SRC LABELS --out PREFIX ...\n"
    "       cnn-pack segmentation IMAGES MASKS --out PREFIX ...\n"
    "       cnn-pack info PATH [--verify]\n"
    "       cnn-pack --help   (every option)\n";

static const char help[] =
    "cnn-pack: datasets to HDF5 shards for cnn-dist (docs/data.md)\n"
    "\n"
    "  cnn-pack mnist IMAGES LABELS --out PREFIX [--range A:B] [--shards N] [--mode raw|encoded]\n"
    "      MNIST-format idx files, plain or .gz (MNIST, Fashion-MNIST)\n"
    "  cnn-pack mnist-scenes IMAGES LABELS --out PREFIX [--size 64] [--items 1-4]\n"
    "           [--count 10000] [--seed 0] [--range A:B]\n"
    "      a segmentation set: SIZExSIZE scenes of 1-4 items from the idx files at random\n"
    "      positions and scales (0.75-1.5x), overlapping; mask = the item's class + 1 where\n"
    "      its scaled pixels are above 64 (of 255), 0 (background) elsewhere; the same for\n"
    "      a seed (pack train scenes from the training files, test scenes from the test)\n"
    "  cnn-pack cifar DIR --out PREFIX [--split train|test] [--fine|--coarse]\n"
    "      the binary CIFAR-10 (data_batch_*.bin, test_batch.bin) or CIFAR-100 (train.bin,\n"
    "      test.bin; --fine 100 classes, default, or --coarse 20) files in DIR; raw 32x32 RGB\n"
    "  cnn-pack imagefolder SRC --out PREFIX [options]\n"
    "      SRC/<class>/**/*.jpg|jpeg|png, classes = sorted sub-folders (torchvision ImageFolder)\n"
    "  cnn-pack imagenet-val SRC LABELS --out PREFIX [--classes-from TRAIN.h5] [options]\n"
    "      a flat folder and its labels (\"file label\" lines, or one label per sorted file)\n"
    "  cnn-pack segmentation IMAGES MASKS --out PREFIX [options]\n"
    "      images and masks paired by file stem; masks hold class ids (255 = ignore)\n"
    "  cnn-pack info PATH [--verify]\n"
    "      what a packed dataset holds; every shard checked (--verify: every blob too)\n"
    "\n"
    "options:\n"
    "  --out PREFIX        writes PREFIX.h5 (the master) and PREFIX-SSSSS-of-NNNNN.h5\n"
    "  --shards N          shard count (default 1)\n"
    "  --range A:B         mnist, mnist-scenes: only the idx files' images A to B-1 (a\n"
    "                      validation split carved from the training files: 0:50000 and\n"
    "                      50000:60000)\n"
    "  --mode encoded|raw  keep the image files' bytes (default for images) or store decoded\n"
    "                      pixels (default for mnist)\n"
    "  --resize S          resize the shorter side to S first (encoded: re-encode, JPEG q95)\n"
    "  --size HxW          raw: resize the shorter side, then center-crop to HxW\n"
    "  --classes-from F    imagenet-val: number class names as the training set F does\n"
    "  --strict            an unreadable image fails the run (default: skipped, counted)\n"
    "  --threads T         decoding threads (default: the cores)\n"
    "  --verify            info: also check every blob's checksum\n"
    "\n"
    "Under mpirun, rank r packs the shards s % R == r. Exit status: 0 success, 2 usage\n"
    "error, 1 anything else.\n";

typedef struct mpi_ctx {
    bool on;
    int rank, size;
} mpi_ctx;

static void mpi_abort_hook(int code) { MPI_Abort(MPI_COMM_WORLD, code ? code : 1); }

static void mpi_start(mpi_ctx *m, int *argc, char ***argv)
{
    m->rank = 0;
    m->size = 1;
    m->on = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
    if (!m->on)
        return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "cnn-pack: MPI_Init failed\n");
        exit(1);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    cnn_proc_set(m->rank, m->size, mpi_abort_hook);
}

/* All ranks learn whether every rank succeeded (rc < 0 anywhere gives < 0 everywhere). */
static int agree(const mpi_ctx *m, int rc)
{
    int all = rc;
    if (m->on && MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        cnn_fatal("MPI_Allreduce of the packing status failed");
    return all;
}

/* pack_images_main's collectives (pack_comm, data.h); a failed collective ends every rank. */
static void mpi_reduce(void *buf, int n, pack_op op)
{
    MPI_Datatype t = op == PACK_SUM_U64   ? MPI_UINT64_T
                     : op == PACK_BOR_U32 ? MPI_UINT32_T
                                          : MPI_INT32_T;
    MPI_Op o = op == PACK_MIN_I32   ? MPI_MIN
               : op == PACK_MAX_I32 ? MPI_MAX
               : op == PACK_SUM_U64 ? MPI_SUM
                                    : MPI_BOR;
    if (MPI_Allreduce(MPI_IN_PLACE, buf, n, t, o, MPI_COMM_WORLD) != MPI_SUCCESS)
        cnn_fatal("MPI_Allreduce while packing images failed");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One line on stderr, redrawn at most 5 times a second, when stderr is a terminal. */
typedef struct progress {
    bool tty;
    int64_t total;
    double t0, last;
} progress;

static void progress_show(progress *p, int64_t done, bool final)
{
    double t = now();
    if (!p->tty || (!final && t - p->last < 0.2))
        return;
    p->last = t;
    double rate = done / (t - p->t0 > 1e-9 ? t - p->t0 : 1e-9);
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    int bar = p->total ? (int)(30 * done / p->total) : 30;
    fprintf(stderr, "\r[%-30.*s] %lld/%lld  %.0f files/s  ETA %.0fs%s", bar,
            "##############################", (long long)done, (long long)p->total, rate, eta,
            final ? "\n" : "");
}

typedef struct opts {
    const char *out;
    int shards;
    data_mode mode;
    bool verify;
    const char *pos[3];
    int n_pos;
    /* mnist-scenes */
    mnist_scene_cfg scene;
    int64_t count;
    bool scene_opts; /* one of them was given */
    int64_t range[2]; /* --range A:B of the idx images; {0, 0} = all */
    /* cifar */
    bool test_split, coarse, cifar_opts;
} opts;

static int scene_int(const char *opt, const char *v, long lo, long hi, long *out, cnn_err *e)
{
    char *end = NULL;
    *out = strtol(v, &end, 10);
    if (!*v || *end || *out < lo || *out > hi)
        return CNN_ERR(e, CNN_EINVAL, "%s %s: give a number from %ld to %ld", opt, v, lo, hi);
    return CNN_OK;
}

/* --size, --items A-B, --count, --seed of mnist-scenes; 0 when a is none of them. */
static int parse_scene(const char *a, const char *v, opts *o, cnn_err *e)
{
    long x, y;
    if (!strcmp(a, "--size")) {
        CNN_TRY(e, scene_int(a, v, 28, 4096, &x, e));
        o->scene.size = (int)x;
    } else if (!strcmp(a, "--count")) {
        CNN_TRY(e, scene_int(a, v, 1, 100000000, &x, e));
        o->count = x;
    } else if (!strcmp(a, "--seed")) {
        CNN_TRY(e, scene_int(a, v, 0, 2147483647, &x, e));
        o->scene.seed = (uint64_t)x;
    } else if (!strcmp(a, "--items")) {
        if (sscanf(v, "%ld-%ld", &x, &y) != 2 && (y = x = strtol(v, NULL, 10)) <= 0)
            return CNN_ERR(e, CNN_EINVAL, "--items %s: give A-B (e.g. 1-4) or one count", v);
        if (x < 1 || y < x || y > 64)
            return CNN_ERR(e, CNN_EINVAL, "--items %s: need 1 <= A <= B <= 64", v);
        o->scene.items_min = (int)x;
        o->scene.items_max = (int)y;
    } else {
        return 0;
    }
    o->scene_opts = true;
    return 1;
}

static int parse(int argc, char **argv, opts *o, cnn_err *e)
{
    *o = (opts){.shards = 1, .mode = DATA_RAW, .scene = {64, 1, 4, 0}, .count = 10000};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        int sc = has_val ? parse_scene(a, argv[i + 1], o, e) : 0;
        if (sc < 0)
            return sc;
        if (sc) {
            i++;
        } else if (strcmp(a, "--split") == 0 && has_val) {
            const char *v = argv[++i];
            if (strcmp(v, "train") && strcmp(v, "test"))
                return CNN_ERR(e, CNN_EINVAL, "--split %s: use train or test", v);
            o->test_split = !strcmp(v, "test");
            o->cifar_opts = true;
        } else if (!strcmp(a, "--fine") || !strcmp(a, "--coarse")) {
            o->coarse = !strcmp(a, "--coarse");
            o->cifar_opts = true;
        } else if (strcmp(a, "--out") == 0 && has_val) {
            o->out = argv[++i];
        } else if (strcmp(a, "--shards") == 0 && has_val) {
            char *end = NULL;
            long v = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || v < 1 || v > 99999)
                return CNN_ERR(e, CNN_EINVAL, "--shards %s: give a number from 1 to 99999",
                               argv[i]);
            o->shards = (int)v;
        } else if (strcmp(a, "--mode") == 0 && has_val) {
            const char *v = argv[++i];
            if (strcmp(v, "raw") != 0 && strcmp(v, "encoded") != 0)
                return CNN_ERR(e, CNN_EINVAL, "--mode %s: use --mode raw (28x28 gray pixels) "
                               "or --mode encoded (one PNG each)", v);
            o->mode = strcmp(v, "raw") == 0 ? DATA_RAW : DATA_ENCODED;
        } else if (strcmp(a, "--range") == 0 && has_val) {
            const char *v = argv[++i];
            long long x, y;
            char tail;
            if (sscanf(v, "%lld:%lld%c", &x, &y, &tail) != 2 || x < 0 || y <= x)
                return CNN_ERR(e, CNN_EINVAL, "--range %s: give A:B with 0 <= A < B (images "
                               "A to B-1, e.g. 50000:60000)", v);
            o->range[0] = x;
            o->range[1] = y;
        } else if (strcmp(a, "--verify") == 0) {
            o->verify = true;
        } else if (a[0] == '-' && a[1]) {
            return CNN_ERR(e, CNN_EINVAL, "unknown option or missing value: %s", a);
        } else if (o->n_pos < 3) {
            o->pos[o->n_pos++] = a;
        } else {
            return CNN_ERR(e, CNN_EINVAL, "unexpected argument: %s", a);
        }
    }
    return CNN_OK;
}

/* Channel statistics of n pixels of C channels (interleaved): sums[2c] and sums[2c + 1] are
 * channel c's sum and sum of squares; a gray image counts for all three channels. */
static void add_stats(uint64_t sums[6], const uint8_t *px, size_t n, int C)
{
    for (size_t k = 0; k < n; k++)
        for (int c = 0; c < 3; c++) {
            uint64_t v = px[k * (size_t)C + (C == 3 ? (size_t)c : 0)];
            sums[2 * c] += v;
            sums[2 * c + 1] += v * v;
        }
}

/* Sample i as stored: its pixels (raw) or a lossless PNG of them (encoded, *png to free). */
static int mnist_bytes(const mnist_set *ms, int64_t i, data_mode mode, const uint8_t **p,
                       size_t *len, uint8_t **png, cnn_err *e)
{
    *png = NULL;
    *len = (size_t)ms->h * (size_t)ms->w;
    *p = ms->images + (size_t)i * *len;
    if (mode == DATA_RAW)
        return CNN_OK;
    CNN_TRY(e, mnist_encode_png(ms, i, png, len, e));
    *p = *png;
    return CNN_OK;
}

/* Packs this rank's shards: sample i goes to shard i * shards / n (contiguous ranges). */
static int mnist_add(pack_writer *w, const void *ctx, const opts *o, const mpi_ctx *m,
                     uint64_t sums[6], cnn_err *e)
{
    const mnist_set *ms = ctx;
    size_t px = (size_t)ms->h * (size_t)ms->w;
    int64_t mine = 0, done = 0;
    for (int s = m->rank; s < o->shards; s += m->size)
        mine += (s + 1) * ms->n / o->shards - s * ms->n / o->shards;
    progress p = {isatty(2) && m->rank == 0, mine, now(), 0};
    for (int s = m->rank; s < o->shards; s += m->size) {
        for (int64_t i = s * ms->n / o->shards; i < (s + 1) * ms->n / o->shards; i++) {
            const uint8_t *img = ms->images + (size_t)i * px;
            add_stats(sums, img, px, 1);
            const uint8_t *bytes;
            size_t len;
            uint8_t *png;
            CNN_TRY(e, mnist_bytes(ms, i, o->mode, &bytes, &len, &png, e));
            int rc = pack_add(w, s, bytes, len, ms->labels[i], ms->h, ms->w, NULL, 0, e);
            free(png);
            CNN_TRY(e, rc);
            progress_show(&p, ++done, false);
        }
    }
    progress_show(&p, done, true);
    return CNN_OK;
}

/* Seal, agree, rename, agree, then rank 0 writes the master with every rank's shards;
 * pixels: per channel, for the statistics. */
static int finish(pack_writer *w, int shards, const mpi_ctx *m, const uint64_t sums[6],
                  int64_t pixels, cnn_err *e)
{
    pack_shard_info *info = calloc((size_t)shards, sizeof *info), *all = NULL;
    CNN_ASSERT(info);
    int rc = agree(m, pack_seal(w, info, e));
    if (rc == CNN_OK)
        rc = agree(m, pack_rename_shards(w, e));
    uint64_t tot[6];
    memcpy(tot, sums, sizeof tot);
    all = calloc((size_t)shards, sizeof *all);
    CNN_ASSERT(all);
    if (rc == CNN_OK && m->on) {
        /* Entries of shards a rank does not own are zero, so a sum gathers them. */
        if (MPI_Allreduce(info, all, shards * (int)sizeof *info / 4, MPI_UINT32_T, MPI_BOR,
                          MPI_COMM_WORLD) != MPI_SUCCESS ||
            MPI_Allreduce(sums, tot, 6, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            cnn_fatal("MPI_Allreduce of the shard list failed");
    } else if (rc == CNN_OK) {
        memcpy(all, info, (size_t)shards * sizeof *info);
    }
    float mean[3] = {0}, std[3] = {0};
    for (int c = 0; c < 3; c++) {
        double mu = (double)tot[2 * c] / (double)(pixels ? pixels : 1) / 255.0;
        double ex2 = (double)tot[2 * c + 1] / (double)(pixels ? pixels : 1) / (255.0 * 255.0);
        mean[c] = (float)mu;
        std[c] = (float)sqrt(ex2 - mu * mu > 0 ? ex2 - mu * mu : 0);
    }
    if (rc == CNN_OK)
        rc = agree(m, m->rank == 0 ? pack_write_master(w, all, mean, std, e) : CNN_OK);
    free(info);
    free(all);
    if (rc == CNN_OK)
        pack_close(w);
    else
        pack_abort(w);
    return rc;
}

/* Every rank adds its shards' samples (add, with ctx), then seal, rename and the master;
 * pixels: per channel, for the statistics. Nothing is left behind on failure. */
typedef int (*pack_add_fn)(pack_writer *w, const void *ctx, const opts *o, const mpi_ctx *m,
                           uint64_t sums[6], cnn_err *e);
static int pack_all(const pack_opts *po, const opts *o, const mpi_ctx *m, pack_add_fn add,
                    const void *ctx, int64_t pixels, cnn_err *e)
{
    pack_writer *w = NULL;
    uint64_t sums[6] = {0};
    int rc = agree(m, pack_open(po, &w, e));
    if (rc == CNN_OK)
        rc = agree(m, add(w, ctx, o, m, sums, e));
    if (rc == CNN_OK)
        rc = finish(w, o->shards, m, sums, pixels, e);
    else
        pack_abort(w);
    return rc;
}

/* Fashion-MNIST's files are named as MNIST's; its path is how we tell them apart. */
static bool mentions_fashion(const char *path)
{
    for (const char *p = path; *p; p++)
        if (strncasecmp(p, "fashion", 7) == 0)
            return true;
    return false;
}

/* The idx files, narrowed to --range. */
static int read_mnist(const opts *o, mnist_set *ms, cnn_err *e)
{
    CNN_TRY(e, mnist_read(o->pos[0], o->pos[1], ms, e));
    if (o->range[1] == 0)
        return CNN_OK;
    if (o->range[1] > ms->n) {
        int64_t n = ms->n;
        mnist_free(ms);
        return CNN_ERR(e, CNN_EINVAL, "--range %lld:%lld: %s holds %lld images",
                       (long long)o->range[0], (long long)o->range[1], o->pos[0],
                       (long long)n);
    }
    size_t px = (size_t)ms->h * (size_t)ms->w;
    ms->n = o->range[1] - o->range[0];
    memmove(ms->images, ms->images + (size_t)o->range[0] * px, (size_t)ms->n * px);
    memmove(ms->labels, ms->labels + o->range[0], (size_t)ms->n);
    return CNN_OK;
}

/* "[A:B]" after the file names in a dataset's source attribute; "" without --range. */
static void range_note(const opts *o, char *buf, size_t n)
{
    if (o->range[1])
        snprintf(buf, n, "[%lld:%lld]", (long long)o->range[0], (long long)o->range[1]);
    else
        buf[0] = 0;
}

static int cmd_mnist(int argc, char **argv, const mpi_ctx *m, bool *usage_err, cnn_err *e)
{
    opts o;
    *usage_err = true;
    CNN_TRY(e, parse(argc, argv, &o, e));
    if (o.n_pos != 2 || !o.out)
        return CNN_ERR(e, CNN_EINVAL, "mnist needs IMAGES LABELS --out PREFIX");
    if (o.scene_opts || o.cifar_opts)
        return CNN_ERR(e, CNN_EINVAL, "--size, --items, --count and --seed are options of "
                       "mnist-scenes, --split, --fine and --coarse of cifar, not of mnist");
    *usage_err = false;
    mnist_set ms;
    CNN_TRY(e, read_mnist(&o, &ms, e));
    bool fashion = mentions_fashion(o.pos[0]);
    char source[600], rn[48];
    range_note(&o, rn, sizeof rn);
    snprintf(source, sizeof source, "%s %s%s", o.pos[0], o.pos[1], rn);
    bool raw = o.mode == DATA_RAW;
    pack_opts po = {o.out, o.shards, o.mode, DATA_CLASSIFY, raw ? ms.h : 0, raw ? ms.w : 0,
                    raw ? 1 : 0, source, (char **)(fashion ? fashion_classes : digit_classes),
                    10, m->rank, m->size};
    int rc = pack_all(&po, &o, m, mnist_add, &ms, ms.n * ms.h * ms.w, e);
    if (rc == CNN_OK && m->rank == 0)
        printf("packed %lld images (%dx%d, %s) into %s.h5 and %d shard(s)\n",
               (long long)ms.n, ms.h, ms.w, raw ? "raw" : "encoded as PNG", o.out, o.shards);
    mnist_free(&ms);
    return rc;
}

/* The master's summary before shard 0, then one line per shard, bad ones with the reason. */
typedef struct info_ctx {
    const char *path;
    int n_shards;
} info_ctx;

static void info_shard(void *ctx, const dataset *ds, int s, const cnn_err *bad)
{
    const dataset_info *in = dataset_get_info(ds);
    info_ctx *c = ctx;
    c->n_shards = in->n_shards;
    if (s == 0) {
        printf("dataset   %s\nsource    %s\nsamples   %lld\nmode      %s\ntask      %s\n",
               c->path, in->source, (long long)in->n,
               in->mode == DATA_RAW ? "raw" : "encoded",
               in->task == DATA_SEGMENT ? "segment" : "classify");
        if (in->mode == DATA_RAW)
            printf("shape     %dx%dx%d (HxWxC)\n", in->raw_h, in->raw_w, in->raw_c);
        printf("mean      %.4f %.4f %.4f\nstd       %.4f %.4f %.4f\nclasses   %d:",
               in->mean[0], in->mean[1], in->mean[2], in->std[0], in->std[1], in->std[2],
               in->n_classes);
        for (int i = 0; i < in->n_classes && i < 20; i++)
            printf(" %s%s", in->classes[i], i + 1 < in->n_classes ? "," : "");
        printf("%s\nshards    %d\n", in->n_classes > 20 ? " ..." : "", in->n_shards);
    }
    const char *path;
    int64_t n;
    uint32_t ic, bc;
    dataset_shard(ds, s, &path, &n, &ic, &bc);
    /* The reason starts "shard file PATH: " when it came from the shard itself. */
    const char *why = bad ? bad->msg : "";
    size_t pl = strlen(path);
    if (bad && strncmp(why, "shard file ", 11) == 0 && strncmp(why + 11, path, pl) == 0 &&
        strncmp(why + 11 + pl, ": ", 2) == 0)
        why += 13 + pl;
    if (bad)
        printf("  %s  BAD: %s\n", path, why);
    else
        printf("  %s  %lld samples  index %08x  blob %08x  ok\n", path, (long long)n, ic, bc);
}

/* Scene i into shard s: raw pixels and mask, or both as PNG (encoded). */
static int scene_add(pack_writer *w, int shard, const mnist_set *ms, const opts *o, int64_t i,
                     uint8_t *img, uint8_t *mask, uint64_t sums[6], cnn_err *e)
{
    int S = o->scene.size;
    size_t px = (size_t)S * (size_t)S;
    mnist_scene(ms, &o->scene, i, img, mask);
    add_stats(sums, img, px, 1);
    if (o->mode == DATA_RAW)
        return pack_add(w, shard, img, px, -1, S, S, mask, px, e);
    image a = {S, S, 1, img}, b = {S, S, 1, mask};
    uint8_t *pa = NULL, *pb = NULL;
    size_t la = 0, lb = 0;
    int rc = image_encode_png(&a, &pa, &la, e);
    if (rc == CNN_OK)
        rc = image_encode_png(&b, &pb, &lb, e);
    if (rc == CNN_OK)
        rc = pack_add(w, shard, pa, la, -1, S, S, pb, lb, e);
    free(pa);
    free(pb);
    return rc;
}

static int scenes_add(pack_writer *w, const void *ctx, const opts *o, const mpi_ctx *m,
                      uint64_t sums[6], cnn_err *e)
{
    const mnist_set *ms = ctx;
    size_t px = (size_t)o->scene.size * (size_t)o->scene.size;
    uint8_t *img = malloc(px), *mask = malloc(px);
    CNN_ASSERT(img && mask);
    int rc = CNN_OK;
    for (int s = m->rank; s < o->shards && rc == CNN_OK; s += m->size)
        for (int64_t i = s * o->count / o->shards;
             i < (s + 1) * o->count / o->shards && rc == CNN_OK; i++)
            rc = scene_add(w, s, ms, o, i, img, mask, sums, e);
    free(img);
    free(mask);
    return rc;
}

static int cmd_scenes(int argc, char **argv, const mpi_ctx *m, bool *usage_err, cnn_err *e)
{
    opts o;
    *usage_err = true;
    CNN_TRY(e, parse(argc, argv, &o, e));
    if (o.n_pos != 2 || !o.out)
        return CNN_ERR(e, CNN_EINVAL, "mnist-scenes needs IMAGES LABELS --out PREFIX");
    *usage_err = false;
    mnist_set ms;
    CNN_TRY(e, read_mnist(&o, &ms, e));
    if (ms.h > o.scene.size || ms.w > o.scene.size) {
        mnist_free(&ms);
        return CNN_ERR(e, CNN_EINVAL, "--size %d is smaller than the items (%dx%d)",
                       o.scene.size, ms.h, ms.w);
    }
    const char *const *names = mentions_fashion(o.pos[0]) ? fashion_classes : digit_classes;
    char *classes[11] = {"background"};
    for (int k = 0; k < 10; k++)
        classes[k + 1] = (char *)names[k];
    char source[700], rn[48];
    range_note(&o, rn, sizeof rn);
    snprintf(source, sizeof source, "mnist-scenes of %s %s%s: size %d, items %d-%d, seed %llu",
             o.pos[0], o.pos[1], rn, o.scene.size, o.scene.items_min, o.scene.items_max,
             (unsigned long long)o.scene.seed);
    bool raw = o.mode == DATA_RAW;
    pack_opts po = {o.out, o.shards, o.mode, DATA_SEGMENT, raw ? o.scene.size : 0,
                    raw ? o.scene.size : 0, raw ? 1 : 0, source, classes, 11, m->rank, m->size};
    int rc = pack_all(&po, &o, m, scenes_add, &ms, o.count * o.scene.size * o.scene.size, e);
    if (rc == CNN_OK && m->rank == 0)
        printf("packed %lld scenes (%dx%d, %d-%d items of %lld, seed %llu, %s) into %s.h5 and "
               "%d shard(s)\n", (long long)o.count, o.scene.size, o.scene.size,
               o.scene.items_min, o.scene.items_max, (long long)ms.n,
               (unsigned long long)o.scene.seed, raw ? "raw" : "PNG", o.out, o.shards);
    mnist_free(&ms);
    return rc;
}

static int cifar_add(pack_writer *w, const void *ctx, const opts *o, const mpi_ctx *m,
                     uint64_t sums[6], cnn_err *e)
{
    const cifar_set *cs = ctx;
    const size_t px = 32 * 32;
    int rc = CNN_OK;
    for (int s = m->rank; s < o->shards && rc == CNN_OK; s += m->size)
        for (int64_t i = s * cs->n / o->shards; i < (s + 1) * cs->n / o->shards && rc == CNN_OK;
             i++) {
            uint8_t *img = cs->images + (size_t)i * px * 3;
            add_stats(sums, img, px, 3);
            if (o->mode == DATA_RAW) {
                rc = pack_add(w, s, img, px * 3, cs->labels[i], 32, 32, NULL, 0, e);
                continue;
            }
            image im = {32, 32, 3, img};
            uint8_t *png = NULL;
            size_t len = 0;
            rc = image_encode_png(&im, &png, &len, e);
            if (rc == CNN_OK)
                rc = pack_add(w, s, png, len, cs->labels[i], 32, 32, NULL, 0, e);
            free(png);
        }
    return rc;
}

static int cmd_cifar(int argc, char **argv, const mpi_ctx *m, bool *usage_err, cnn_err *e)
{
    opts o;
    *usage_err = true;
    CNN_TRY(e, parse(argc, argv, &o, e));
    if (o.n_pos != 1 || !o.out || o.scene_opts || o.range[1])
        return CNN_ERR(e, CNN_EINVAL, "cifar needs DIR --out PREFIX [--split train|test] "
                       "[--fine|--coarse] (--size, --items, --count and --seed are options of "
                       "mnist-scenes, --range of mnist and mnist-scenes)");
    *usage_err = false;
    cifar_set cs;
    CNN_TRY(e, cifar_read(o.pos[0], !o.test_split, o.coarse, &cs, e));
    char source[600];
    snprintf(source, sizeof source, "cifar %s, %s split%s", o.pos[0],
             o.test_split ? "test" : "train",
             cs.n_classes == 10 ? "" : o.coarse ? ", coarse labels" : ", fine labels");
    bool raw = o.mode == DATA_RAW;
    pack_opts po = {o.out, o.shards, o.mode, DATA_CLASSIFY, raw ? 32 : 0, raw ? 32 : 0,
                    raw ? 3 : 0, source, cs.classes, cs.n_classes, m->rank, m->size};
    int rc = pack_all(&po, &o, m, cifar_add, &cs, cs.n * 32 * 32, e);
    if (rc == CNN_OK && m->rank == 0)
        printf("packed %lld CIFAR images (32x32 RGB, %d classes, %s) into %s.h5 and %d "
               "shard(s)\n", (long long)cs.n, cs.n_classes, raw ? "raw" : "PNG", o.out,
               o.shards);
    cifar_free(&cs);
    return rc;
}

static int cmd_info(int argc, char **argv, bool *usage_err, cnn_err *e)
{
    opts o;
    *usage_err = true;
    CNN_TRY(e, parse(argc, argv, &o, e));
    if (o.n_pos != 1)
        return CNN_ERR(e, CNN_EINVAL, "info needs one PATH (the master file PREFIX.h5)");
    *usage_err = false;
    int bad = 0;
    info_ctx c = {o.pos[0], 0};
    CNN_TRY(e, dataset_check(o.pos[0], o.verify, info_shard, &c, &bad, e));
    printf("checked   %s %s%s\n", o.verify ? "index and blob checksums" : "index checksums",
           bad ? "FAILED" : "ok", o.verify ? "" : " (--verify reads the blobs)");
    if (bad)
        return CNN_ERR(e, CNN_EINVAL, "dataset %s: %d of %d shard(s) are bad (listed above); "
                       "repack or restore them", o.pos[0], bad, c.n_shards);
    return CNN_OK;
}

static int dispatch(int argc, char **argv, const mpi_ctx *m, bool *usage_err, cnn_err *e)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    bool help_asked = argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || help_asked) {
        if (m->rank == 0)
            fputs(help, stdout);
        return CNN_OK;
    }
    if (!*cmd) {
        *usage_err = true;
        return CNN_ERR(e, CNN_EINVAL, "no command given");
    }
    if (strcmp(cmd, "mnist") == 0)
        return cmd_mnist(argc - 2, argv + 2, m, usage_err, e);
    if (strcmp(cmd, "mnist-scenes") == 0)
        return cmd_scenes(argc - 2, argv + 2, m, usage_err, e);
    if (strcmp(cmd, "cifar") == 0)
        return cmd_cifar(argc - 2, argv + 2, m, usage_err, e);
    if (strcmp(cmd, "info") == 0)
        return m->rank == 0 ? cmd_info(argc - 2, argv + 2, usage_err, e) : CNN_OK;
    if (strcmp(cmd, "imagefolder") == 0 || strcmp(cmd, "imagenet-val") == 0 ||
        strcmp(cmd, "segmentation") == 0) {
        pack_comm comm = {m->rank, m->size, mpi_reduce};
        int rc = pack_images_main(argc - 2, argv + 2, cmd, m->on ? &comm : NULL, e);
        /* Its usage errors are CNN_EINVAL messages that carry the command's usage line. */
        *usage_err = rc == CNN_EINVAL && strstr(e->msg, "usage: cnn-pack") != NULL;
        return rc;
    }
    *usage_err = true;
    return CNN_ERR(e, CNN_EINVAL, "unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    mpi_ctx m;
    mpi_start(&m, &argc, &argv);
    cnn_err e = {0};
    bool usage_err = false;
    int rc = dispatch(argc, argv, &m, &usage_err, &e);
    if (rc < 0 && e.msg[0])
        fprintf(stderr, "cnn-pack: error: %s\n", e.msg);
    else if (rc < 0)
        fprintf(stderr, "cnn-pack: error: packing failed on another rank (see its message)\n");
    if (usage_err && !strstr(e.msg, "usage: cnn-pack"))
        fputs(usage, stderr);
    if (m.on)
        MPI_Finalize();
    return rc == CNN_OK ? 0 : usage_err ? 2 : 1;
}
