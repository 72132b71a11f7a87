/* data-bench: the speed of src/data (issue #5, section 4) in one run on one machine.
 * 1. Loader: our loader (decode + RandomResizedCrop 224 + flip + jitter + normalize, T
 *    worker threads) over packed ImageNet-like JPEGs against torchvision's pipeline on the
 *    same files with T worker processes (bench/torch_loader.py), images/s per core: >= 2x.
 * 2. Packing: cnn-pack imagefolder (encoded, raw 224x224) and mnist, files/s per core.
 * 3. Raw reading: dataset_read over every sample against `dd bs=1M` of the shard files, page
 *    cache warm: >= 80%. The JPEGs are made once by the peer script (PIL) in a temp folder. */
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/data/data.h"
#include "bench.h"

#ifndef CNN_BENCH_DIR
#define CNN_BENCH_DIR "bench"
#endif
#ifndef CNN_PACK_EXE
#define CNN_PACK_EXE "cnn-pack"
#endif

#define LOADER_TARGET 2.0
#define READ_TARGET 0.8
#define BATCH 32
#define MAX_ROWS 20

static const char usage[] =
    "usage: data-bench [--threads T] [--images N] [--epochs E] [--rounds R] [--reps K]\n"
    "                  [--work DIR] [--fashion DIR] [--cnn-pack PATH] [--json PATH]\n"
    "                  [--check] [--no-torch] [--python PATH] [--torch-script PATH]\n"
    "  --threads T   loader workers, packing threads, peer worker processes (default: cores)\n"
    "  --images N    synthetic ~500x375 JPEGs to make (default 200)\n"
    "  --epochs E    timed loader epochs per side and round, after one untimed (default 3)\n"
    "  --rounds R    alternating loader rounds (default 2)\n"
    "  --reps K      timed passes per raw-read and dd measurement (default 5)\n"
    "  --work DIR    keep images and packed sets in DIR (default: a temp folder, removed)\n"
    "  --fashion DIR Fashion-MNIST idx files (default /usr/share/datasets/fashion-mnist)\n"
    "  --cnn-pack PATH  the cnn-pack executable (default " CNN_PACK_EXE ")\n"
    "  --json PATH   write every measurement as JSON\n"
    "  --check       exit 1 when a target is missed or a measurement fails\n"
    "  --no-torch    our side only (the JPEGs still need python3 with PIL)\n"
    "  --python, --torch-script   the peer (default /usr/bin/python3, "
    CNN_BENCH_DIR "/torch_loader.py)\n";

/* One printed and JSON row: what, value (per core where it says so), peer, ratio. */
typedef struct row {
    char what[64], unit[24];
    double ours, peer, ratio, target; /* peer/ratio/target 0: none */
    bool pass;
    char err[320];
} row;

typedef struct bench {
    bench_opts b;
    int threads, images, epochs, reps;
    const char *fashion, *pack_exe;
    char work[512];
    row rows[MAX_ROWS];
    int n_rows;
} bench;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static row *add_row(bench *B, const char *what, const char *unit, double target)
{
    CNN_ASSERT(B->n_rows < MAX_ROWS);
    row *r = &B->rows[B->n_rows++];
    *r = (row){.target = target};
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    return r;
}

static void print_row(const row *r)
{
    char peer[24] = "-", ratio[16] = "-", verdict[24] = "";
    if (r->peer > 0)
        snprintf(peer, sizeof peer, "%.1f", r->peer);
    if (r->ratio > 0)
        snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
    if (r->target > 0) /* no ratio (no peer): no verdict, but --check still fails */
        snprintf(verdict, sizeof verdict, ">=%.1f  %s", r->target,
                 r->ratio <= 0 ? "-" : r->pass ? "pass" : "FAIL");
    printf("%-42s %-9s %10.1f %10s %6s  %s\n", r->what, r->unit, r->ours, peer, ratio,
           verdict);
    if (r->err[0])
        printf("  %s\n", r->err);
    fflush(stdout);
}

