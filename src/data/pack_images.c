/* cnn-pack's image commands (pack_images_main, data.h): imagefolder, imagenet-val and
 * segmentation. Parses the options, lists the files (image_scan.c, pack_labels.c), packs
 * them on --threads workers in dataset order (pack_run.c, pack_sample.c) into the shard
 * writer, and computes the channel mean/std: raw mode over every packed pixel; encoded mode
 * over a full decode of every k-th file (at most 1000 files), the others only validated by
 * a scaled decode. Unreadable files: one line each and a total, or with --strict the run
 * fails and pack_abort leaves no output file. Under MPI (pack_comm) every rank lists the
 * same files, packs only the files of its shards, and the ranks agree after every step
 * that can fail, so one rank's failure leaves no file; integer sums make the mean/std, and
 * so every byte written, the same as one process's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pack_images_impl.h"

#define PACK_STATS_FILES 1000

typedef struct args {
    const char *pos[2];
    int npos;
    const char *out, *classes_from;
    pack_cfg c;
} args;

/* Counts summed over the ranks (uint64_t only: reduced as one array). */
typedef struct tally {
    uint64_t packed, skipped, stats_files, px, sum[3], sq[3];
} tally;

typedef struct packer {
    const pack_cfg *c;
    const pack_list *l;
    const pack_comm *m;
    pack_writer *w;
    int64_t *mine, n_mine; /* the files of this rank's shards, ascending */
    int64_t stride;
    tally t;
    int32_t max_id;
    pack_progress prog;
} packer;

static const char *usage(const char *cmd)
{
    if (!strcmp(cmd, "imagenet-val"))
        return "usage: cnn-pack imagenet-val SRC LABELS --out PREFIX [--classes-from "
               "TRAIN.h5] [--shards N] [--mode encoded|raw] [--resize S] [--size HxW] "
               "[--strict] [--threads T]";
    if (!strcmp(cmd, "segmentation"))
        return "usage: cnn-pack segmentation IMAGES MASKS --out PREFIX [--shards N] [--mode "
               "encoded|raw] [--resize S] [--size HxW] [--strict] [--threads T]";
    return "usage: cnn-pack imagefolder SRC --out PREFIX [--shards N] [--mode encoded|raw] "
           "[--resize S] [--size HxW] [--strict] [--threads T]";
}

static int bad(cnn_err *e, const char *cmd, const char *what, const char *val)
{
    return CNN_ERR(e, CNN_EINVAL, "%s %s\n%s", what, val ? val : "", usage(cmd));
}

static int parse_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out,
                     cnn_err *e)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi)
        return CNN_ERR(e, CNN_EINVAL, "%s %s: expected an integer in [%d, %d]\n%s", opt,
                       v ? v : "(missing)", lo, hi, usage(cmd));
    *out = (int)x;
    return CNN_OK;
}

static int parse_opt(const char *cmd, const char *opt, const char *v, args *a, cnn_err *e)
{
    if (!strcmp(opt, "--out") && v && *v)
        a->out = v;
    else if (!strcmp(opt, "--classes-from") && v && *v && !strcmp(cmd, "imagenet-val"))
        a->classes_from = v;
    else if (!strcmp(opt, "--shards"))
        return parse_int(cmd, opt, v, 1, 99999, &a->c.shards, e);
    else if (!strcmp(opt, "--resize"))
        return parse_int(cmd, opt, v, 1, 65535, &a->c.resize, e);
    else if (!strcmp(opt, "--threads"))
        return parse_int(cmd, opt, v, 1, 1024, &a->c.threads, e);
    else if (!strcmp(opt, "--mode") && v && (!strcmp(v, "encoded") || !strcmp(v, "raw")))
        a->c.mode = !strcmp(v, "raw") ? DATA_RAW : DATA_ENCODED;
    else if (!strcmp(opt, "--size") && v) {
        char *x, *end;
        long h = strtol(v, &x, 10), w = *x == 'x' ? strtol(x + 1, &end, 10) : 0;
        if (*x != 'x' || *end || h < 1 || w < 1 || h > 16384 || w > 16384)
            return bad(e, cmd, "--size expects HxW, e.g. 224x224; got", v);
        a->c.size_h = (int)h;
        a->c.size_w = (int)w;
    } else
        return bad(e, cmd, v ? "bad option or value:" : "option needs a value:", opt);
    return CNN_OK;
}

static bool takes_value(const char *opt)
{
    static const char *const with[] = {"--out",  "--shards",  "--mode",        "--resize",
                                       "--size", "--threads", "--classes-from"};
    for (size_t i = 0; i < sizeof with / sizeof *with; i++)
        if (!strcmp(opt, with[i]))
            return true;
    return false;
}

