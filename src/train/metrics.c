/* Evaluation metrics (metrics.h). Every accumulator is one double of a fixed-size buffer (the
 * reduction over ranks is one in-place sum): [loss_sum, loss_count, n, then top1 and top5
 * hits and the C x C confusion matrix (row = true class) | the confusion matrix | the sums of
 * per-image PSNR of the output and of the noisy input, and the images of the latter]. top-k
 * counts a sample when fewer than k classes have a logit strictly greater than the true
 * class's (ties go to the true class; NaN counts as greater); mean IoU averages over classes
 * with a nonzero row or column; mse 0 scores PSNR_MAX_DB. n counts samples, or counted
 * pixels for segment. Empty accumulators give 0; non-finite values print as JSON null. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/core.h"
#include "metrics_impl.h"

#define PAD_LABEL (-100)
#define PSNR_MAX_DB 100.0

metrics *metrics_create(task_kind task, int n_classes, int ignore)
{
    CNN_ASSERT(task == TASK_DENOISE || n_classes >= 1);
    /* C^2 doubles: 128 MiB at most */
    CNN_ASSERT(task != TASK_SEGMENT || n_classes <= METRICS_MAX_CONFUSION);
    metrics *m = cnn_xcalloc(1, sizeof *m);
    m->task = task;
    m->classes = n_classes;
    m->ignore = ignore;
    m->conf = -1;
    int extra = 3;
    if (task == TASK_CLASSIFY && n_classes <= METRICS_MAX_CONFUSION) {
        m->conf = M_TASK + 2;
        extra = 2 + n_classes * n_classes;
    } else if (task == TASK_SEGMENT) {
        m->conf = M_TASK;
        extra = n_classes * n_classes;
    }
    m->n_acc = M_TASK + extra;
    m->acc = cnn_xcalloc((size_t)m->n_acc, sizeof *m->acc);
    return m;
}

void metrics_reset(metrics *m)
{
    for (int i = 0; i < m->n_acc; i++)
        m->acc[i] = 0.0;
}

void metrics_add_loss(metrics *m, double loss_sum, double count)
{
    m->acc[M_LOSS] += loss_sum;
    m->acc[M_COUNT] += count;
}

static bool skipped(const metrics *m, int32_t y) { return y == PAD_LABEL || y == m->ignore; }

/* A label outside the classes is a dataset fault (the loss already refuses it). */
static void check_label(const metrics *m, int32_t y, int64_t at, const char *what)
{
    if (y < 0 || y >= m->classes)
        cnn_fatal("metrics: %s %d at %lld is outside [0, %d) and is not the ignore index %d; "
                  "check the dataset's labels against the number of classes", what, (int)y,
                  (long long)at, m->classes, m->ignore);
}

/* Classes ranked above the true class y: strictly greater logits, and NaNs (compared with a
 * NaN true logit, every class ranks above). */
static int rank_of(const float *x, int classes, int32_t y)
{
    int r = 0;
    for (int c = 0; c < classes; c++)
        r += c != y && !(x[c] <= x[y]);
    return r;
}

int metrics_predicted(const float *logits, int classes, int32_t y)
{
    bool known = y >= 0 && y < classes;
    if (known && rank_of(logits, classes, y) == 0)
        return y;
    int best = -1;
    for (int c = 0; c < classes; c++) {
        if (c == y)
            continue;
        if (isnan(logits[c])) {
            if (known) /* it ranked above y: the miss top-1 counted */
                return c;
            continue;
        }
        if (best < 0 || logits[c] > logits[best])
            best = c;
    }
    return best < 0 ? 0 : best;
}

void metrics_add_classify(metrics *m, const float *logits, const int32_t *labels, int n)
{
    CNN_ASSERT(m->task == TASK_CLASSIFY);
    for (int i = 0; i < n; i++) {
        int32_t y = labels[i];
        if (skipped(m, y))
            continue;
        check_label(m, y, i, "label");
        const float *x = logits + (int64_t)i * m->classes;
        int r = rank_of(x, m->classes, y);
        m->acc[M_N] += 1.0;
        m->acc[M_TASK] += r < 1;
        m->acc[M_TASK + 1] += r < 5;
        if (m->conf >= 0)
            m->acc[m->conf + (int64_t)y * m->classes + metrics_predicted(x, m->classes, y)] +=
                1.0;
    }
}

void metrics_add_segment(metrics *m, const int32_t *pred, const int32_t *labels,
                         int64_t n_pix)
{
    CNN_ASSERT(m->task == TASK_SEGMENT);
    double *cm = m->acc + m->conf;
    for (int64_t i = 0; i < n_pix; i++) {
        int32_t y = labels[i], p = pred[i];
        if (skipped(m, y))
            continue;
        check_label(m, y, i, "label");
        check_label(m, p, i, "prediction");
        cm[(int64_t)y * m->classes + p] += 1.0;
        m->acc[M_N] += 1.0;
    }
}