/* Runs argv[0] with stdout to /dev/null (and stderr too when quiet); its exit status. */
static int run_cmd(char *const argv[], bool quiet)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            if (quiet)
                dup2(fd, STDERR_FILENO);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double median_of(double *v, int n)
{
    bench_stats s = bench_stats_of(v, n);
    return s.median;
}

/* ---- 1. packing ---- */
static void pack_imagefolder(bench *B, const char *prefix, bool raw, row *r)
{
    char src[600], thr[16];
    snprintf(src, sizeof src, "%s/jpeg", B->work);
    snprintf(thr, sizeof thr, "%d", B->threads);
    char *argv[] = {src, "--out", (char *)prefix, "--threads", thr, "--mode",
                    raw ? "raw" : "encoded", "--size", "224x224"};
    int argc = raw ? 9 : 7;
    cnn_err e = {0};
    fflush(stdout); /* its summary lines would break the table */
    int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0)
        dup2(null, STDOUT_FILENO);
    double t0 = now_s();
    int rc = pack_images_main(argc, argv, "imagefolder", NULL, &e);
    double s = now_s() - t0;
    fflush(stdout);
    if (saved >= 0 && null >= 0)
        dup2(saved, STDOUT_FILENO);
    if (saved >= 0)
        close(saved);
    if (null >= 0)
        close(null);
    if (rc < 0)
        snprintf(r->err, sizeof r->err, "cnn-pack imagefolder: %s", e.msg);
    else
        r->ours = B->images / s / B->threads;
}

static void pack_fashion(bench *B, const char *prefix, row *r)
{
    char img[600], lab[600];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte.gz", B->fashion);
    snprintf(lab, sizeof lab, "%s/train-labels-idx1-ubyte.gz", B->fashion);
    char *argv[] = {(char *)B->pack_exe, "mnist", img, lab, "--out", (char *)prefix, NULL};
    double t0 = now_s();
    int rc = run_cmd(argv, false);
    double s = now_s() - t0;
    if (rc != 0)
        snprintf(r->err, sizeof r->err, "%s mnist failed (exit %d); pass --cnn-pack PATH",
                 B->pack_exe, rc);
    else
        r->ours = 60000.0 / s; /* one thread */
}

/* ---- 2. loader ---- */
static bool batch_finite(const batch *bt, size_t per)
{
    for (size_t i = 0; i < (size_t)bt->n_valid * per; i++)
        if (bt->images[i] - bt->images[i] != 0.0f)
            return false;
    return true;
}

static int loader_epochs(bench *B, loader *ld, int64_t *epoch, double *ms, cnn_err *e)
{
    for (int k = 0; k <= B->epochs; k++, (*epoch)++) {
        double t0 = now_s();
        CNN_TRY(e, loader_start_epoch(ld, *epoch, 0, e));
        const batch *bt;
        int64_t seen = 0;
        for (;;) {
            CNN_TRY(e, loader_next(ld, &bt, e));
            if (!bt)
                break;
            seen += bt->n_valid;
            if (k == 0 && !batch_finite(bt, 3 * 224 * 224))
                return CNN_ERR(e, CNN_EINVAL, "non-finite value in batch %lld",
                               (long long)bt->step);
        }
        if (seen != B->images)
            return CNN_ERR(e, CNN_EINVAL, "an epoch gave %lld images of %d", (long long)seen,
                           B->images);
        if (k > 0) /* the first epoch warms the page cache and the workers: untimed */
            ms[k - 1] = 1e3 * (now_s() - t0);
    }
    return CNN_OK;
}

static int loader_open(bench *B, const char *prefix, dataset **ds, loader **ld, cnn_err *e)
{
    char path[600];
    snprintf(path, sizeof path, "%s.h5", prefix);
    CNN_TRY(e, dataset_open(path, false, ds, e));
    loader_opts o = {.ds = *ds, .workers = B->threads, .prefetch = 4, .channels = 3,
                     .key = rng_key_from_seed(1)};
    CNN_TRY(e, sampler_init(&o.smp, dataset_get_info(*ds)->n, BATCH, 0, 1, 1, true, false,
                            e));
    o.aug = (augment_cfg){.out_h = 224, .out_w = 224, .train = true, .scale = {0.08f, 1.0f},
                          .ratio = {3.0f / 4.0f, 4.0f / 3.0f}, .hflip = true,
                          .brightness = 0.4f, .contrast = 0.4f, .saturation = 0.4f,
                          .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
                          .channels = 3};
    return loader_create(&o, ld, e);
}

