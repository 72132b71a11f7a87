/* cnn-dist eval: the evaluation of training, alone (train.h train_evaluate). The trainer is
 * set up in its evaluation mode (forward-only net, the checkpoint's weights, the
 * validation split only), runs the same pass as a training run's evaluation, and rank 0
 * reports: the summary and per-class table on stdout, eval.json and, for a classifier,
 * eval_samples.csv (every sample's prediction, gathered over ranks by one sum) and
 * confusion.png. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../io/io.h"
#include "../viz/viz.h"
#include "trainer_impl.h"

#define EVAL_CONFUSED_PAIRS 10

static const char *task_name(task_kind k)
{
    return k == TASK_CLASSIFY ? "classify" : k == TASK_SEGMENT ? "segment" : "denoise";
}

static void json_key_num(FILE *f, const char *key, double v)
{
    fprintf(f, ", \"%s\": ", key);
    json_write_num(f, v, 9);
}

/* "per_class", "confusion" and "most_confused" of eval.json. */
static void json_classes(const trainer *t, FILE *f)
{
    const metrics *m = t->val_metrics;
    int C = metrics_classes(m);
    metrics_class *pc = cnn_xmalloc((size_t)C * sizeof *pc);
    if (!metrics_per_class(m, pc)) {
        free(pc);
        return;
    }
    char b[32];
    fputs(", \"per_class\": [", f);
    for (int c = 0; c < C; c++) {
        fputs(c ? ", {\"class\": " : "{\"class\": ", f);
        json_write_str(f, trainer_class_name(t, c, b, sizeof b));
        fprintf(f, ", \"index\": %d, \"support\": %.0f, \"predicted\": %.0f", c, pc[c].support,
                pc[c].predicted);
        if (t->task == TASK_CLASSIFY) {
            json_key_num(f, "precision", pc[c].precision);
            json_key_num(f, "recall", pc[c].recall);
        } else {
            json_key_num(f, "iou", pc[c].iou);
        }
        fputc('}', f);
    }
    fputs("], \"confusion\": [", f);
    const double *cm = metrics_confusion(m);
    for (int r = 0; r < C; r++) {
        fputs(r ? ", [" : "[", f);
        for (int c = 0; c < C; c++)
            fprintf(f, "%s%.0f", c ? ", " : "", cm[(int64_t)r * C + c]);
        fputc(']', f);
    }
    metrics_pair top[EVAL_CONFUSED_PAIRS];
    int np = metrics_confused_pairs(m, EVAL_CONFUSED_PAIRS, top);
    fputs("], \"most_confused\": [", f);
    for (int i = 0; i < np; i++) {
        fputs(i ? ", {\"true\": " : "{\"true\": ", f);
        json_write_str(f, trainer_class_name(t, top[i].truth, b, sizeof b));
        fputs(", \"predicted\": ", f);
        json_write_str(f, trainer_class_name(t, top[i].pred, b, sizeof b));
        fprintf(f, ", \"true_index\": %d, \"predicted_index\": %d, \"count\": %.0f}",
                top[i].truth, top[i].pred, top[i].count);
    }
    fputc(']', f);
    free(pc);
}

static char *eval_json(const trainer *t, const metrics_result *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        cnn_fatal("open_memstream: out of memory for eval.json");
    fputs("{\"checkpoint\": ", f);
    json_write_str(f, t->eval->ckpt);
    fputs(", \"data\": ", f);
    json_write_str(f, t->eval->data ? t->eval->data : t->rc->data.val);
    fprintf(f, ", \"task\": \"%s\", \"ranks\": %d", task_name(t->task), t->world);
    char fields[512];
    metrics_result_json(t->val_metrics, r, fields, sizeof fields);
    fprintf(f, ", %s", fields);
    json_classes(t, f);
    fputs("}\n", f);
    fclose(f);
    return text;
}

