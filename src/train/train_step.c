/* One optimizer step on every rank: train.accum_steps loader batches, each uploaded, run
 * forward and backward with the rank's share of the global mean loss as the loss gradient
 * (its counted elements over all ranks' counted elements, from one small all-reduce that
 * also carries the stop request of a signal), the last backward feeding the reducer's
 * buckets as gradients finish; then the averaged gradients go to the optimizer. */
#include <string.h>

#include "trainer_impl.h"

/* Labels as the loss wants them: padding (-100) becomes the loss's ignore index. Returns
 * the elements the loss counts. */
static double stage_labels(const trainer *t, const int32_t *src, int count, int64_t per,
                           int32_t *dst)
{
    int64_t n_valid = (int64_t)count * per, total = (int64_t)t->n->batch * per, counted = 0;
    for (int64_t i = 0; i < total; i++) {
        int32_t v = i < n_valid ? src[i] : t->ignore;
        dst[i] = v == -100 ? t->ignore : v;
        counted += dst[i] != t->ignore;
    }
    return (double)counted;
}

/* Images of samples [first, first + count) of b, zero-padded to the net's batch (eval). */
static const float *stage_images(trainer *t, const float *src, int count, int64_t per)
{
    if (count == t->n->batch)
        return src;
    memcpy(t->stage_images, src, (size_t)(count * per) * sizeof(float));
    memset(t->stage_images + count * per, 0, (size_t)((t->n->batch - count) * per) *
           sizeof(float));
    return t->stage_images;
}

double trainer_upload(trainer *t, const batch *b, int first, int count, bool train)
{
    net *n = t->n;
    int64_t per = shape_inner(&n->in_shape, 1);
    const float *img = stage_images(t, b->images + first * per, count, per);
    double counted;
    if (t->soft) { /* evaluation too: smoothed one-hot rows, nothing mixed */
        mix_cfg mc = t->mix;
        if (!train)
            mc.mixup_alpha = mc.cutmix_alpha = 0;
        if (img != t->stage_images)
            memcpy(t->stage_images, img, (size_t)(count * per) * sizeof(float));
        const shape *s = &n->in_shape;
        float *soft = t->stage_target;
        mix_batch(&mc, rng_fold_str(t->root, "mix"), t->step, t->stage_images, count,
                  (int)s->d[1], (int)s->d[2], (int)s->d[3], b->labels + first, soft);
        memset(soft + (int64_t)count * t->classes, 0,
               (size_t)((n->batch - count) * t->classes) * sizeof(float));
        img = t->stage_images;
        counted = 0;
        for (int i = 0; i < count; i++)
            counted += b->labels[first + i] != -100;
    } else if (t->task == TASK_DENOISE) {
        const float *tg = b->targets + first * per;
        if (count < n->batch) {
            memcpy(t->stage_target, tg, (size_t)(count * per) * sizeof(float));
            memset((float *)t->stage_target + count * per, 0,
                   (size_t)((n->batch - count) * per) * sizeof(float));
            tg = t->stage_target;
        }
        backend_upload(t->be, &n->target, tg);
        backend_upload(t->be, &n->input, img);
        return (double)n->batch * (double)per; /* mse_loss: mean over every element */
    } else {
        int64_t lab_per = shape_inner(&n->target_shape, 1);
        counted = stage_labels(t, b->labels + first * lab_per, count, lab_per,
                               t->stage_target);
    }
    backend_upload(t->be, &n->input, img);
    backend_upload(t->be, &n->target, t->stage_target);
    return counted;
}

static const batch *next_batch(trainer *t)
{
    const batch *b = NULL;
    cnn_err e = {0};
    if (loader_next(t->train.ld, &b, &e) < 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "reading training data: %s", e.msg);
        comm_abort(t->c, msg);
    }
    CNN_ASSERT(b && b->n == t->n->batch);
    return b;
}

/* Without synchronized BN each rank's running statistics follow its own slices; averaging
 * them after every step (one small all-reduce; DDP broadcasts rank 0's instead) keeps the
 * replicas identical, so evaluation and checkpoints need no extra step and a checkpoint
 * changes nothing in the run that writes it (exact resume). */
static void sync_buffers(trainer *t)
{
    tensor *b = &t->n->buffers_flat;
    if (t->world == 1 || !b->data || t->rc->comm.sync_bn)
        return;
    comm_allreduce_sum_tensor(t->c, t->be, b, "BN running statistics");
    t->be->ops->axpby(t->be, 0.0f, b, 1.0f / (float)t->world, b);
}

bool trainer_step(trainer *t)
{
    const run_config *rc = t->rc;
    net *n = t->n;
    backend *be = t->be;
    int accum = (int)rc->train.accum_steps;
    char where[24];
    snprintf(where, sizeof where, "%lld", (long long)(t->step + 1));
    trainer_phase(t, "epoch %lld, step %lld", (long long)t->epoch + 1, (long long)t->step + 1);
    trainer_stall_point(t, where);
    for (int m = 0; m < accum; m++) {
        const batch *b = next_batch(t);
        bool last = m == accum - 1;
        double local = trainer_upload(t, b, 0, b->n, true);
        double g[2] = {local, last && trainer_signalled()};
        comm_allreduce_sum_f64(t->c, g, 2, "loss element count");
        rng_key k = rng_fold(rng_fold_str(t->root, "step"), (uint64_t)(t->step * accum + m));
        t->x.key = rng_fold(k, (uint64_t)t->rank); /* dropout: own masks per rank */
        t->x.param_grad_beta = m ? 1.0f : 0.0f;
        net_forward(n, &t->x, true);
        float share = g[0] > 0 ? (float)(local / g[0]) : 0.0f;
        be->ops->axpby(be, share, net_loss_value(n), 1.0f, &t->loss_acc);
        net_backward_scaled(n, &t->x, share / (float)accum,
                            last && t->red ? reducer_hook : NULL, t->red);
        t->micro++;
        t->micro_since_log++;
        if (last && g[1] > 0)
            t->stop_requested = true;
    }
    if (t->red)
        reducer_finish(t->red);
    sync_buffers(t);
    t->lr = sched_lr(rc, t->step, t->steps_per_epoch);
    optim_step(t->opt, t->lr, t->step + 1);
    if (t->avg)
        ema_update(t->avg);
    t->step++;
    t->steps_since_log++;
    return t->micro + accum > t->micro_per_epoch; /* the epoch's last whole step */
}