static int check_args(const char *cmd, int want_pos, args *a, cnn_err *e)
{
    if (a->npos != want_pos)
        return CNN_ERR(e, CNN_EINVAL, "%s needs %d path%s before the options, got %d\n%s",
                       cmd, want_pos, want_pos > 1 ? "s" : "", a->npos, usage(cmd));
    if (!a->out)
        return CNN_ERR(e, CNN_EINVAL, "no --out PREFIX given\n%s", usage(cmd));
    if (a->c.mode == DATA_RAW && !a->c.size_h)
        return CNN_ERR(e, CNN_EINVAL, "--mode raw stores every image at one size: add --size "
                       "HxW\n%s", usage(cmd));
    if (a->c.mode == DATA_ENCODED && a->c.size_h)
        return CNN_ERR(e, CNN_EINVAL, "--size applies to --mode raw; encoded mode keeps each "
                       "image's size (use --resize S to shrink the shorter side)\n%s",
                       usage(cmd));
    int big = a->c.size_h > a->c.size_w ? a->c.size_h : a->c.size_w;
    if (a->c.mode == DATA_RAW && a->c.resize && a->c.resize < big)
        return CNN_ERR(e, CNN_EINVAL, "--resize %d is smaller than the --size %dx%d crop; use "
                       "--resize >= %d or leave it out", a->c.resize, a->c.size_h,
                       a->c.size_w, big);
    return CNN_OK;
}

static int parse_args(int argc, char **argv, const char *cmd, int want_pos, args *a,
                      cnn_err *e)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *a = (args){.c = {.shards = 1, .threads = cpus > 0 ? (int)(cpus < 64 ? cpus : 64) : 1,
                      .mode = DATA_ENCODED, .progress = isatty(2) == 1}};
    a->c.task = !strcmp(cmd, "segmentation") ? DATA_SEGMENT : DATA_CLASSIFY;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) != 0) {
            if (a->npos == want_pos)
                return bad(e, cmd, "unexpected argument", arg);
            a->pos[a->npos++] = arg;
        } else if (!strcmp(arg, "--strict")) {
            a->c.strict = true;
        } else if (eq) {
            char opt[32];
            snprintf(opt, sizeof opt, "%.*s", (int)(eq - arg), arg);
            CNN_TRY(e, parse_opt(cmd, opt, eq + 1, a, e));
        } else if (takes_value(arg)) {
            CNN_TRY(e, parse_opt(cmd, arg, i + 1 < argc ? argv[++i] : NULL, a, e));
        } else {
            return bad(e, cmd, "unknown option", arg);
        }
    }
    return check_args(cmd, want_pos, a, e);
}

static void reduce(const pack_comm *m, void *buf, int n, pack_op op)
{
    if (m && m->world > 1)
        m->reduce(buf, n, op);
}

/* Every rank learns whether all succeeded; a failing rank keeps its own code and message,
 * the others get the smallest code with no message (cnn-pack names the other rank). */
static int agree(const pack_comm *m, int rc)
{
    int32_t all = rc;
    reduce(m, &all, 1, PACK_MIN_I32);
    return rc < 0 ? rc : all;
}

static int shard_of(const packer *p, int64_t i)
{
    return (int)(i * p->c->shards / p->l->n); /* contiguous runs in dataset order */
}

/* The files of the shards s % world == rank: every rank decodes only its own. */
static void my_files(packer *p)
{
    int rank = p->m ? p->m->rank : 0, world = p->m && p->m->world > 0 ? p->m->world : 1;
    p->mine = cnn_xmalloc((size_t)(p->l->n ? p->l->n : 1) * sizeof *p->mine);
    p->n_mine = 0;
    for (int64_t i = 0; i < p->l->n; i++)
        if (shard_of(p, i) % world == rank)
            p->mine[p->n_mine++] = i;
}

static void work_sample(void *ctx, int64_t k, pack_sample *s)
{
    packer *p = ctx;
    int64_t i = p->mine[k];
    bool full = p->c->mode == DATA_RAW || i % p->stride == 0; /* global index: any world */
    pack_sample_make(p->c, &p->l->items[i], full, s);
}

