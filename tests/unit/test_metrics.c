/* Evaluation metrics against values computed by hand (tiny cases, worked out in the comments)
 * and against numpy on larger generated cases (the formulas and numpy's results are
 * written below as constants): top-1/top-5 with ties, NaN and padding; the confusion matrix's
 * pixel accuracy and mean IoU over present classes with the ignore label; PSNR; the merge of
 * two accumulators' buffers (what the all-reduce does) equal to one over all the data; the
 * JSON fields. */
#include <math.h>

#include "../../src/train/metrics.h"
#include "../check.h"

/* C = 6. Rows 0/1: the true logit 2.0 ties class 3/1: a tie goes to the true class (rank 0).
 * Row 2: true logit 1, four greater: top-5 only. Row 3: five greater: neither. Row 4:
 * padding. Row 5: a NaN elsewhere counts as greater (rank 1): top-5 only. Row 6: a NaN true
 * logit: neither. So n = 6, top1 = 2/6, top5 = 4/6. */
static void classify_hand(void)
{
    const float ties[6] = {0.1f, 2.0f, 0.5f, 2.0f, -1.0f, 0.3f};
    const float desc[6] = {5, 4, 3, 2, 1, 0};
    const float nan1[6] = {0, NAN, 1, 0, 0, 0}, nan0[6] = {NAN, 1, 2, 3, 4, 5};
    float x[7 * 6];
    const float *rows[7] = {ties, ties, desc, desc, desc, nan1, nan0};
    for (int i = 0; i < 7; i++)
        memcpy(x + 6 * i, rows[i], sizeof ties);
    int32_t y[7] = {1, 3, 4, 5, -100, 2, 0};
    metrics *m = metrics_create(TASK_CLASSIFY, 6, -100);
    metrics_add_classify(m, x, y, 7);
    metrics_add_loss(m, 3.0, 6.0);
    metrics_add_loss(m, 1.5, 2.0);
    metrics_result r;
    metrics_result_get(m, &r);
    CHECK_EQ(r.n, 6);
    CHECK_NEAR(r.top1, 2.0 / 6.0, 1e-15);
    CHECK_NEAR(r.top5, 4.0 / 6.0, 1e-15);
    CHECK_NEAR(r.loss, 4.5 / 8.0, 1e-15);
    char buf[256];
    metrics_result_json(m, &r, buf, sizeof buf);
    printf("classify: {%s}\n", buf);
    CHECK(!strcmp(buf, "\"loss\": 0.5625, \"top1\": 0.333333333, \"top5\": 0.666666667, "
                       "\"n\": 6"));
    metrics_destroy(m);
}

/* Logits sin(1.7 i + 0.9 c^2) (C = 7, 200 rows), label i % 7, padding where i % 9 == 4; numpy
 * (rank = count of strictly greater logits): 178 samples, top1 0.1348314606741573, top5
 * 0.7247191011235955. Also split in two accumulators merged through their buffers. */
static void classify_numpy(void)
{
    enum { N = 200, C = 7 };
    static float x[N * C];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < C; c++)
            x[i * C + c] = (float)sin(1.7 * i + 0.9 * c * c);
        y[i] = i % 9 == 4 ? -100 : i % 7;
    }
    metrics *all = metrics_create(TASK_CLASSIFY, C, -100);
    metrics *a = metrics_create(TASK_CLASSIFY, C, -100);
    metrics *b = metrics_create(TASK_CLASSIFY, C, -100);
    metrics_add_classify(all, x, y, N);
    metrics_add_classify(a, x, y, 77);
    metrics_add_classify(b, x + 77 * C, y + 77, N - 77);
    int na, nb;
    double *ba = metrics_buffer(a, &na), *bb = metrics_buffer(b, &nb);
    CHECK_EQ(na, nb);
    for (int i = 0; i < na; i++)
        ba[i] += bb[i];
    metrics_result r, ra;
    metrics_result_get(all, &r);
    metrics_result_get(a, &ra);
    CHECK_EQ(r.n, 178);
    CHECK_NEAR(r.top1, 0.1348314606741573, 1e-15);
    CHECK_NEAR(r.top5, 0.7247191011235955, 1e-15);
    CHECK(ra.n == r.n && ra.top1 == r.top1 && ra.top5 == r.top5);
    printf("classify numpy: n %lld top1 %.6f top5 %.6f; merged halves equal\n", (long long)r.n,
           r.top1, r.top5);
    metrics_destroy(all);
    metrics_destroy(a);
    metrics_destroy(b);
}

