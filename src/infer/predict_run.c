/* cnn-dist predict over ranks: the files (the same list on every rank) go in chunks of
 * --batch; in round k rank r takes chunk k * ranks + r, decodes and transforms its images on
 * its threads, runs the forward pass and formats each image's output; rank 0 gathers the
 * round's text of every rank and prints it in rank order, which is input order, so the
 * output streams while the job runs. A file that cannot be predicted gets one error line
 * on stderr and an {"file", "error"} line where its prediction would stand; the others go
 * on; the exit status is 1 when any failed. A dense model
 * takes each whole image, reflect-padded to its size multiple; consecutive images of the
 * same padded size share a forward pass. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/io.h"
#include "infer_impl.h"

typedef struct slot {
    input_image in;
    int64_t H, W;   /* the padded size (dense) */
    float *x;       /* (C, H, W) the network input */
    float *clean;   /* denoise with noise: the clean input, padded likewise */
} slot;

typedef struct run {
    const infer_args *a;
    pmodel m;
    file_list files;
    int threads, failed;
    rng_key noise_key;
} run;

static int64_t reflect(int64_t i, int64_t n)
{
    if (n == 1)
        return 0;
    int64_t p = 2 * n - 2;
    i %= p;
    return i < n ? i : p - i;
}

/* (C, h, w) into (C, H, W), the border mirrored (numpy's 'reflect'), as in place of the
 * zero padding convolutions would see at an image's edge. */