static void bench_loader(bench *B, const char *prefix, peer **p)
{
    int n = B->b.rounds * B->epochs;
    double *ours = cnn_xcalloc((size_t)n, sizeof *ours);
    double *torch = cnn_xcalloc((size_t)n, sizeof *torch);
    int n_ours = 0, n_torch = 0;
    row *r = add_row(B, "loader train aug 224 (per core)", "images/s", LOADER_TARGET);
    dataset *ds = NULL;
    loader *ld = NULL;
    cnn_err e = {0};
    int64_t epoch = 0;
    bool ok = loader_open(B, prefix, &ds, &ld, &e) == CNN_OK;
    if (!ok)
        snprintf(r->err, sizeof r->err, "ours: %s", e.msg);
    char req[900];
    snprintf(req, sizeof req, "{\"dir\": \"%s/jpeg\", \"workers\": %d, \"batch\": %d, "
             "\"epochs\": %d}", B->work, B->threads, BATCH, B->epochs);
    for (int round = 0; round < B->b.rounds; round++) {
        for (int side = 0; side < 2; side++) {
            if ((side ^ (round & 1)) == 0) {
                if (ok && (ok = loader_epochs(B, ld, &epoch, ours + n_ours, &e) == CNN_OK))
                    n_ours += B->epochs;
                else if (!r->err[0])
                    snprintf(r->err, sizeof r->err, "ours: %s", e.msg);
                continue;
            }
            bool finite = false;
            if (!*p)
                continue;
            int rc = peer_request(*p, "the loader", req, B->epochs, torch + n_torch, &finite,
                                  &e);
            if (rc < 0 || !finite) {
                snprintf(r->err, sizeof r->err, "torch: %s",
                         rc < 0 ? e.msg : "a non-finite value in a batch");
                peer_stop(*p);
                *p = NULL;
            } else
                n_torch += B->epochs;
        }
    }
    if (n_ours)
        r->ours = B->images / (median_of(ours, n_ours) / 1e3) / B->threads;
    if (n_torch)
        r->peer = B->images / (median_of(torch, n_torch) / 1e3) / B->threads;
    r->ratio = r->peer > 0 && r->ours > 0 ? r->ours / r->peer : 0;
    r->pass = r->ratio >= r->target;
    loader_destroy(ld);
    dataset_close(ds);
    free(ours);
    free(torch);
}

/* ---- 3. raw reading ---- */
typedef struct reader {
    const dataset *ds;
    int64_t lo, hi;
    int rc;
    cnn_err e;
} reader;

static void *read_range(void *arg)
{
    reader *rd = arg;
    sample_ref r;
    if (rd->lo >= rd->hi)
        return NULL;
    dataset_ref(rd->ds, rd->lo, &r);
    size_t cap = (size_t)(r.len + r.mask_len) + 1;
    uint8_t *buf = cnn_xmalloc(cap), *mask = buf + r.len;
    for (int64_t i = rd->lo; i < rd->hi && rd->rc == CNN_OK; i++)
        rd->rc = dataset_read(rd->ds, i, buf, mask, &rd->e); /* raw: all samples one size */
    free(buf);
    return NULL;
}