/* C = 4, ignore 255. (label, pred): (0,0) (0,1) (1,1) (1,1) (2,0) (2,2) (255,3) (-100,0)
 * (1,2). Counted 7; diagonal 1 + 2 + 1 = 4: pixel_acc 4/7. IoU = tp / (row + col - tp):
 * class 0: 1 / (2 + 2 - 1) = 1/3; class 1: 2 / (3 + 3 - 2) = 1/2; class 2: 1 / (2 + 2 - 1)
 * = 1/3; class 3 appears only under the ignored label: not present. mIoU = 7/18. */
static void segment_hand(void)
{
    int32_t lab[9] = {0, 0, 1, 1, 2, 2, 255, -100, 1}, pred[9] = {0, 1, 1, 1, 0, 2, 3, 0, 2};
    metrics *m = metrics_create(TASK_SEGMENT, 4, 255);
    int n;
    metrics_buffer(m, &n);
    CHECK_EQ(n, 3 + 16); /* loss sum, loss count, n, then the 4 x 4 matrix */
    metrics_add_segment(m, pred, lab, 5);
    metrics_add_segment(m, pred + 5, lab + 5, 4);
    metrics_result r;
    metrics_result_get(m, &r);
    CHECK_EQ(r.n, 7);
    CHECK_NEAR(r.pixel_acc, 4.0 / 7.0, 1e-15);
    CHECK_NEAR(r.miou, 7.0 / 18.0, 1e-15);
    char buf[256];
    metrics_result_json(m, &r, buf, sizeof buf);
    printf("segment: {%s}\n", buf);
    CHECK(!strcmp(buf, "\"loss\": 0, \"pixel_acc\": 0.571428571, \"miou\": 0.388888889, "
                       "\"n\": 7"));
    metrics_reset(m);
    metrics_result_get(m, &r);
    CHECK(r.n == 0 && r.pixel_acc == 0.0 && r.miou == 0.0);
    metrics_destroy(m);
}

/* 1000 pixels, label (7i + 3) % 5 with 255 where i % 11 == 0, prediction (3i^2 + i) % 6, C =
 * 7; numpy: 909 counted, pixel_acc 0.20022002200220021, mIoU over the 5 present classes
 * 0.085782463928967809. Merged from three accumulators (three ranks). */
static void segment_numpy(void)
{
    enum { N = 1000 };
    int32_t lab[N], pred[N];
    for (int i = 0; i < N; i++) {
        lab[i] = i % 11 == 0 ? 255 : (7 * i + 3) % 5;
        pred[i] = (3 * i * i + i) % 6;
    }
    metrics *m[3];
    for (int k = 0; k < 3; k++)
        m[k] = metrics_create(TASK_SEGMENT, 7, 255);
    metrics_add_segment(m[0], pred, lab, 300);
    metrics_add_segment(m[1], pred + 300, lab + 300, 301);
    metrics_add_segment(m[2], pred + 601, lab + 601, N - 601);
    int n;
    double *sum = metrics_buffer(m[0], &n);
    for (int k = 1; k < 3; k++) {
        int nk;
        double *bk = metrics_buffer(m[k], &nk);
        CHECK_EQ(nk, n);
        for (int i = 0; i < n; i++)
            sum[i] += bk[i];
    }
    metrics_result r;
    metrics_result_get(m[0], &r);
    CHECK_EQ(r.n, 909);
    CHECK_NEAR(r.pixel_acc, 0.20022002200220021, 1e-15);
    CHECK_NEAR(r.miou, 0.085782463928967809, 1e-15);
    printf("segment numpy: pixel_acc %.6f miou %.6f over 3 merged accumulators\n",
           r.pixel_acc, r.miou);
    for (int k = 0; k < 3; k++)
        metrics_destroy(m[k]);
}

