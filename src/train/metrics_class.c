/* Per-class numbers from the reduced confusion matrix (metrics.h): support, precision and
 * recall per class (classification), IoU per class (segmentation; their mean over the
 * classes present is the mIoU of metrics_result_get), and the most confused pairs. Ratios
 * without samples are NaN, written as JSON null. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "../core/core.h"
#include "metrics_impl.h"

task_kind metrics_task(const metrics *m) { return m->task; }

int metrics_classes(const metrics *m) { return m->classes; }

const double *metrics_confusion(const metrics *m)
{
    return m->conf >= 0 ? m->acc + m->conf : NULL;
}

static double ratio(double a, double b) { return b > 0.0 ? a / b : NAN; }

bool metrics_per_class(const metrics *m, metrics_class *out)
{
    const double *cm = metrics_confusion(m);
    if (!cm)
        return false;
    int64_t C = m->classes;
    for (int64_t c = 0; c < C; c++) {
        double row = 0.0, col = 0.0, tp = cm[c * C + c];
        for (int64_t k = 0; k < C; k++) {
            row += cm[c * C + k];
            col += cm[k * C + c];
        }
        out[c] = (metrics_class){.support = row, .predicted = col, .precision = ratio(tp, col),
                                 .recall = ratio(tp, row), .iou = ratio(tp, row + col - tp)};
    }
    return true;
}

/* Larger count first; ties in (true, predicted) order. */
static bool before(const metrics_pair *a, const metrics_pair *b)
{
    if (a->count != b->count)
        return a->count > b->count;
    return a->truth != b->truth ? a->truth < b->truth : a->pred < b->pred;
}

int metrics_confused_pairs(const metrics *m, int k, metrics_pair *out)
{
    const double *cm = metrics_confusion(m);
    int n = 0;
    for (int t = 0; cm && k > 0 && t < m->classes; t++)
        for (int p = 0; p < m->classes; p++) {
            metrics_pair q = {t, p, cm[(int64_t)t * m->classes + p]};
            if (t == p || !(q.count > 0.0) || (n == k && !before(&q, &out[k - 1])))
                continue;
            int i = n < k ? n++ : k - 1; /* insertion into the sorted top k */
            for (; i > 0 && before(&q, &out[i - 1]); i--)
                out[i] = out[i - 1];
            out[i] = q;
        }
    return n;
}

static void json_array(FILE *f, const char *key, const metrics_class *pc, int C, size_t field)
{
    fprintf(f, "\"%s\": [", key);
    for (int c = 0; c < C; c++) {
        fputs(c ? ", " : "", f);
        json_write_num(f, *(const double *)((const char *)&pc[c] + field), 6);
    }
    fputc(']', f);
}

void metrics_per_class_json(const metrics *m, FILE *f)
{
    int C = m->classes;
    metrics_class *pc = cnn_xmalloc((size_t)(C > 0 ? C : 1) * sizeof *pc);
    if (metrics_per_class(m, pc)) {
        if (m->task == TASK_CLASSIFY) {
            json_array(f, "precision", pc, C, offsetof(metrics_class, precision));
            fputs(", ", f);
            json_array(f, "recall", pc, C, offsetof(metrics_class, recall));
        } else {
            json_array(f, "iou", pc, C, offsetof(metrics_class, iou));
        }
    }
    free(pc);
}