/* Seconds to read every sample with t threads (contiguous ranges). */
static double read_all(const dataset *ds, int t, cnn_err *e)
{
    int64_t n = dataset_get_info(ds)->n;
    reader rd[64];
    pthread_t th[64];
    t = t > 64 ? 64 : t;
    double t0 = now_s();
    for (int k = 0; k < t; k++) {
        rd[k] = (reader){ds, n * k / t, n * (k + 1) / t, CNN_OK, {0}};
        if (pthread_create(&th[k], NULL, read_range, &rd[k]) != 0)
            cnn_fatal("pthread_create failed");
    }
    int bad = -1;
    for (int k = 0; k < t; k++) {
        if (pthread_join(th[k], NULL) != 0)
            cnn_fatal("pthread_join failed");
        bad = bad < 0 && rd[k].rc ? k : bad;
    }
    double s = now_s() - t0;
    if (bad >= 0)
        *e = rd[bad].e;
    return bad >= 0 ? -1.0 : s;
}

/* dd's own seconds ("N bytes (...) copied, S s, ..." on stderr, C locale), so that
 * starting the process is not counted against it; -1 when it fails. */
static double dd_one(const char *path)
{
    char ifa[700], out[512] = "";
    snprintf(ifa, sizeof ifa, "if=%s", path);
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        setenv("LC_ALL", "C", 1);
        execl("/bin/dd", "dd", ifa, "of=/dev/null", "bs=1M", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < sizeof out && (k = read(fd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = '\0';
    close(fd[0]);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    const char *c = strstr(out, "copied, ");
    return c ? strtod(c + 8, NULL) : -1;
}

/* Seconds of dd bs=1M over every shard file; bytes of the files. */
static double dd_all(const dataset *ds, double *bytes)
{
    double sum = 0;
    *bytes = 0;
    for (int s = 0; s < dataset_get_info(ds)->n_shards; s++) {
        const char *path;
        int64_t n;
        uint32_t a, b;
        dataset_shard(ds, s, &path, &n, &a, &b);
        struct stat st;
        double t = dd_one(path);
        if (t < 0 || stat(path, &st) != 0)
            return -1;
        sum += t;
        *bytes += (double)st.st_size;
    }
    return sum;
}

/* Seconds of dd's loop in this process: pread 1 MiB at a time into one reused buffer over
 * every shard file. Unlike /bin/dd, its buffer is warm after the first call (dd faults its
 * fresh 1 MiB buffer in each run), so it is the harder reference for the cache fill. */
static double seq_all(const dataset *ds)
{
    static uint8_t buf[1 << 20];
    double t0 = now_s();
    for (int s = 0; s < dataset_get_info(ds)->n_shards; s++) {
        const char *path;
        int64_t n;
        uint32_t a, b;
        dataset_shard(ds, s, &path, &n, &a, &b);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            return -1;
        ssize_t k;
        off_t off = 0;
        while ((k = pread(fd, buf, sizeof buf, off)) > 0)
            off += k;
        close(fd);
        if (k < 0)
            return -1;
    }
    return now_s() - t0;
}

static void ratio_row(row *r, double mb_s, double dd)
{
    r->ours = mb_s;
    r->peer = dd;
    r->ratio = dd > 0 ? mb_s / dd : 0;
    r->pass = r->ratio >= r->target;
}

static void read_row(bench *B, const dataset *ds, const char *what, int t, double dd,
                     double target, double *v)
{
    const dataset_info *in = dataset_get_info(ds);
    double data = (double)in->n * in->raw_h * in->raw_w * in->raw_c;
    row *r = add_row(B, what, "MB/s", target);
    cnn_err e = {0};
    read_all(ds, t, &e);
    for (int k = 0; k < B->reps && !e.code; k++)
        v[k] = read_all(ds, t, &e);
    if (e.code) {
        snprintf(r->err, sizeof r->err, "%s", e.msg);
        return;
    }
    ratio_row(r, data / median_of(v, B->reps) / 1e6, dd);
}

/* The default open, which reads every blob whole into memory when they fit in
 * DATASET_RAM_DEFAULT; then dataset_read is a memcpy. The fill is what that open costs
 * beyond an uncached one (HDF5 metadata, index checks), medians over interleaved passes.
 * Three rows: the fill against dd (paid once per run; target 0.8 as for any raw read) and
 * against seq_all's in-process loop (no target), and a pass over every sample after the
 * open (what every epoch pays). */
static void cached_rows(bench *B, const char *path, const char *name, double dd, double seq,
                        double *v)
{
    char what[64];
    snprintf(what, sizeof what, "cache fill %s (open - uncached open)", name);
    row *ro = add_row(B, what, "MB/s", READ_TARGET);
    row *rs = add_row(B, "  same, against in-process 1M preads", "MB/s", 0);
    snprintf(what, sizeof what, "read %s, cached, 1 thread", name);
    row *rr = add_row(B, what, "MB/s", READ_TARGET);
    double *vr = cnn_xcalloc((size_t)B->reps, sizeof *vr), data = 0;
    double *vu = cnn_xcalloc((size_t)B->reps, sizeof *vu);
    cnn_err e = {0};
    bool cached = true;
    for (int k = 0; k <= B->reps && !e.code; k++) {
        dataset *ds = NULL;
        dataset_open_opts none = {false, 0, NULL};
        /* A run opens once, into memory never touched: without malloc_trim, glibc would
         * hand an open the pages the last one faulted in (for the index arrays too, so
         * both opens start alike), and hide what the first open costs. */
        malloc_trim(0);
        double t0 = now_s();
        if (dataset_open_with(path, &none, &ds, &e) < 0)
            break;
        double tu = now_s() - t0;
        dataset_close(ds);
        malloc_trim(0);
        t0 = now_s();
        if (dataset_open(path, false, &ds, &e) < 0)
            break;
        double t1 = now_s(), t = read_all(ds, 1, &e);
        const dataset_info *in = dataset_get_info(ds);
        data = (double)in->n * in->raw_h * in->raw_w * in->raw_c;
        cached = cached && in->cached;
        if (k > 0) { /* the first pass is untimed, as for dd */
            v[k - 1] = t1 - t0;
            vu[k - 1] = tu;
            vr[k - 1] = t;
        }
        dataset_close(ds);
    }
    double fill = median_of(v, B->reps) - median_of(vu, B->reps);
    if (e.code || !cached || fill <= 0)
        snprintf(ro->err, sizeof ro->err, "%s", e.code ? e.msg : !cached ? "the set was not "
                 "cached" : "the cached open was not slower than the uncached one: rerun");
    else {
        ratio_row(ro, data / fill / 1e6, dd);
        ratio_row(rs, ro->ours, seq);
        ratio_row(rr, data / median_of(vr, B->reps) / 1e6, dd);
    }
    free(vr);
    free(vu);
}

/* pread_target 0: the pread rows are shown without a verdict (tiny samples, which the
 * default open serves from memory instead). */
static void bench_read(bench *B, const char *name, const char *prefix, double pread_target)
{
    char path[600], what[64];
    snprintf(path, sizeof path, "%s.h5", prefix);
    dataset *ds = NULL;
    cnn_err e = {0};
    dataset_open_opts oo = {false, 0, NULL}; /* pread, as for a set larger than memory */
    snprintf(what, sizeof what, "dd bs=1M, %s shards", name);
    row *dd = add_row(B, what, "MB/s", 0);
    if (dataset_open_with(path, &oo, &ds, &e) < 0) {
        snprintf(dd->err, sizeof dd->err, "%s", e.msg);
        return;
    }
    double file = 0;
    double *v = cnn_xcalloc((size_t)B->reps, sizeof *v);
    dd_all(ds, &file); /* warms the page cache */
    for (int k = 0; k < B->reps; k++)
        if ((v[k] = dd_all(ds, &file)) < 0)
            snprintf(dd->err, sizeof dd->err, "/bin/dd failed on a shard of %s", path);
    dd->ours = dd->err[0] ? 0 : file / median_of(v, B->reps) / 1e6;
    snprintf(what, sizeof what, "1M preads in-process, %s shards", name);
    row *sq = add_row(B, what, "MB/s", 0);
    seq_all(ds);
    for (int k = 0; k < B->reps; k++)
        if ((v[k] = seq_all(ds)) < 0)
            snprintf(sq->err, sizeof sq->err, "reading a shard of %s failed", path);
    sq->ours = sq->err[0] ? 0 : file / median_of(v, B->reps) / 1e6;
    int ts[2] = {1, B->threads};
    for (int j = 0; j < (B->threads > 1 ? 2 : 1); j++) {
        snprintf(what, sizeof what, "pread %s, %d thread%s", name, ts[j], ts[j] > 1 ? "s" : "");
        read_row(B, ds, what, ts[j], dd->ours, pread_target, v);
    }
    dataset_close(ds);
    cached_rows(B, path, name, dd->ours, sq->ours, v);
    free(v);
}

/* ---- driver ---- */
/* Files in the class folders of dir (a --work DIR made by an earlier run). */
static int count_images(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char sub[1200];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        DIR *c = de->d_name[0] != '.' ? opendir(sub) : NULL;
        struct dirent *f;
        while (c && (f = readdir(c)))
            n += f->d_name[0] != '.';
        if (c)
            closedir(c);
    }
    if (d)
        closedir(d);
    return n;
}

static int make_images(bench *B)
{
    char dir[600], count[16];
    snprintf(dir, sizeof dir, "%s/jpeg", B->work);
    snprintf(count, sizeof count, "%d", B->images);
    struct stat st;
    if (stat(dir, &st) == 0) { /* --work DIR from an earlier run: its images, as many */
        B->images = count_images(dir);
        return B->images >= BATCH ? 0 : -1;
    }
    char *argv[] = {(char *)B->b.python, (char *)B->b.script, "--make-images", dir,
                    "--count", count, NULL};
    return run_cmd(argv, false);
}

static int write_json(const bench *B, const peer_info *pi)
{
    FILE *f = fopen(B->b.json, "w");
    if (!f) {
        fprintf(stderr, "data-bench: cannot write %s\n", B->b.json);
        return -1;
    }
    fprintf(f, "{\"bench\": \"data-bench\", \"time\": %lld, \"threads\": %d, \"images\": %d, "
            "\"epochs\": %d, \"rounds\": %d, \"reps\": %d, \"torch\": \"%s\", \"rows\": [\n",
            (long long)time(NULL), B->threads, B->images, B->epochs, B->b.rounds, B->reps,
            pi->torch);
    for (int i = 0; i < B->n_rows; i++) {
        const row *r = &B->rows[i];
        fputs("  {\"what\": ", f);
        json_str(f, r->what);
        fputs(", \"unit\": ", f);
        json_str(f, r->unit);
        fprintf(f, ", \"ours\": %.3f, \"peer\": %.3f, \"ratio\": %.4f, \"target\": %g, "
                "\"pass\": %s, \"error\": ", r->ours, r->peer, r->ratio, r->target,
                r->pass ? "true" : "false");
        json_str(f, r->err);
        fputs(i + 1 < B->n_rows ? "},\n" : "}\n", f);
    }
    fputs("]}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static void remove_tree(const char *dir)
{
    char *rm[] = {"/bin/rm", "-rf", (char *)dir, NULL};
    run_cmd(rm, false);
}

static void parse(bench *B, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        if (!strcmp(a, "--threads") && v)
            B->threads = bench_parse_int(&B->b, argv[++i], 1, a);
        else if (!strcmp(a, "--images") && v)
            B->images = bench_parse_int(&B->b, argv[++i], BATCH, a);
        else if (!strcmp(a, "--epochs") && v)
            B->epochs = bench_parse_int(&B->b, argv[++i], 1, a);
        else if (!strcmp(a, "--reps") && v)
            B->reps = bench_parse_int(&B->b, argv[++i], 1, a);
        else if (!strcmp(a, "--work") && v)
            snprintf(B->work, sizeof B->work, "%s", argv[++i]);
        else if (!strcmp(a, "--fashion") && v)
            B->fashion = argv[++i];
        else if (!strcmp(a, "--cnn-pack") && v)
            B->pack_exe = argv[++i];
        else
            bench_parse_common(argc, argv, &i, &B->b);
    }
}

/* The work folder and its JPEGs; false (and nothing left behind) when they cannot be made. */
static bool setup_work(bench *B, bool tmp)
{
    if (tmp) {
        snprintf(B->work, sizeof B->work, "/tmp/data-bench-XXXXXX");
        if (!mkdtemp(B->work)) {
            fprintf(stderr, "data-bench: cannot make a folder under /tmp\n");
            return false;
        }
    } else
        mkdir(B->work, 0755); /* or it exists; make_images says so otherwise */
    if (make_images(B) == 0)
        return true;
    fprintf(stderr, "data-bench: %s %s --make-images %s/jpeg failed (needs python3 with numpy "
            "and PIL); pass --python PATH\n", B->b.python, B->b.script, B->work);
    if (tmp)
        remove_tree(B->work);
    return false;
}

/* Every measurement, printed as it completes (the read rows once all are done). */
static void run_all(bench *B, peer **p)
{
    char enc[600], raw[600], fm[600];
    snprintf(enc, sizeof enc, "%s/enc", B->work);
    snprintf(raw, sizeof raw, "%s/raw224", B->work);
    snprintf(fm, sizeof fm, "%s/fashion", B->work);
    row *pe = add_row(B, "pack imagefolder encoded (per core)", "files/s", 0);
    pack_imagefolder(B, enc, false, pe);
    print_row(pe);
    row *pr = add_row(B, "pack imagefolder raw 224 (per core)", "files/s", 0);
    pack_imagefolder(B, raw, true, pr);
    print_row(pr);
    bool fashion = access(B->fashion, R_OK) == 0;
    if (fashion) {
        row *pm = add_row(B, "pack mnist Fashion-MNIST (1 thread)", "files/s", 0);
        pack_fashion(B, fm, pm);
        print_row(pm);
        fashion = !pm->err[0];
    }
    if (!pe->err[0]) {
        bench_loader(B, enc, p);
        print_row(&B->rows[B->n_rows - 1]);
    }
    peer_stop(*p);
    *p = NULL;
    int first = B->n_rows;
    if (!pr->err[0])
        bench_read(B, "raw 224", raw, READ_TARGET);
    if (fashion)
        bench_read(B, "Fashion-MNIST", fm, 0);
    for (int i = first; i < B->n_rows; i++)
        print_row(&B->rows[i]);
}

int main(int argc, char **argv)
{
    static bench B = {.b = {.prog = "data-bench", .usage = usage, .rounds = 2,
                            .python = "/usr/bin/python3",
                            .script = CNN_BENCH_DIR "/torch_loader.py"},
                      .images = 200, .epochs = 3, .reps = 5,
                      .fashion = "/usr/share/datasets/fashion-mnist",
                      .pack_exe = CNN_PACK_EXE};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    B.threads = cores > 0 ? (int)cores : 1;
    parse(&B, argc, argv);
    bool tmp = !B.work[0];
    if (!setup_work(&B, tmp))
        return 1;
    printf("data-bench: %d threads, %d JPEGs (~500x375) in %s, batch %d, %d rounds x %d "
           "epochs per side\n", B.threads, B.images, B.work, BATCH, B.b.rounds, B.epochs);
    peer *p = NULL;
    peer_info pi = {0};
    cnn_err e = {0};
    if (!B.b.no_torch && peer_start(B.b.python, B.b.script, 1, false, &p, &pi, &e) < 0)
        printf("data-bench: PyTorch peer unavailable: %s\n", e.msg);
    if (p)
        printf("data-bench: peer PyTorch %s, torchvision %s, 1 thread per process\n",
               pi.torch, pi.onednn);
    printf("%-42s %-9s %10s %10s %6s  %s\n", "measurement", "unit", "ours", "peer", "ratio",
           "target");
    run_all(&B, &p);
    int bad = 0;
    for (int i = 0; i < B.n_rows; i++)
        bad += (B.rows[i].target > 0 && !B.rows[i].pass) || B.rows[i].err[0];
    int rc = B.b.check && bad ? 1 : 0;
    if (B.b.json && write_json(&B, &pi) < 0)
        rc = 1;
    if (tmp)
        remove_tree(B.work);
    return rc;
}