/* per = 4. Image 0: error 0.1 everywhere, mse 0.01: 10 log10(1 / 0.01) = 20 dB (peak 1);
 * image 1 is padding; image 2: error 0.5, mse 0.25: 10 log10(4) = 6.0206 dB. With peak 2:
 * + 10 log10(4) each. A perfect image scores the 100 dB cap. */
static void denoise_hand(void)
{
    float pred[16] = {0, 0, 0, 0, 9, 9, 9, 9, 0.5f, 0.5f, 0.5f, 0.5f, 1, 2, 3, 4};
    float tgt[16] = {0.1f, 0.1f, 0.1f, 0.1f, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    bool valid[4] = {true, false, true, false};
    metrics *m = metrics_create(TASK_DENOISE, 0, -100);
    metrics_add_denoise(m, pred, tgt, NULL, valid, 4, 4, 1.0);
    metrics_result r;
    metrics_result_get(m, &r);
    CHECK_EQ(r.n, 2);
    CHECK_NEAR(r.psnr, (20.0 + 10.0 * log10(4.0)) / 2.0, 1e-5); /* f32 inputs: mse ~1e-7 rel */
    metrics_reset(m);
    metrics_add_denoise(m, pred, tgt, NULL, valid, 4, 4, 2.0);
    metrics_result_get(m, &r);
    CHECK_NEAR(r.psnr, (20.0 + 10.0 * log10(4.0)) / 2.0 + 10.0 * log10(4.0), 1e-5);
    metrics_reset(m);
    metrics_add_denoise(m, pred + 12, tgt + 12, NULL, NULL, 1, 4, 1.0);
    metrics_add_loss(m, NAN, 1.0);
    metrics_result_get(m, &r);
    CHECK_NEAR(r.psnr, 100.0, 1e-9);
    char buf[128];
    metrics_result_json(m, &r, buf, sizeof buf);
    printf("denoise: {%s}\n", buf);
    CHECK(!strcmp(buf, "\"loss\": null, \"psnr\": 100, \"n\": 1"));
    metrics_result_json(m, &r, buf, 12); /* truncation stays terminated */
    CHECK(strlen(buf) == 11);
    metrics_destroy(m);
}

/* Per-class numbers of classify_hand's rows. Confusion (true -> predicted): row 0 true 1,
 * tie with 3 -> 1 (the true class wins a tie, as top-1 counts it); row 1 true 3 -> 3; row 2
 * true 4 -> 0 (desc: class 0 largest); row 3 true 5 -> 0; row 4 true 2, a NaN at class 1
 * ranks above it -> 1 (the diagonal holds exactly the top-1 hits); row 5 true 0 with a NaN
 * there -> 5 (largest of the others). Every class has one true sample; predicted: class 0
 * and 1 twice, 3 and 5 once, 2 and 4 never (precision NaN). Precision 0/2, 1/2, -, 1/1, -,
 * 0/1; recall 0, 1, 0, 1, 0, 0. Most confused: (0,5), (2,1), (4,0), (5,0), each once, in
 * true-class order. Rows sum to the class counts. */
static void classify_per_class(void)
{
    const float ties[6] = {0.1f, 2.0f, 0.5f, 2.0f, -1.0f, 0.3f};
    const float desc[6] = {5, 4, 3, 2, 1, 0};
    const float nan1[6] = {0, NAN, 1, 0, 0, 0}, nan0[6] = {NAN, 1, 2, 3, 4, 5};
    const float *rows[6] = {ties, ties, desc, desc, nan1, nan0};
    float x[6 * 6];
    for (int i = 0; i < 6; i++)
        memcpy(x + 6 * i, rows[i], sizeof ties);
    int32_t y[6] = {1, 3, 4, 5, 2, 0};
    metrics *m = metrics_create(TASK_CLASSIFY, 6, -100);
    metrics_add_classify(m, x, y, 6);
    const double *cm = metrics_confusion(m);
    CHECK(cm != NULL);
    const int want[6] = {5, 1, 1, 3, 0, 0}; /* predicted class per true class */
    for (int t = 0; t < 6; t++) {
        double row = 0;
        for (int p = 0; p < 6; p++) {
            row += cm[t * 6 + p];
            CHECK_EQ(cm[t * 6 + p], p == want[t] ? 1.0 : 0.0);
        }
        CHECK_EQ(row, 1.0);
    }
    metrics_class pc[6];
    CHECK(metrics_per_class(m, pc));
    CHECK_EQ(pc[0].predicted, 2.0);
    CHECK_EQ(pc[0].precision, 0.0);
    CHECK_EQ(pc[1].precision, 0.5);
    CHECK(isnan(pc[2].precision) && isnan(pc[4].precision));
    CHECK_EQ(pc[1].recall, 1.0);
    CHECK_EQ(pc[2].recall, 0.0);
    CHECK_EQ(pc[3].precision, 1.0);
    metrics_pair top[5];
    CHECK_EQ(metrics_confused_pairs(m, 5, top), 4);
    CHECK(top[0].truth == 0 && top[0].pred == 5 && top[1].truth == 2 && top[1].pred == 1 &&
          top[2].truth == 4 && top[2].pred == 0 && top[3].truth == 5 && top[3].pred == 0);
    CHECK_EQ(metrics_confused_pairs(m, 1, top), 1);
    CHECK(top[0].truth == 0 && top[0].pred == 5);
    char *json = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&json, &len);
    metrics_per_class_json(m, f);
    fclose(f);
    printf("classify per class: %s\n", json);
    CHECK(!strcmp(json, "\"precision\": [0, 0.5, null, 1, null, 0], \"recall\": [0, 1, 0, 1, 0, 0]"));
    free(json);
    metrics_destroy(m);
    /* More classes than a confusion matrix is kept for: top-k only. */
    m = metrics_create(TASK_CLASSIFY, METRICS_MAX_CONFUSION + 1, -100);
    CHECK(metrics_confusion(m) == NULL);
    CHECK(!metrics_per_class(m, pc));
    CHECK_EQ(metrics_confused_pairs(m, 4, top), 0);
    metrics_destroy(m);
}