static float *pad_planes(const float *src, int C, int h, int w, int64_t H, int64_t W)
{
    float *dst = cnn_xmalloc((size_t)(C * H * W) * sizeof *dst);
    for (int c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                dst[(c * H + y) * W + x] = src[((int64_t)c * h + reflect(y, h)) * w +
                                               reflect(x, w)];
    return dst;
}

static int64_t round_up(int64_t v, int m) { return (v + m - 1) / m * m; }

/* Reads, decodes and transforms file i into s (on a worker thread). */
static void prepare(const run *r, int i, slot *s)
{
    const pmodel *m = &r->m;
    input_read(&r->files, i, m->C, &s->in);
    if (s->in.err[0])
        return;
    augment_cfg aug = m->aug;
    const image *im = &s->in.im;
    if (m->task != TASK_CLASSIFY) { /* the whole image */
        aug.out_h = im->h;
        aug.out_w = im->w;
        aug.resize = im->h < im->w ? im->h : im->w;
        aug.noise_std = r->a->noise_std > 0 ? (float)r->a->noise_std : 0;
    }
    size_t n = (size_t)aug.out_h * (size_t)aug.out_w * (size_t)m->C;
    float *x = cnn_xmalloc(n * sizeof *x), *clean = NULL;
    if (aug.noise_std > 0)
        clean = cnn_xmalloc(n * sizeof *clean);
    augment_sample(&aug, rng_fold(r->noise_key, (uint64_t)i), im, NULL, x, NULL, clean);
    if (m->task == TASK_CLASSIFY) {
        s->H = aug.out_h;
        s->W = aug.out_w;
        s->x = x;
        return;
    }
    s->H = round_up(im->h, m->mult_h);
    s->W = round_up(im->w, m->mult_w);
    s->x = pad_planes(x, m->C, im->h, im->w, s->H, s->W);
    s->clean = clean ? pad_planes(clean, m->C, im->h, im->w, s->H, s->W) : NULL;
    free(x);
    free(clean);
}

static void slot_free(slot *s)
{
    image_free(&s->in.im);
    free(s->x);
    free(s->clean);
    *s = (slot){0};
}

/* The model's output of the last forward pass as f32 NCHW on the host. */
static float *download_output(pmodel *m)
{
    const tensor *out = net_output(m->n);
    float *h = cnn_xmalloc((size_t)tensor_numel(out) * sizeof *h);
    if (out->dt == DTYPE_F32 && out->lay == LAYOUT_NCHW) {
        backend_download(m->be, out, h);
        return h;
    }
    tensor t = tensor_view(NULL, out->s, DTYPE_F32, m->be->ops->dev);
    cnn_err e = {0};
    if (backend_alloc_tensor(m->be, &t, &e) < 0)
        cnn_fatal("the model's output in f32: %s", e.msg);
    m->be->ops->convert(m->be, out, &t, 0.0f);
    backend_download(m->be, &t, h);
    backend_free_tensor(m->be, &t);
    return h;
}

/* A file that could not be predicted: its line on stderr (msg names it) and, so that the
 * output keeps one line per input, {"file": ..., "error": ...} where its prediction would
 * stand. */
static void failed(run *r, const char *file, const char *msg, FILE *out, FILE *err)
{
    bool named = strstr(msg, file) != NULL;
    fprintf(err, "cnn-dist predict: %s%s%s\n", named ? "" : file, named ? "" : ": ", msg);
    fputs("{\"file\": ", out);
    json_write_str(out, file);
    fputs(", \"error\": ", out);
    json_write_str(out, msg);
    fputs("}\n", out);
    r->failed++;
}

/* One forward pass over slots[k] for k in idx (n of them, one input size). */
static void forward(run *r, slot *slots, const int *idx, int n, int first, FILE *out,
                    FILE *err)
{
    pmodel *m = &r->m;
    int batch = m->task == TASK_CLASSIFY ? m->batch : n;
    cnn_err se = {0};
    if (pmodel_resize(m, batch, slots[idx[0]].H, slots[idx[0]].W, &se) < 0) {
        for (int k = 0; k < n; k++) /* a size the model cannot take: these files only */
            failed(r, r->files.path[first + idx[k]], se.msg, out, err);
        if (!m->n) /* rebuild the net of the next group from scratch */
            m->batch = m->h = m->w = 0;
        return;
    }
    int64_t per = shape_inner(&m->n->in_shape, 1);
    float *x = cnn_xcalloc((size_t)(m->batch * per), sizeof *x);
    for (int k = 0; k < n; k++)
        memcpy(x + k * per, slots[idx[k]].x, (size_t)per * sizeof *x);
    backend_upload(m->be, &m->n->input, x);
    free(x);
    exec ex = {.be = m->be, .training = false, .reduce_ranks = 1};
    net_forward(m->n, &ex, false);
    float *y = download_output(m);
    const shape *os = &net_output(m->n)->s;
    int64_t out_per = shape_inner(os, 1), H = os->nd == 4 ? os->d[2] : 1,
            W = os->nd == 4 ? os->d[3] : 1;
    for (int k = 0; k < n; k++) {
        slot *s = &slots[idx[k]];
        int i = first + idx[k];
        predict_item it = {.file = r->files.path[i], .stem = r->files.stem[i],
                           .src = &s->in.im, .out = y + k * out_per, .H = H, .W = W,
                           .h = s->in.im.h, .w = s->in.im.w, .clean = s->clean,
                           .noisy = s->clean ? s->x : NULL};
        cnn_err ie = {0};
        if (output_item(m, r->a, &it, out, &ie) < 0)
            failed(r, it.file, ie.msg, out, err);
    }
    free(y);
}

/* Chunk [first, first + count) of the files: this rank's share of one round. */
static void chunk(run *r, int first, int count, FILE *out, FILE *err)
{
    slot *slots = cnn_xcalloc((size_t)count, sizeof *slots);
#pragma omp parallel for schedule(dynamic) num_threads(r->threads)
    for (int k = 0; k < count; k++)
        prepare(r, first + k, &slots[k]);
    int *idx = cnn_xmalloc((size_t)count * sizeof *idx), n = 0;
    for (int k = 0; k <= count; k++) {
        /* a group ends at a new input size (dense models), an error line, or the end */
        bool flush = k == count || slots[k].in.err[0] ||
                     (n && (slots[k].H != slots[idx[0]].H || slots[k].W != slots[idx[0]].W));
        if (flush && n)
            forward(r, slots, idx, n, first, out, err);
        if (flush)
            n = 0;
        if (k < count && slots[k].in.err[0]) {
            failed(r, r->files.path[first + k], slots[k].in.err, out, err);
        } else if (k < count) {
            idx[n++] = k;
        }
    }
    for (int k = 0; k < count; k++)
        slot_free(&slots[k]);
    free(slots);
    free(idx);
}

/* Rank 0 prints the round's lines of every rank, in rank (= input) order. */
static void emit(comm *c, const text_buf *out, const text_buf *err, FILE *jsonl)
{
    char *all_out = comm_gather_bytes(c, out->s, out->len, 0, NULL, "predictions");
    char *all_err = comm_gather_bytes(c, err->s, err->len, 0, NULL, "prediction errors");
    if (all_out) {
        fputs(all_out, stdout);
        fflush(stdout);
        if (jsonl)
            fputs(all_out, jsonl);
        fputs(all_err, stderr);
    }
    free(all_out);
    free(all_err);
}

static int check_task(const run *r, cnn_err *e)
{
    if (r->m.task != TASK_CLASSIFY && !r->a->out_dir)
        return CNN_ERR(e, CNN_EINVAL, "the model is a %s: its outputs are images; give the "
                       "folder for them with --out DIR",
                       r->m.task == TASK_SEGMENT ? "segmenter" : "denoiser");
    if (r->m.task == TASK_SEGMENT && r->m.classes > 256)
        return CNN_ERR(e, CNN_EINVAL, "the model has %d classes; masks are 8-bit PNGs of class "
                       "ids (256 at most)", r->m.classes);
    if (r->a->noise_std > 0 && r->m.task != TASK_DENOISE)
        return CNN_ERR(e, CNN_EINVAL, "--noise-std is for denoisers, and this model is a %s",
                       r->m.task == TASK_SEGMENT ? "segmenter" : "classifier");
    return CNN_OK;
}

static void rounds(run *r, comm *c, FILE *jsonl)
{
    int world = comm_size(c), rank = comm_rank(c), n = r->files.n, B = r->a->batch;
    int chunks = (n + B - 1) / B;
    for (int k = 0; k * world < chunks; k++) {
        int ch = k * world + rank, first = ch * B;
        text_buf out, err;
        text_open(&out);
        text_open(&err);
        if (ch < chunks)
            chunk(r, first, n - first < B ? n - first : B, out.f, err.f);
        text_close(&out);
        text_close(&err);
        emit(c, &out, &err, jsonl);
        free(out.s);
        free(err.s);
    }
}

static int open_jsonl(const run *r, FILE **f, char **tmp, cnn_err *e)
{
    char dir[4200], path[4200];
    snprintf(dir, sizeof dir, "%s/", r->a->out_dir);
    CNN_TRY(e, io_mkdir_parents(dir, e));
    struct stat st;
    if (stat(r->a->out_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return CNN_ERR(e, CNN_EINVAL, "--out %s is not a folder", r->a->out_dir);
    snprintf(path, sizeof path, "%s/predictions.jsonl", r->a->out_dir);
    *tmp = io_tmp_name(path, "");
    if (!(*f = fopen(*tmp, "w")))
        return CNN_ERR(e, CNN_EIO, "cannot write %s: %s", *tmp, strerror(errno));
    return CNN_OK;
}

static int close_jsonl(const run *r, FILE *f, char *tmp, cnn_err *e)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/predictions.jsonl", r->a->out_dir);
    int rc = CNN_OK;
    if (fclose(f) != 0) {
        rc = CNN_ERR(e, CNN_EIO, "writing %s: %s", tmp, strerror(errno));
        remove(tmp);
    } else {
        rc = io_file_commit(tmp, path, e);
    }
    free(tmp);
    return rc;
}

int predict_run(const infer_args *a, comm *c, cnn_err *e)
{
    run r = {.a = a};
    int rc = pmodel_open(a, c, &r.m, e);
    if (rc == CNN_OK)
        rc = check_task(&r, e);
    FILE *jsonl = NULL;
    char *tmp = NULL;
    if (rc == CNN_OK && a->out_dir && comm_rank(c) == 0)
        rc = open_jsonl(&r, &jsonl, &tmp, e);
    if (comm_agree(c, rc) < 0 && rc == CNN_OK)
        rc = CNN_ERR(e, CNN_ESTATE, "another rank failed to start (see its message)");
    if (rc == CNN_OK) {
        r.threads = train_threads(&r.m.rc, c);
        r.noise_key = rng_fold_str(rng_key_from_seed((uint64_t)r.m.rc.seed), "predict noise");
        input_list(a->inputs, a->n_inputs, &r.files);
        comm_set_phase(c, "predict");
        rounds(&r, c, jsonl);
        int64_t failed = r.failed;
        comm_allreduce_sum_i64(c, &failed, 1, "predict failures");
        if (jsonl && rc == CNN_OK)
            rc = close_jsonl(&r, jsonl, tmp, e);
        else if (jsonl)
            close_jsonl(&r, jsonl, tmp, NULL);
        jsonl = NULL;
        if (comm_agree(c, rc) < 0 && rc == CNN_OK)
            rc = CNN_ERR(e, CNN_ESTATE, "another rank failed (see its message)");
        if (rc == CNN_OK && failed) /* said once, by rank 0 */
            rc = CNN_ERR(e, comm_rank(c) ? CNN_ESTATE : CNN_EIO, "%lld of %d files could not "
                         "be predicted (named above)", (long long)failed, r.files.n);
        input_list_free(&r.files);
    }
    if (jsonl) {
        fclose(jsonl);
        remove(tmp);
        free(tmp);
    }
    pmodel_close(&r.m);
    return rc;
}
