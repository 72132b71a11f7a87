/* Evaluation metrics, accumulated per rank on the host from each eval batch and reduced
 * across ranks once per evaluation so that every validation sample counts exactly once
 * (padding slots carry label -100 / index -1 and are skipped): loss, top-1 and top-5 and
 * the confusion matrix (per-class precision and recall, the most confused pairs) for
 * classifiers; pixel accuracy, mean IoU (over classes present in labels or predictions) and
 * per-class IoU for segmentation; PSNR of the output and of the noisy input for denoising. */
#ifndef CNN_TRAIN_METRICS_H
#define CNN_TRAIN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../net/net.h" /* task_kind */

typedef struct metrics metrics;

/* Above this many classes a classifier keeps no confusion matrix (C^2 doubles reduced at
 * every evaluation): top-1 and top-5 only, no per-class numbers. Segmentation needs it. */
#define METRICS_MAX_CONFUSION 4096

/* n_classes: classifier outputs / segmentation classes (confusion matrix size); ignore:
 * the label that is not counted (segmentation's ignore_index; -100 padding always is). */
metrics *metrics_create(task_kind task, int n_classes, int ignore);
void metrics_reset(metrics *m);
/* loss_sum: this batch's summed loss over the elements it counted, count: those elements. */
void metrics_add_loss(metrics *m, double loss_sum, double count);
/* logits (n, C) of one batch, labels (n) with -100 for padding. The predicted class (the
 * confusion matrix's column) agrees with top-1: the true class when it ties for the largest
 * logit, else the first largest of the others (the first NaN, which ranks above any
 * number), so the diagonal holds exactly the top-1 hits. */
void metrics_add_classify(metrics *m, const float *logits, const int32_t *labels, int n);
/* That predicted class of one row of C logits given its true class y; without one (y < 0:
 * predict), the first largest logit, NaNs skipped. */
int metrics_predicted(const float *logits, int classes, int32_t y);
/* pred and labels (n_pix): argmax class per pixel and the true class. */
void metrics_add_segment(metrics *m, const int32_t *pred, const int32_t *labels,
                         int64_t n_pix);
/* pred, target and noisy (n, per): per-image PSNR = 10 log10(peak^2 / mse) of pred and of
 * the noisy input (may be NULL: not counted), averaged over images; valid[i] false skips
 * image i (padding). peak: the data range in the tensor's units (1 / std for data
 * normalized by std). */
void metrics_add_denoise(metrics *m, const float *pred, const float *target,
                         const float *noisy, const bool *valid, int n, int64_t per,
                         double peak);
/* The accumulators as doubles, to sum over ranks in place and put back (every rank calls
 * the same reduction: comm_allreduce_sum_f64 over metrics_buffer). */
double *metrics_buffer(metrics *m, int *n_out);

typedef struct metrics_result {
    double loss;              /* mean over counted elements */
    int64_t n;                /* samples evaluated */
    double top1, top5;        /* classify, fractions in [0, 1] */
    double pixel_acc, miou;   /* segment */
    double psnr;              /* denoise, dB */
    double psnr_input;        /* denoise: of the noisy input (NaN when not counted) */
} metrics_result;
void metrics_result_get(const metrics *m, metrics_result *r);

/* ---- per class (metrics_class.c), after the reduction ---- */
task_kind metrics_task(const metrics *m);
int metrics_classes(const metrics *m);
/* The (C, C) confusion matrix, row = true class, column = predicted; NULL when none is kept
 * (denoising, or a classifier with more than METRICS_MAX_CONFUSION classes). */
const double *metrics_confusion(const metrics *m);
/* NaN where the ratio has no samples: precision of a class never predicted, recall of a
 * class never true, IoU of a class in neither labels nor predictions (mIoU skips those). */
typedef struct metrics_class {
    double support;   /* samples (pixels) of this true class */
    double predicted; /* samples (pixels) predicted as this class */
    double precision, recall, iou;
} metrics_class;
/* out: metrics_classes entries; false (out untouched) without a confusion matrix. */
bool metrics_per_class(const metrics *m, metrics_class *out);
typedef struct metrics_pair {
    int truth, pred;
    double count;
} metrics_pair;
/* The k most confused (true, predicted) pairs off the diagonal, by count descending (ties:
 * lower true class, then lower predicted, first); fewer when fewer are nonzero. Returns how
 * many were written. */
int metrics_confused_pairs(const metrics *m, int k, metrics_pair *out);
/* Per-class JSON fields for metrics.jsonl (no braces, no leading comma): classify
 * "precision": [...], "recall": [...]; segment "iou": [...]; NaN as null. Writes nothing
 * without a confusion matrix. */
void metrics_per_class_json(const metrics *m, FILE *f);
/* Appends ", " (unless *k is 0) and "\"key\": v" to buf (n bytes) at *k and advances *k
 * (-1 once buf is full); a non-finite v (a diverged loss) is written null, which JSON can
 * carry and NaN it cannot. */
void json_field(char *buf, size_t n, int *k, const char *key, double v);
/* The evaluation's JSON fields without braces: "\"loss\": 0.41, \"top1\": 0.89, ...". */
void metrics_result_json(const metrics *m, const metrics_result *r, char *buf, size_t n);
void metrics_destroy(metrics *m);

#endif
