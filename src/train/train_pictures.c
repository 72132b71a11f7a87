/* What a run shows, on rank 0 (trainer_impl.h): at every evaluation and at the end,
 * curves.png (from metrics.jsonl, so a resumed run draws its whole history), filters.png
 * (the first convolution: the first 4-D weight of the state_dict), samples.png (the first
 * eight validation samples through the evaluation transform, run through the net in
 * evaluation mode on rank 0 alone) and, at the end of a classifier's run, confusion.png;
 * and TensorBoard's event file with the scalars of metrics.jsonl and those pictures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "../io/io.h"
#include "../viz/viz.h"
#include "trainer_impl.h"

#define SAMPLES 8
#define TILE 128

typedef struct pictures {
    bool on;          /* log.pictures, with cairo */
    tb_writer *tb;    /* log.tensorboard */
    bool warned;
    int n;            /* fixed samples */
    float *x;         /* (n, C, H, W) normalized network inputs */
    int32_t *labels;  /* (n) classes or (n, H, W) masks */
    float *clean;     /* denoise: (n, C, H, W) */
} pictures;

static double now_wall(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

static void warn_once(trainer *t, const cnn_err *e)
{
    if (!t->pics->warned)
        log_warn("%s (the run goes on; further picture errors are not shown)", e->msg);
    t->pics->warned = true;
}

static int load_samples(trainer *t, cnn_err *e)
{
    pictures *p = t->pics;
    const shape *in = &t->n->in_shape;
    int64_t per = shape_inner(in, 1), hw = in->d[2] * in->d[3];
    p->n = (int)(dataset_get_info(t->val.ds)->n < SAMPLES ? dataset_get_info(t->val.ds)->n
                                                          : SAMPLES);
    p->x = cnn_xcalloc((size_t)(p->n * per), sizeof *p->x);
    p->labels = cnn_xcalloc((size_t)(p->n * (t->task == TASK_SEGMENT ? hw : 1)),
                            sizeof *p->labels);
    augment_cfg aug = t->val_aug;
    if (t->task == TASK_DENOISE)
        p->clean = cnn_xcalloc((size_t)(p->n * per), sizeof *p->clean);
    else
        aug.noise_std = 0;
    rng_key key = rng_fold_str(t->root, "pictures");
    for (int i = 0; i < p->n; i++)
        CNN_TRY(e, loader_sample(t->val.ds, &aug, (int)in->d[1], i, rng_fold(key, (uint64_t)i),
                                 p->x + i * per,
                                 p->labels + i * (t->task == TASK_SEGMENT ? hw : 1),
                                 p->clean ? p->clean + i * per : NULL, e));
    return CNN_OK;
}

int trainer_pictures_setup(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    int r = CNN_OK;
    if (t->rank == 0 && (rc->log.pictures || rc->log.tensorboard)) {
        pictures *p = t->pics = cnn_xcalloc(1, sizeof *p);
        p->on = rc->log.pictures && viz_available();
        if (rc->log.pictures && !viz_available())
            log_warn("%s", viz_unavailable_reason());
        if (rc->log.tensorboard)
            r = tb_open(rc->run.dir, &p->tb, e);
        if (r == CNN_OK && p->on && t->val.ds)
            r = load_samples(t, e);
    }
    int all = comm_agree(t->c, r);
    if (all < 0 && r == CNN_OK)
        return CNN_ERR(e, CNN_ESTATE, "rank 0 could not set up the run's pictures");
    return all;
}

/* ---- curves ---- */

typedef struct pts {
    double *x, *y;
    int n, cap;
} pts;

static void add(pts *s, double x, double y)
{
    if (s->n == s->cap) {
        int cap = s->cap;
        s->x = cnn_xgrow(s->x, &cap, sizeof *s->x);
        s->y = cnn_xgrow(s->y, &s->cap, sizeof *s->y);
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
}

/* The number after "key": in one of our JSON lines; NaN for null or when absent. */
static double field(const char *line, const char *key)
{
    char k[48];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *at = strstr(line, k);
    if (!at)
        return NAN;
    char *end;
    double v = strtod(at + strlen(k), &end);
    return end == at + strlen(k) ? NAN : v;
}

enum { S_LOSS, S_SMOOTH, S_VLOSS, S_M1, S_M2, S_LR, S_COUNT };

/* A run resumed from an earlier checkpoint appends its lines again from that step on:
 * what the abandoned branch logged at or after step goes (SummaryWriter's purge_step). */
static void rewind_to(pts *s, int first, int last, double step)
{
    for (int k = first; k <= last; k++)
        while (s[k].n && s[k].x[s[k].n - 1] >= step)
            s[k].n--;
}

static void read_history(const trainer *t, pts *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", t->rc->run.dir);
    FILE *f = fopen(path, "r");
    static const char *const m1[] = {"top1", "miou", "psnr"}, *const m2[] = {"top5",
                                     "pixel_acc", "psnr_input"};
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        double step = field(line, "step");
        if (strstr(line, "\"split\": \"val\"")) {
            rewind_to(s, S_VLOSS, S_M2, step);
            add(&s[S_VLOSS], step, field(line, "loss"));
            add(&s[S_M1], step, field(line, m1[t->task]));
            add(&s[S_M2], step, field(line, m2[t->task]));
        } else if (!strstr(line, "\"split\"")) {
            rewind_to(s, S_LOSS, S_LR, step); /* every series, evaluations included */
            add(&s[S_LOSS], step, field(line, "loss"));
            add(&s[S_LR], step, field(line, "lr"));
        }
    }
    free(line);
    if (f)
        fclose(f);
    double ema = 0, wsum = 0; /* TensorBoard's debiased smoothing, its default weight 0.6 */
    for (int i = 0; i < s[S_LOSS].n; i++) {
        double loss = s[S_LOSS].y[i];
        if (isfinite(loss)) {
            ema = 0.6 * ema + 0.4 * loss;
            wsum = 0.6 * wsum + 0.4;
        }
        add(&s[S_SMOOTH], s[S_LOSS].x[i], wsum > 0 ? ema / wsum : NAN);
    }
}

static int draw_curves(trainer *t, const char *path, cnn_err *e)
{
    pts s[S_COUNT] = {{0}};
    read_history(t, s);
    static const char *const metric[] = {"accuracy", "segmentation", "PSNR (dB)"};
    static const char *const n1[] = {"top-1", "mIoU", "output"}, *const n2[] = {"top-5",
                                     "pixel accuracy", "noisy input"};
    viz_series loss[3] = {
        {"train loss", s[S_LOSS].x, s[S_LOSS].y, s[S_LOSS].n, 0xb0c4de, false, false},
        {"train loss (smoothed)", s[S_SMOOTH].x, s[S_SMOOTH].y, s[S_SMOOTH].n, 0x1f4e9c,
         false, false},
        {"validation loss", s[S_VLOSS].x, s[S_VLOSS].y, s[S_VLOSS].n, 0xd62728, false, true}};
    viz_series met[2] = {
        {n1[t->task], s[S_M1].x, s[S_M1].y, s[S_M1].n, 0x2ca02c, false, true},
        {n2[t->task], s[S_M2].x, s[S_M2].y, s[S_M2].n, 0x9467bd, true, true}};
    viz_series lr = {"learning rate", s[S_LR].x, s[S_LR].y, s[S_LR].n, 0xff7f0e, false, false};
    viz_panel panels[3] = {{"loss", "step", "loss", loss, 3, false},
                           {metric[t->task], "step", metric[t->task], met, 2, false},
                           {"learning rate", "step", "lr", &lr, 1, false}};
    int64_t epochs = t->steps_per_epoch > 0 ? t->step / t->steps_per_epoch : 0;
    double *marks = cnn_xcalloc((size_t)epochs + 1, sizeof *marks);
    for (int64_t k = 1; k <= epochs; k++)
        marks[k - 1] = (double)(k * t->steps_per_epoch);
    int r = viz_curves(path, panels, 3, marks, (int)epochs, e);
    free(marks);
    for (int i = 0; i < S_COUNT; i++) {
        free(s[i].x);
        free(s[i].y);
    }
    return r;
}

/* ---- filters ---- */

static int draw_filters(trainer *t, const char *path, cnn_err *e)
{
    const net *n = t->n;
    for (int i = 0; i < n->n_params; i++) {
        const net_entry *en = &n->params[i];
        const shape *s = &en->value.s;
        size_t len = strlen(en->key);
        if (s->nd != 4 || len < 7 || strcmp(en->key + len - 7, ".weight"))
            continue;
        float *w = cnn_xmalloc((size_t)shape_numel(s) * sizeof *w);
        backend_download(t->be, &en->value, w);
        int r = viz_filters(path, w, (int)s->d[0], (int)s->d[1], (int)s->d[2], (int)s->d[3], e);
        free(w);
        return r;
    }
    return 1; /* no convolution: nothing to draw */
}

/* ---- samples ---- */

/* Normalized planes (C, H, W) to 8-bit interleaved pixels for display. */
static uint8_t *display(const trainer *t, const float *x)
{
    const shape *in = &t->n->in_shape;
    int C = (int)in->d[1];
    int64_t hw = in->d[2] * in->d[3];
    uint8_t *px = cnn_xmalloc((size_t)(hw * C));
    for (int c = 0; c < C; c++)
        for (int64_t i = 0; i < hw; i++) {
            double v = rint(((double)x[c * hw + i] * t->val_aug.std[c] + t->val_aug.mean[c]) *
                            255.0);
            px[i * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    return px;
}

static uint8_t *colour_mask(const int32_t *m, int64_t hw)
{
    uint8_t *px = cnn_xmalloc((size_t)(3 * hw));
    for (int64_t i = 0; i < hw; i++) {
        if (m[i] < 0) /* ignored */
            px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = 128;
        else
            viz_palette(m[i], px + 3 * i);
    }
    return px;
}

/* The fixed samples' outputs (n, classes or C, ...) as f32 NCHW, through the net in chunks
 * of its batch on this rank alone (evaluation mode: no collective). */
static float *run_samples(trainer *t)
{
    net *n = t->n;
    pictures *p = t->pics;
    int64_t per = shape_inner(&n->in_shape, 1), out_per = shape_inner(&net_output(n)->s, 1);
    float *out = cnn_xmalloc((size_t)(p->n * out_per) * sizeof *out);
    float *x = cnn_xcalloc((size_t)(n->batch * per), sizeof *x);
    exec ex = t->x;
    ex.training = false;
    for (int first = 0; first < p->n; first += n->batch) {
        int k = p->n - first < n->batch ? p->n - first : n->batch;
        memcpy(x, p->x + first * per, (size_t)(k * per) * sizeof *x);
        backend_upload(t->be, &n->input, x);
        net_forward(n, &ex, false);
        const tensor *o = net_output(n);
        float *all = cnn_xmalloc((size_t)tensor_numel(o) * sizeof *all);
        if (t->eval_out.data) {
            t->be->ops->convert(t->be, o, &t->eval_out, 0.0f);
            o = &t->eval_out;
        }
        backend_download(t->be, o, all);
        memcpy(out + first * out_per, all, (size_t)(k * out_per) * sizeof *out);
        free(all);
    }
    free(x);
    return out;
}

const char *trainer_class_name(const trainer *t, int k, char *buf, size_t n)
{
    const dataset_info *in = t->val.ds ? dataset_get_info(t->val.ds) : NULL;
    if (k >= 0 && k < t->ckpt_info.n_classes)
        return t->ckpt_info.classes[k];
    if (in && k >= 0 && k < in->n_classes)
        return in->classes[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

static double psnr(const float *a, const float *b, int64_t n, double peak)
{
    double se = 0;
    for (int64_t i = 0; i < n; i++)
        se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return se > 0 ? 10 * log10(peak * peak / (se / (double)n)) : INFINITY;
}

static int draw_samples(trainer *t, const char *path, cnn_err *e)
{
    pictures *p = t->pics;
    const shape *in = &t->n->in_shape;
    int C = (int)in->d[1], H = (int)in->d[2], W = (int)in->d[3];
    int64_t per = shape_inner(in, 1), hw = (int64_t)H * W;
    float *y = run_samples(t);
    int cols = t->task == TASK_CLASSIFY ? 4 : 3, rows = t->task == TASK_CLASSIFY ? 2 : p->n;
    viz_tile *tiles = cnn_xcalloc((size_t)(rows * cols), sizeof *tiles);
    uint8_t **own = cnn_xcalloc((size_t)(rows * cols), sizeof *own);
    char (*cap)[2][160] = cnn_xcalloc((size_t)(rows * cols), sizeof *cap);
    for (int i = 0; i < p->n; i++) {
        const float *yi = y + i * shape_inner(&net_output(t->n)->s, 1);
        if (t->task == TASK_CLASSIFY) {
            char a[32], b[32];
            int pred = metrics_predicted(yi, t->classes, -1), truth = p->labels[i];
            snprintf(cap[i][0], 160, "true: %s", trainer_class_name(t, truth, a, sizeof a));
            snprintf(cap[i][1], 160, "pred: %s", trainer_class_name(t, pred, b, sizeof b));
            own[i] = display(t, p->x + i * per);
            tiles[i] = (viz_tile){own[i], H, W, C, cap[i][0], cap[i][1], pred != truth};
        } else if (t->task == TASK_SEGMENT) {
            int32_t *pm = cnn_xmalloc((size_t)hw * sizeof *pm);
            for (int64_t j = 0; j < hw; j++) {
                int best = 0;
                for (int c = 1; c < t->classes; c++)
                    best = yi[c * hw + j] > yi[best * hw + j] ? c : best;
                pm[j] = best;
            }
            own[3 * i] = display(t, p->x + i * per);
            own[3 * i + 1] = colour_mask(p->labels + i * hw, hw);
            own[3 * i + 2] = colour_mask(pm, hw);
            free(pm);
            tiles[3 * i] = (viz_tile){own[3 * i], H, W, C, i ? NULL : "image", NULL, false};
            tiles[3 * i + 1] = (viz_tile){own[3 * i + 1], H, W, 3, i ? NULL : "true mask", NULL, false};
            tiles[3 * i + 2] = (viz_tile){own[3 * i + 2], H, W, 3, i ? NULL : "predicted", NULL, false};
        } else {
            const float *src[3] = {p->x + i * per, p->clean + i * per, yi};
            for (int k = 0; k < 3; k++) {
                static const char *const what[3] = {"noisy", "clean", "denoised"};
                own[3 * i + k] = display(t, src[k]);
                if (k != 1)
                    snprintf(cap[3 * i + k][0], 160, "%s %.2f dB", what[k],
                             psnr(src[k], src[1], per, t->psnr_peak));
                else
                    snprintf(cap[3 * i + k][0], 160, "clean");
                tiles[3 * i + k] = (viz_tile){own[3 * i + k], H, W, C, cap[3 * i + k][0],
                                              NULL, false};
            }
        }
    }
    char title[128];
    snprintf(title, sizeof title, "validation samples at step %lld", (long long)t->step);
    int n_keys = t->task == TASK_SEGMENT ? t->classes : 0;
    char(*key)[32] = cnn_xcalloc((size_t)(n_keys > 0 ? n_keys : 1), sizeof *key);
    const char **keys = cnn_xcalloc((size_t)(n_keys > 0 ? n_keys : 1), sizeof *keys);
    for (int k = 0; k < n_keys; k++)
        keys[k] = trainer_class_name(t, k, key[k], sizeof key[k]);
    int r = viz_grid(path, tiles, rows, cols, TILE, title, keys, n_keys, e);
    free(keys);
    free(key);
    for (int i = 0; i < rows * cols; i++)
        free(own[i]);
    free(own);
    free(cap);
    free(tiles);
    free(y);
    return r;
}

/* ---- confusion ---- */

int trainer_draw_confusion(const trainer *t, const char *path, const char *title, cnn_err *e)
{
    const double *cm = metrics_confusion(t->val_metrics);
    if (!cm || t->task != TASK_CLASSIFY || t->classes > 200) /* 200: names stay readable */
        return 1;
    char **names = cnn_xcalloc((size_t)t->classes, sizeof *names);
    char (*buf)[32] = cnn_xcalloc((size_t)t->classes, sizeof *buf);
    for (int k = 0; k < t->classes; k++)
        names[k] = (char *)trainer_class_name(t, k, buf[k], sizeof buf[k]);
    int r = viz_confusion(path, cm, t->classes, names, title, e);
    free(names);
    free(buf);
    return r;
}

static int draw_confusion(trainer *t, const char *path, cnn_err *e)
{
    /* the last evaluation's matrix; none without a validation set or an evaluation here */
    if (!t->val.ds || t->last_eval_step < 0)
        return 1;
    char title[128];
    snprintf(title, sizeof title, "confusion on the validation set at step %lld",
             (long long)t->step);
    return trainer_draw_confusion(t, path, title, e);
}

/* ---- TensorBoard ---- */

void trainer_tb_scalars(trainer *t, const char *const *tags, const double *v, int n)
{
    if (t->rank != 0 || !t->pics || !t->pics->tb)
        return;
    cnn_err e = {0};
    double wall = now_wall();
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && tb_scalar(t->pics->tb, tags[i], t->step, wall, (float)v[i], &e) < 0)
            warn_once(t, &e);
}

static void tb_picture(trainer *t, const char *tag, const char *path)
{
    uint8_t *png = NULL;
    size_t len = 0;
    cnn_err e = {0};
    image im = {0};
    int r = data_read_file(path, &png, &len, &e);
    if (r == CNN_OK)
        r = image_decode(png, len, 0, 0, &im, &e); /* its size and channels */
    if (r == CNN_OK)
        r = tb_image(t->pics->tb, tag, t->step, now_wall(), png, len, im.h, im.w, im.c, &e);
    if (r < 0)
        warn_once(t, &e);
    image_free(&im);
    free(png);
}

typedef int (*draw_fn)(trainer *t, const char *path, cnn_err *e);

void trainer_pictures(trainer *t, bool final)
{
    pictures *p = t->pics;
    if (t->rank != 0 || !p)
        return;
    static const char *const files[] = {"curves", "filters", "samples", "confusion"};
    const draw_fn draw[] = {draw_curves, draw_filters, draw_samples, draw_confusion};
    for (int k = 0; k < 4 && p->on; k++) {
        if ((k == 2 && !p->n) || (k == 3 && !final))
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.png", t->rc->run.dir, files[k]);
        cnn_err e = {0};
        int r = draw[k](t, path, &e);
        if (r < 0)
            warn_once(t, &e);
        else if (r == CNN_OK && p->tb && k != 0)
            tb_picture(t, files[k], path);
    }
    cnn_err e = {0};
    if (p->tb && tb_flush(p->tb, &e) < 0)
        warn_once(t, &e);
}

void trainer_pictures_teardown(trainer *t)
{
    pictures *p = t->pics;
    if (!p)
        return;
    tb_close(p->tb);
    free(p->x);
    free(p->labels);
    free(p->clean);
    free(p);
    t->pics = NULL;
}