/* A ratio without samples (a class never predicted, or absent) is NaN: "-" reads better. */
static bool print_ratio(double v)
{
    if (isnan(v)) {
        printf("%10s ", "-");
        return true;
    }
    printf("%10.4f ", v);
    return false;
}

static void print_classes(const trainer *t)
{
    const metrics *m = t->val_metrics;
    int C = metrics_classes(m);
    metrics_class *pc = cnn_xmalloc((size_t)C * sizeof *pc);
    char b[32];
    if (metrics_per_class(m, pc)) {
        bool cls = t->task == TASK_CLASSIFY;
        printf("%-24s %10s %10s %10s\n", "class", cls ? "precision" : "IoU",
               cls ? "recall" : "", cls ? "support" : "pixels");
        bool dash = false;
        for (int c = 0; c < C; c++) {
            printf("%-24.24s ", trainer_class_name(t, c, b, sizeof b));
            dash |= print_ratio(cls ? pc[c].precision : pc[c].iou);
            if (cls)
                dash |= print_ratio(pc[c].recall);
            else
                printf("%10s ", "");
            printf("%10.0f\n", pc[c].support);
        }
        if (dash)
            printf("%s\n", cls ? "(-: a class never predicted has no precision, one never "
                                 "present no recall)"
                               : "(-: the class is neither present nor predicted)");
    }
    metrics_pair top[EVAL_CONFUSED_PAIRS];
    int np = t->task == TASK_CLASSIFY ? metrics_confused_pairs(m, 5, top) : 0;
    for (int i = 0; i < np; i++) {
        char b2[32];
        printf("%s%s -> %s %.0f", i ? ", " : "most confused (true -> predicted): ",
               trainer_class_name(t, top[i].truth, b, sizeof b),
               trainer_class_name(t, top[i].pred, b2, sizeof b2), top[i].count);
    }
    if (np)
        printf("\n");
    free(pc);
}

static void print_summary(const trainer *t, const metrics_result *r)
{
    printf("eval %s on %s: %lld %s, %d rank%s\n", t->eval->ckpt,
           t->eval->data ? t->eval->data : t->rc->data.val,
           (long long)dataset_get_info(t->val.ds)->n,
           t->task == TASK_SEGMENT ? "images" : "samples", t->world, t->world > 1 ? "s" : "");
    if (t->task == TASK_CLASSIFY)
        printf("loss %.4f  top-1 %.4f  top-5 %.4f\n", r->loss, r->top1, r->top5);
    else if (t->task == TASK_SEGMENT)
        printf("loss %.4f  pixel accuracy %.4f  mIoU %.4f (%lld pixels)\n", r->loss,
               r->pixel_acc, r->miou, (long long)r->n);
    else
        printf("loss %.6f  PSNR %.2f dB, noisy input %.2f dB, gain %.2f dB\n", r->loss,
               r->psnr, r->psnr_input, r->psnr - r->psnr_input);
    print_classes(t);
}

static int write_file(const char *dir, const char *name, const char *text, cnn_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *tmp = io_tmp_name(path, "");
    int rc = io_file_write(tmp, text, strlen(text), e);
    if (rc == CNN_OK)
        rc = io_file_commit(tmp, path, e);
    free(tmp);
    if (rc == CNN_OK)
        printf("wrote %s\n", path);
    return rc;
}

static char *samples_csv(const trainer *t)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        cnn_fatal("open_memstream: out of memory for eval_samples.csv");
    const dataset_info *in = dataset_get_info(t->val.ds);
    fputs("index,label,predicted,probability\n", f);
    for (int64_t i = 0; i < in->n; i++) {
        sample_ref ref;
        dataset_ref(t->val.ds, i, &ref);
        fprintf(f, "%lld,%d,%.0f,%.6g\n", (long long)i, ref.label, t->sample_pred[i] - 1,
                t->sample_prob[i]);
    }
    fclose(f);
    return text;
}