static int take_sample(void *ctx, int64_t k, pack_sample *s, cnn_err *e)
{
    packer *p = ctx;
    int64_t i = p->mine[k];
    pack_progress_tick(&p->prog, k);
    if (s->rc < 0 && p->c->strict)
        return CNN_ERR(e, s->rc, "%s\n--strict: stopping at the first unreadable file; no "
                       "output was written", s->msg);
    if (s->rc < 0) {
        fprintf(stderr, "%sskipping %s\n", p->prog.on ? "\r" : "", s->msg);
        p->t.skipped++;
        return CNN_OK;
    }
    const pack_item *it = &p->l->items[i];
    int rc = pack_add(p->w, shard_of(p, i), s->img, s->len, it->label, s->h, s->w, s->mask,
                      s->mask_len, e);
    if (rc < 0) {
        cnn_err_prefix(e, "adding %s: ", it->path);
        return rc;
    }
    if (s->stats) {
        for (int c = 0; c < 3; c++) {
            p->t.sum[c] += s->sum[c];
            p->t.sq[c] += s->sq[c];
        }
        p->t.px += s->px;
        p->t.stats_files++;
    }
    p->t.packed++;
    return CNN_OK;
}

static void work_mask(void *ctx, int64_t k, pack_sample *s)
{
    packer *p = ctx;
    pack_sample_mask_ids(&p->l->items[p->mine[k]], s);
}

static int take_mask(void *ctx, int64_t k, pack_sample *s, cnn_err *e)
{
    packer *p = ctx;
    (void)e;
    pack_progress_tick(&p->prog, k);
    p->max_id = s->max_id > p->max_id ? s->max_id : p->max_id;
    return CNN_OK;
}

/* Segmentation: the classes are 0..max id (255 = ignore), read from every mask first
 * because the writer records them in each shard; each rank reads its own masks. */
static int mask_classes(packer *p, pack_list *l, cnn_err *e)
{
    p->max_id = -1;
    pack_progress_init(&p->prog, p->c->progress && (!p->m || p->m->rank == 0), p->n_mine,
                       "reading masks");
    int rc = agree(p->m, pack_run(p->n_mine, p->c->threads, work_mask, take_mask, p, e));
    pack_progress_end(&p->prog, p->n_mine);
    CNN_TRY(e, rc);
    reduce(p->m, &p->max_id, 1, PACK_MAX_I32);
    l->n_classes = p->max_id + 1 > 0 ? p->max_id + 1 : 1;
    l->classes = cnn_xcalloc((size_t)l->n_classes, sizeof *l->classes);
    for (int c = 0; c < l->n_classes; c++) {
        char b[16];
        snprintf(b, sizeof b, "%d", c);
        l->classes[c] = cnn_xstrdup(b);
    }
    return CNN_OK;
}

static void mean_std(const tally *t, float mean[3], float std[3])
{
    for (int c = 0; c < 3; c++) {
        double n = t->px ? (double)t->px : 1, m = (double)t->sum[c] / n;
        double var = (double)t->sq[c] / n - m * m;
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
    }
}

static void report(const packer *p, const args *a, const char *cmd, const float mean[3],
                   const float std[3], double secs)
{
    const tally *t = &p->t;
    if (t->skipped)
        fprintf(stderr, "cnn-pack: skipped %llu unreadable of %lld files (listed above)\n",
                (unsigned long long)t->skipped, (long long)p->l->n);
    if (p->l->ignored)
        fprintf(stderr, "cnn-pack: ignored %lld files without a .jpg, .jpeg or .png "
                "extension\n", (long long)p->l->ignored);
    int world = p->m && p->m->world > 1 ? p->m->world : 1;
    printf("%s: packed %llu images, %d classes, %s mode, into %s.h5 (%d shard%s) in %.1f s "
           "(%.0f files/s, %d threads x %d process%s)\n", cmd, (unsigned long long)t->packed,
           p->l->n_classes, a->c.mode == DATA_RAW ? "raw" : "encoded", a->out, a->c.shards,
           a->c.shards > 1 ? "s" : "", secs, (double)p->l->n / (secs > 1e-9 ? secs : 1e-9),
           a->c.threads, world, world > 1 ? "es" : "");
    char over[96];
    if (a->c.mode == DATA_RAW)
        snprintf(over, sizeof over, "every packed pixel");
    else
        snprintf(over, sizeof over, "a full decode of %llu of %llu files, one in %lld",
                 (unsigned long long)t->stats_files, (unsigned long long)t->packed,
                 (long long)p->stride);
    printf("mean %.4f %.4f %.4f  std %.4f %.4f %.4f  (RGB in [0, 1], over %s)\n", mean[0],
           mean[1], mean[2], std[0], std[1], std[2], over);
}

static int scan(const char *cmd, const args *a, pack_list *l, cnn_err *e)
{
    if (!strcmp(cmd, "imagefolder"))
        return scan_imagefolder(a->pos[0], l, e);
    if (!strcmp(cmd, "imagenet-val"))
        return scan_imagenet_val(a->pos[0], a->pos[1], a->classes_from, l, e);
    return scan_segmentation(a->pos[0], a->pos[1], l, e);
}