/* segment_hand's per-class IoU: 1/3, 1/2, 1/3 and class 3 absent (NaN); their mean over the
 * present classes is the mIoU; the rows sum to each class's counted pixels (2, 3, 2, 0). */
static void segment_per_class(void)
{
    int32_t lab[9] = {0, 0, 1, 1, 2, 2, 255, -100, 1}, pred[9] = {0, 1, 1, 1, 0, 2, 3, 0, 2};
    metrics *m = metrics_create(TASK_SEGMENT, 4, 255);
    metrics_add_segment(m, pred, lab, 9);
    metrics_class pc[4];
    CHECK(metrics_per_class(m, pc));
    CHECK_NEAR(pc[0].iou, 1.0 / 3.0, 1e-15);
    CHECK_NEAR(pc[1].iou, 0.5, 1e-15);
    CHECK_NEAR(pc[2].iou, 1.0 / 3.0, 1e-15);
    CHECK(isnan(pc[3].iou));
    const double support[4] = {2, 3, 2, 0};
    double sum = 0;
    for (int c = 0; c < 4; c++) {
        CHECK_EQ(pc[c].support, support[c]);
        sum += c < 3 ? pc[c].iou : 0.0;
    }
    metrics_result r;
    metrics_result_get(m, &r);
    CHECK_NEAR(sum / 3.0, r.miou, 1e-15);
    metrics_destroy(m);
}

/* The noisy input's PSNR: error 0.2 everywhere, mse 0.04: 10 log10(1 / 0.04) dB. */
static void denoise_input(void)
{
    float pred[4] = {0, 0, 0, 0}, tgt[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    float noisy[4] = {0.3f, -0.1f, 0.3f, -0.1f};
    metrics *m = metrics_create(TASK_DENOISE, 0, -100);
    metrics_add_denoise(m, pred, tgt, noisy, NULL, 1, 4, 1.0);
    metrics_result r;
    metrics_result_get(m, &r);
    CHECK_NEAR(r.psnr, 20.0, 1e-5);
    CHECK_NEAR(r.psnr_input, 10.0 * log10(1.0 / 0.04), 1e-5);
    metrics_destroy(m);
}

int main(void)
{
    classify_per_class();
    segment_per_class();
    denoise_input();
    classify_hand();
    classify_numpy();
    segment_hand();
    segment_numpy();
    denoise_hand();
    printf("metrics: ok\n");
    return 0;
}
