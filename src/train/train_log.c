/* What a run tells its user: the progress line on rank 0 every log.every steps (epoch,
 * step/total, loss, lr, img/s, time waiting for data, exposed communication, ETA) and
 * RUN_DIR/metrics.jsonl, one JSON object per line (training lines: epoch, step, loss, lr,
 * img_per_s, data_wait_s, comm_exposed_s, time_s; evaluation lines: "split": "val", epoch,
 * step and the metrics). The loss is the global mean over the steps since the last line:
 * every rank adds its share on the device, and one all-reduce on logging steps sums them.
 * RUN_DIR/config.yaml holds the effective config. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../io/io.h"
#include "trainer_impl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(double s, char *buf, size_t n)
{
    long v = (long)(s + 0.5);
    if (v >= 3600)
        snprintf(buf, n, "%ldh%02ldm", v / 3600, v / 60 % 60);
    else if (v >= 60)
        snprintf(buf, n, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(buf, n, "%lds", v);
}

/* RUN_DIR/config.yaml: the effective config (every default and --set applied), so the run
 * can be repeated with `cnn-dist RUN_DIR/config.yaml`. */
static int write_config(const trainer *t, cnn_err *e)
{
    char path[4096], *text;
    snprintf(path, sizeof path, "%s/config.yaml", t->rc->run.dir);
    CNN_TRY(e, run_config_to_yaml(t->rc, &text, e));
    int rc = io_file_write(path, text, strlen(text), e);
    free(text);
    return rc;
}

int trainer_log_open(trainer *t, cnn_err *e)
{
    int rc = CNN_OK;
    if (t->rank == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/metrics.jsonl", t->rc->run.dir);
        rc = write_config(t, e);
        t->jsonl = rc < 0 ? NULL : fopen(path, "a");
        if (rc >= 0 && !t->jsonl)
            rc = CNN_ERR(e, CNN_EIO, "cannot open %s for appending: %s; check run.dir",
                         path, strerror(errno));
    }
    int all = comm_agree(t->c, rc);
    if (all < 0 && rc >= 0)
        return CNN_ERR(e, CNN_ESTATE, "rank 0 could not open metrics.jsonl");
    t->t_start = t->t_log = now_s();
    if (t->rank == 0)
        printf("cnn-dist: %s on %d rank%s (%s, %s%s): %lld samples, global batch %lld (%d "
               "per rank) x %lld accumulation, %lld steps per epoch, %lld steps from step "
               "%lld; run dir %s\n", t->opts->config_path ? t->opts->config_path : "config",
               t->world, t->world > 1 ? "s" : "", t->be->ops->name,
               dtype_name(t->n->precision), t->n->lay == LAYOUT_NHWC ? ", channels-last" : "",
               (long long)t->train.smp.n, (long long)t->rc->data.batch_size,
               t->n->batch, (long long)t->rc->train.accum_steps,
               (long long)t->steps_per_epoch, (long long)t->total_steps, (long long)t->step,
               t->rc->run.dir);
    if (t->rank == 0 && t->augment_line[0])
        printf("cnn-dist: training augmentation: %s\n", t->augment_line);
    if (t->rank == 0 && t->step >= t->total_steps)
        printf("cnn-dist: this run finished at step %lld; nothing to train (raise train.epochs "
               "or train.max_steps to go on)\n", (long long)t->step);
    fflush(stdout);
    return all;
}

/* The epoch the last step belongs to (1-based; 0 before the first step), the same in
 * training and evaluation lines, also when train.max_steps stops mid-epoch. */
static int64_t epoch_of_step(const trainer *t)
{
    return t->step > 0 ? (t->step - 1) / t->steps_per_epoch + 1 : 0;
}

void trainer_jsonl(trainer *t, const char *fields)
{
    if (!t->jsonl)
        return;
    fprintf(t->jsonl, "{%s}\n", fields);
    fflush(t->jsonl);
}