static double image_psnr(const float *pred, const float *target, int64_t per, double peak)
{
    double se = 0.0;
    for (int64_t j = 0; j < per; j++) {
        double d = (double)pred[j] - target[j];
        se += d * d;
    }
    double mse = se / (double)per;
    if (isnan(mse))
        return mse;
    double floor = peak * peak * pow(10.0, -PSNR_MAX_DB / 10.0);
    return 10.0 * log10(peak * peak / (mse > floor ? mse : floor));
}

void metrics_add_denoise(metrics *m, const float *pred, const float *target,
                         const float *noisy, const bool *valid, int n, int64_t per,
                         double peak)
{
    CNN_ASSERT(m->task == TASK_DENOISE && per > 0 && peak > 0.0);
    for (int i = 0; i < n; i++) {
        if (valid && !valid[i])
            continue;
        m->acc[M_TASK] += image_psnr(pred + i * per, target + i * per, per, peak);
        m->acc[M_N] += 1.0;
        if (noisy) {
            m->acc[M_TASK + 1] += image_psnr(noisy + i * per, target + i * per, per, peak);
            m->acc[M_TASK + 2] += 1.0;
        }
    }
}

double *metrics_buffer(metrics *m, int *n_out)
{
    *n_out = m->n_acc;
    return m->acc;
}

/* Pixel accuracy and mean IoU from the confusion matrix. */
static void segment_result(const metrics *m, metrics_result *r)
{
    const double *cm = m->acc + m->conf;
    int64_t C = m->classes;
    double diag = 0.0, total = 0.0, iou = 0.0;
    int present = 0;
    for (int64_t c = 0; c < C; c++) {
        double row = 0.0, col = 0.0;
        for (int64_t k = 0; k < C; k++) {
            row += cm[c * C + k];
            col += cm[k * C + c];
        }
        diag += cm[c * C + c];
        total += row;
        if (row + col > 0.0) {
            iou += cm[c * C + c] / (row + col - cm[c * C + c]);
            present++;
        }
    }
    r->pixel_acc = total > 0.0 ? diag / total : 0.0;
    r->miou = present ? iou / present : 0.0;
}

void metrics_result_get(const metrics *m, metrics_result *r)
{
    const double *a = m->acc;
    double n = a[M_N];
    *r = (metrics_result){.loss = a[M_COUNT] > 0.0 ? a[M_LOSS] / a[M_COUNT] : 0.0,
                          .n = (int64_t)n};
    if (m->task == TASK_CLASSIFY) {
        r->top1 = n > 0.0 ? a[M_TASK] / n : 0.0;
        r->top5 = n > 0.0 ? a[M_TASK + 1] / n : 0.0;
    } else if (m->task == TASK_SEGMENT) {
        segment_result(m, r);
    } else {
        r->psnr = n > 0.0 ? a[M_TASK] / n : 0.0;
        r->psnr_input = a[M_TASK + 2] > 0.0 ? a[M_TASK + 1] / a[M_TASK + 2] : NAN;
    }
}

void json_field(char *buf, size_t n, int *k, const char *key, double v)
{
    if (*k < 0 || (size_t)*k >= n)
        return;
    const char *sep = *k ? ", " : "";
    int w = isfinite(v) ? snprintf(buf + *k, n - (size_t)*k, "%s\"%s\": %.9g", sep, key, v)
                        : snprintf(buf + *k, n - (size_t)*k, "%s\"%s\": null", sep, key);
    *k = w < 0 ? -1 : *k + w;
}

void metrics_result_json(const metrics *m, const metrics_result *r, char *buf, size_t n)
{
    int k = 0;
    if (n)
        buf[0] = 0;
    json_field(buf, n, &k, "loss", r->loss);
    if (m->task == TASK_CLASSIFY) {
        json_field(buf, n, &k, "top1", r->top1);
        json_field(buf, n, &k, "top5", r->top5);
    } else if (m->task == TASK_SEGMENT) {
        json_field(buf, n, &k, "pixel_acc", r->pixel_acc);
        json_field(buf, n, &k, "miou", r->miou);
    } else {
        json_field(buf, n, &k, "psnr", r->psnr);
        if (!isnan(r->psnr_input))
            json_field(buf, n, &k, "psnr_input", r->psnr_input);
    }
    if (k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, ", \"n\": %lld", (long long)r->n);
}

void metrics_destroy(metrics *m)
{
    if (!m)
        return;
    free(m->acc);
    free(m);
}