/* Seal, agree, rename, agree; rank 0 writes the master from every rank's shard info. */
static int finish(packer *p, cnn_err *e)
{
    int shards = p->c->shards;
    pack_shard_info *info = cnn_xcalloc((size_t)shards, sizeof *info);
    int rc = agree(p->m, pack_seal(p->w, info, e));
    if (rc == CNN_OK)
        rc = agree(p->m, pack_rename_shards(p->w, e));
    /* Entries of the shards a rank does not own are zero, so an or gathers them. */
    _Static_assert(sizeof *info % 4 == 0, "pack_shard_info is reduced as uint32 words");
    if (rc == CNN_OK)
        reduce(p->m, info, shards * (int)(sizeof *info / 4), PACK_BOR_U32);
    float mean[3], std[3];
    mean_std(&p->t, mean, std);
    bool master = !p->m || p->m->rank == 0;
    if (rc == CNN_OK)
        rc = agree(p->m, master ? pack_write_master(p->w, info, mean, std, e) : CNN_OK);
    free(info);
    if (rc == CNN_OK)
        pack_close(p->w);
    else
        pack_abort(p->w);
    return rc;
}

static int pack_list_run(const char *cmd, const args *a, pack_list *l, const pack_comm *m,
                         cnn_err *e)
{
    packer p = {.c = &a->c, .l = l, .m = m};
    p.stride = (l->n + PACK_STATS_FILES - 1) / PACK_STATS_FILES;
    bool talk = !m || m->rank == 0;
    my_files(&p);
    int rc = a->c.task == DATA_SEGMENT ? mask_classes(&p, l, e) : CNN_OK;
    char source[256];
    snprintf(source, sizeof source, "%s %s%s%s", cmd, a->pos[0], a->npos > 1 ? " " : "",
             a->npos > 1 ? a->pos[1] : "");
    pack_opts o = {.prefix = a->out, .n_shards = a->c.shards, .mode = a->c.mode,
                   .task = a->c.task, .raw_h = a->c.size_h, .raw_w = a->c.size_w,
                   .raw_c = a->c.mode == DATA_RAW ? 3 : 0, .source = source,
                   .classes = l->classes, .n_classes = l->n_classes,
                   .rank = m ? m->rank : 0, .world = m ? m->world : 0};
    if (rc == CNN_OK) {
        int own = pack_open(&o, &p.w, e);
        rc = agree(m, own);
        if (own == CNN_OK && rc < 0)
            pack_abort(p.w); /* another rank could not open */
    }
    double t0 = pack_now();
    pack_progress_init(&p.prog, a->c.progress && talk, p.n_mine, "packing");
    if (rc == CNN_OK) {
        rc = agree(m, pack_run(p.n_mine, a->c.threads, work_sample, take_sample, &p, e));
        pack_progress_end(&p.prog, rc == CNN_OK ? p.n_mine : (int64_t)(p.t.packed +
                                                                        p.t.skipped));
        reduce(m, &p.t, (int)(sizeof p.t / sizeof(uint64_t)), PACK_SUM_U64);
        if (rc == CNN_OK && p.t.packed == 0)
            rc = CNN_ERR(e, CNN_EINVAL, "none of the %lld files could be read; nothing to "
                         "pack", (long long)l->n);
        if (rc == CNN_OK)
            rc = finish(&p, e); /* frees the writer */
        else
            pack_abort(p.w);
    }
    if (rc == CNN_OK && talk) {
        float mean[3], std[3];
        mean_std(&p.t, mean, std);
        report(&p, a, cmd, mean, std, pack_now() - t0);
    }
    free(p.mine);
    return rc;
}

int pack_images_main(int argc, char **argv, const char *cmd, const pack_comm *comm,
                     cnn_err *e)
{
    int want_pos = !strcmp(cmd, "imagefolder") ? 1 : 2;
    if (strcmp(cmd, "imagefolder") && strcmp(cmd, "imagenet-val") && strcmp(cmd, "segmentation"))
        return CNN_ERR(e, CNN_EINVAL, "pack_images_main: unknown command '%s'; use "
                       "imagefolder, imagenet-val or segmentation", cmd);
    CNN_ASSERT(!comm || (comm->world >= 1 && comm->rank >= 0 && comm->rank < comm->world &&
                         comm->reduce));
    args a;
    CNN_TRY(e, agree(comm, parse_args(argc, argv, cmd, want_pos, &a, e)));
    pack_list l;
    int rc = scan(cmd, &a, &l, e); /* the same sorted list on every rank */
    int all = agree(comm, rc);
    if (all < 0) {
        if (rc == CNN_OK)
            pack_list_free(&l);
        return all;
    }
    rc = pack_list_run(cmd, &a, &l, comm, e);
    pack_list_free(&l);
    return rc;
}
