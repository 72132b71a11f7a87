/* Evaluation metrics, accumulated per rank on the host from each eval batch and reduced
 * across ranks once per evaluation so that every validation sample counts exactly once
 * (padding slots carry label -100 / index -1 and are skipped): loss, top-1 and top-5 for
 * classifiers; pixel accuracy and mean IoU (over classes present in labels or predictions)
 * for segmentation; PSNR for denoising. */
#ifndef CNN_TRAIN_METRICS_H
#define CNN_TRAIN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum task_kind { TASK_CLASSIFY, TASK_SEGMENT, TASK_DENOISE } task_kind;

typedef struct metrics metrics;

/* n_classes: classifier outputs / segmentation classes (confusion matrix size); ignore:
 * the label that is not counted (segmentation's ignore_index; -100 padding always is). */
metrics *metrics_create(task_kind task, int n_classes, int ignore);
void metrics_reset(metrics *m);
/* loss_sum: this batch's summed loss over the elements it counted, count: those elements. */
void metrics_add_loss(metrics *m, double loss_sum, double count);
/* logits (n, C) of one batch, labels (n) with -100 for padding. */
void metrics_add_classify(metrics *m, const float *logits, const int32_t *labels, int n);
/* pred and labels (n_pix): argmax class per pixel and the true class. */
void metrics_add_segment(metrics *m, const int32_t *pred, const int32_t *labels,
                         int64_t n_pix);
/* pred and target (n, per): per-image PSNR = 10 log10(peak^2 / mse), averaged over images;
 * valid[i] false skips image i (padding). peak: the data range in the tensor's units
 * (1 / std for data normalized by std). */
void metrics_add_denoise(metrics *m, const float *pred, const float *target,
                         const bool *valid, int n, int64_t per, double peak);
/* The accumulators as doubles, to sum over ranks in place and put back (every rank calls
 * the same reduction: comm_allreduce_sum_f64 over metrics_buffer). */
double *metrics_buffer(metrics *m, int *n_out);

typedef struct metrics_result {
    double loss;              /* mean over counted elements */
    int64_t n;                /* samples evaluated */
    double top1, top5;        /* classify, fractions in [0, 1] */
    double pixel_acc, miou;   /* segment */
    double psnr;              /* denoise, dB */
} metrics_result;
void metrics_result_get(const metrics *m, metrics_result *r);
/* Appends ", " (unless *k is 0) and "\"key\": v" to buf (n bytes) at *k and advances *k
 * (-1 once buf is full); a non-finite v (a diverged loss) is written null, which JSON can
 * carry and NaN it cannot. */
void json_field(char *buf, size_t n, int *k, const char *key, double v);
/* The evaluation's JSON fields without braces: "\"loss\": 0.41, \"top1\": 0.89, ...". */
void metrics_result_json(const metrics *m, const metrics_result *r, char *buf, size_t n);
void metrics_destroy(metrics *m);

#endif
