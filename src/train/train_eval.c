/* Evaluation on the validation split, the same on every rank: the eval sampler gives each
 * rank its slices of every global batch (padding marked), the rank runs them through the net
 * in chunks of its training batch, accumulates metrics on the host, and one all-reduce of
 * the accumulators makes every validation sample count exactly once. All ranks hold the
 * same BN running statistics (sync_buffers in train_step.c), so they evaluate one model.
 * With an EMA of the weights, the average is evaluated too ("split": "val_ema"). */
#include <math.h>

#include "trainer_impl.h"

static float download_loss(trainer *t)
{
    float v;
    backend_download(t->be, net_loss_value(t->n), &v);
    return v;
}

/* Denoising: the loss and PSNR (of the output, and of the noisy input for the gain) over the
 * chunk's real images only. */
static void add_denoise(trainer *t, const batch *b, int first, int count)
{
    int64_t per = shape_inner(&t->n->in_shape, 1);
    const float *tg = b->targets + first * per;
    bool valid[count > 0 ? count : 1];
    double sse = 0, n = 0;
    for (int i = 0; i < count; i++) {
        valid[i] = b->index[first + i] >= 0;
        for (int64_t j = 0; valid[i] && j < per; j++) {
            double d = (double)t->eval_host[i * per + j] - (double)tg[i * per + j];
            sse += d * d;
        }
        n += valid[i] ? (double)per : 0;
    }
    metrics_add_loss(t->val_metrics, sse, n);
    metrics_add_denoise(t->val_metrics, t->eval_host, tg, b->images + first * per, valid, count,
                        per, t->psnr_peak);
}

static void download_output(trainer *t, const tensor *out)
{
    if (t->eval_out.data) {
        t->be->ops->convert(t->be, out, &t->eval_out, 0.0f);
        out = &t->eval_out;
    }
    backend_download(t->be, out, t->eval_host);
}

/* eval_samples.csv: each real sample's predicted class (as the confusion matrix counts it)
 * and its softmax probability. */
static void record_samples(trainer *t, const batch *b, int first, int count)
{
    int C = t->classes;
    for (int i = 0; i < count; i++) {
        int64_t idx = b->index[first + i];
        if (idx < 0)
            continue;
        const float *x = t->eval_host + (int64_t)i * C;
        int p = metrics_predicted(x, C, b->labels[first + i]);
        double z = 0;
        for (int c = 0; c < C; c++)
            z += exp((double)x[c] - (double)x[p]);
        t->sample_pred[idx] = p + 1;
        t->sample_prob[idx] = 1.0 / z;
    }
}

static void eval_chunk(trainer *t, const batch *b, int first, int count)
{
    net *n = t->n;
    double counted = trainer_upload(t, b, first, count, false);
    net_forward(n, &t->x, t->task != TASK_DENOISE);
    const tensor *out = net_output(n);
    switch (t->task) {
    case TASK_CLASSIFY:
        download_output(t, out);
        metrics_add_classify(t->val_metrics, t->eval_host, b->labels + first, count);
        if (t->sample_pred)
            record_samples(t, b, first, count);
        break;
    case TASK_SEGMENT: {
        int64_t hw = shape_inner(&n->target_shape, 1);
        t->be->ops->argmax_channel(t->be, out, &t->eval_argmax);
        backend_download(t->be, &t->eval_argmax, t->eval_idx);
        metrics_add_segment(t->val_metrics, t->eval_idx, b->labels + first * hw,
                            (int64_t)count * hw);
        break;
    }
    case TASK_DENOISE:
        download_output(t, out);
        add_denoise(t, b, first, count);
        return;
    }
    if (counted > 0)
        metrics_add_loss(t->val_metrics, (double)download_loss(t) * counted, counted);
}

void trainer_eval_pass(trainer *t, metrics_result *r)
{
    split *v = &t->val;
    cnn_err e = {0};
    metrics_reset(t->val_metrics);
    t->x.training = false;
    if (loader_start_epoch(v->ld, 0, 0, &e) < 0)
        comm_abort(t->c, e.msg);
    for (;;) {
        const batch *b = NULL;
        if (loader_next(v->ld, &b, &e) < 0) {
            char msg[1200];
            snprintf(msg, sizeof msg, "reading validation data: %s", e.msg);
            comm_abort(t->c, msg);
        }
        if (!b)
            break;
        for (int first = 0; first < b->n; first += t->n->batch) {
            int count = b->n - first < t->n->batch ? b->n - first : t->n->batch;
            eval_chunk(t, b, first, count);
        }
    }
    t->x.training = true;
    int nb;
    double *buf = metrics_buffer(t->val_metrics, &nb);
    comm_allreduce_sum_f64(t->c, buf, nb, "evaluation metrics");
    metrics_result_get(t->val_metrics, r);
}

static void eval_once(trainer *t, const char *name)
{
    metrics_result r;
    trainer_eval_pass(t, &r);
    trainer_log_eval(t, name, &r);
}

void trainer_eval(trainer *t)
{
    if (!t->val.ld)
        return;
    trainer_phase(t, "evaluation after step %lld", (long long)t->step);
    trainer_stall_point(t, "eval");
    eval_once(t, "val");
    if (t->avg) {
        ema_swap(t->avg);
        eval_once(t, "val_ema");
        ema_swap(t->avg);
    }
    t->last_eval_step = t->step;
}