/* confusion.png beside eval.json, as a training run draws it at its end. */
static int draw_confusion(const trainer *t)
{
    char path[4200], title[256];
    snprintf(path, sizeof path, "%s/confusion.png", t->eval->out_dir);
    const char *data = t->eval->data ? t->eval->data : t->rc->data.val;
    const char *cs = strrchr(t->eval->ckpt, '/'), *ds = strrchr(data, '/');
    snprintf(title, sizeof title, "confusion of %s on %s", cs ? cs + 1 : t->eval->ckpt,
             ds ? ds + 1 : data);
    cnn_err e = {0};
    int r = trainer_draw_confusion(t, path, title, &e);
    if (r < 0)
        log_warn("%s", e.msg); /* a picture is not worth failing the evaluation */
    else if (r == CNN_OK)
        printf("wrote %s\n", path);
    return CNN_OK;
}

/* Rank 0, before the evaluation: the output folder exists and takes files (an error after
 * minutes of evaluating would waste them). */
static int check_out_dir(const char *dir, cnn_err *e)
{
    char d[4200], probe[4300];
    snprintf(d, sizeof d, "%s/", dir);
    CNN_TRY(e, io_mkdir_parents(d, e));
    snprintf(probe, sizeof probe, "%s/.cnn-dist-eval-probe", dir);
    int rc = io_file_write(probe, "", 0, e);
    if (rc < 0) {
        cnn_err_prefix(e, "--out %s cannot take eval.json: ", dir);
        return rc;
    }
    remove(probe);
    return CNN_OK;
}

/* Rank 0: the report; its errors (an unwritable folder) are agreed on by the caller. */
static int report(const trainer *t, const metrics_result *r, cnn_err *e)
{
    print_summary(t, r);
    char *json = eval_json(t, r);
    int rc = write_file(t->eval->out_dir, "eval.json", json, e);
    free(json);
    if (rc == CNN_OK && t->sample_pred) {
        char *csv = samples_csv(t);
        rc = write_file(t->eval->out_dir, "eval_samples.csv", csv, e);
        free(csv);
    }
    if (rc == CNN_OK && viz_available())
        rc = draw_confusion(t);
    fflush(stdout);
    return rc;
}

int train_evaluate(const run_config *rc, comm *c, const eval_opts *o, cnn_err *e)
{
    trainer t = {.rc = rc, .c = c, .eval = o, .rank = comm_rank(c), .world = comm_size(c)};
    int r = trainer_agreed(&t, ckpt_read_info(o->ckpt, &t.ckpt_info, e), e);
    if (r == CNN_OK)
        r = trainer_agreed(&t, t.rank == 0 ? check_out_dir(o->out_dir, e) : CNN_OK, e);
    if (r == CNN_OK)
        r = trainer_setup(&t, e);
    if (r == CNN_OK) {
        int64_t n = dataset_get_info(t.val.ds)->n;
        if (t.task == TASK_CLASSIFY) {
            t.sample_pred = cnn_xcalloc((size_t)n, sizeof *t.sample_pred);
            t.sample_prob = cnn_xcalloc((size_t)n, sizeof *t.sample_prob);
        }
        metrics_result res;
        comm_set_phase(c, "evaluation");
        trainer_eval_pass(&t, &res);
        for (int64_t at = 0; t.sample_pred && at < n; at += 1 << 20) {
            int k = (int)(n - at < (1 << 20) ? n - at : 1 << 20);
            comm_allreduce_sum_f64(c, t.sample_pred + at, k, "eval sample predictions");
            comm_allreduce_sum_f64(c, t.sample_prob + at, k, "eval sample probabilities");
        }
        r = trainer_agreed(&t, t.rank == 0 ? report(&t, &res, e) : CNN_OK, e);
    }
    free(t.sample_pred);
    free(t.sample_prob);
    trainer_teardown(&t);
    ckpt_info_free(&t.ckpt_info);
    return r;
}