void trainer_log_step(trainer *t)
{
    const run_config *rc = t->rc;
    if (t->step % rc->log.every && t->step != t->total_steps && !t->stop_requested)
        return;
    float loss_local;
    backend_download(t->be, &t->loss_acc, &loss_local); /* waits for the device */
    t->be->ops->fill(t->be, &t->loss_acc, 0);
    reducer_stats rs = {0};
    if (t->red)
        reducer_get_stats(t->red, &rs);
    double v[3] = {loss_local, loader_wait_seconds(t->train.ld),
                   rs.exposed_seconds - t->exposed_log};
    t->exposed_log = rs.exposed_seconds;
    comm_allreduce_sum_f64(t->c, v, 3, "training loss");
    double scale = optim_loss_scale_value(t->opt); /* the same on every rank */
    double now = now_s(), dt = now - t->t_log;
    double loss = v[0] / (double)(t->micro_since_log ? t->micro_since_log : 1);
    double wait = v[1] / t->world, exposed = v[2] / t->world;
    double ips = dt > 0 ? (double)(t->micro_since_log * rc->data.batch_size) / dt : 0;
    double eta = t->steps_since_log ? dt / (double)t->steps_since_log *
                                          (double)(t->total_steps - t->step) : 0;
    int64_t epoch = epoch_of_step(t);
    if (t->rank == 0) {
        char eta_s[32], buf[512];
        fmt_duration(eta, eta_s, sizeof eta_s);
        printf("epoch %lld/%lld step %lld/%lld loss %.4f lr %.4g img/s %.0f data %.1f%% comm "
               "%.1f%% eta %s\n", (long long)epoch, (long long)rc->train.epochs,
               (long long)t->step, (long long)t->total_steps, loss, t->lr, ips,
               dt > 0 ? 100 * wait / dt : 0, dt > 0 ? 100 * exposed / dt : 0, eta_s);
        fflush(stdout);
        int k = snprintf(buf, sizeof buf, "\"epoch\": %lld, \"step\": %lld", (long long)epoch,
                         (long long)t->step);
        json_field(buf, sizeof buf, &k, "loss", loss);
        json_field(buf, sizeof buf, &k, "lr", t->lr);
        json_field(buf, sizeof buf, &k, "img_per_s", ips);
        json_field(buf, sizeof buf, &k, "data_wait_s", wait);
        json_field(buf, sizeof buf, &k, "comm_exposed_s", exposed);
        json_field(buf, sizeof buf, &k, "time_s", now - t->t_start);
        if (rc->precision == RUN_FP16)
            json_field(buf, sizeof buf, &k, "loss_scale", scale);
        trainer_jsonl(t, buf);
        static const char *const tags[] = {"train/loss", "train/lr", "train/img_per_s",
                                           "train/data_wait_s", "train/comm_exposed_s",
                                           "train/loss_scale"};
        const double tv[] = {loss, t->lr, ips, wait, exposed, scale};
        trainer_tb_scalars(t, tags, tv, rc->precision == RUN_FP16 ? 6 : 5);
    }
    t->t_log = now;
    t->micro_since_log = t->steps_since_log = 0;
}

void trainer_log_eval(trainer *t, const char *split, const metrics_result *r)
{
    if (t->rank != 0)
        return;
    char fields[512], *line = NULL;
    size_t len = 0;
    metrics_result_json(t->val_metrics, r, fields, sizeof fields);
    FILE *f = open_memstream(&line, &len);
    if (!f)
        cnn_fatal("open_memstream: out of memory for an evaluation line");
    fprintf(f, "\"split\": \"%s\", \"epoch\": %lld, \"step\": %lld, %s", split,
            (long long)epoch_of_step(t), (long long)t->step, fields);
    if (metrics_confusion(t->val_metrics)) {
        fputs(", ", f);
        metrics_per_class_json(t->val_metrics, f);
    }
    fclose(f);
    trainer_jsonl(t, line);
    free(line);
    /* TensorBoard: "<split>/<key>" for the fields of the line above */
    static const char *const keys[3][3] = {{"loss", "top1", "top5"},
                                           {"loss", "pixel_acc", "miou"},
                                           {"loss", "psnr", "psnr_input"}};
    const double vals[3][3] = {{r->loss, r->top1, r->top5}, {r->loss, r->pixel_acc, r->miou},
                               {r->loss, r->psnr, r->psnr_input}};
    char tags[3][64];
    const char *tp[3];
    for (int i = 0; i < 3; i++) {
        snprintf(tags[i], sizeof tags[i], "%s/%s", split, keys[t->task][i]);
        tp[i] = tags[i];
    }
    trainer_tb_scalars(t, tp, vals[t->task], 3);
    printf("eval %s epoch %lld step %lld: %s\n", split, (long long)epoch_of_step(t),
           (long long)t->step, fields);
    fflush(stdout);
}

void trainer_log_close(trainer *t)
{
    if (t->jsonl)
        fclose(t->jsonl);
    t->jsonl = NULL;
}
