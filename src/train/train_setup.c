/* Building a run on every rank: the backend (this rank's GPU from its node-local rank), the
 * net for the per-rank batch with weights from rank 0, the datasets checked against the
 * model, the loaders (pinned batches on CUDA), the optimizer, the EMA and the reducer.
 * Every step that can fail on some ranks only ends in comm_agree, so no rank is left in a
 * collective when another could not start. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer_impl.h"

int trainer_agreed(trainer *t, int rc, cnn_err *e)
{
    int all = comm_agree(t->c, rc);
    if (all < 0 && rc >= 0)
        return CNN_ERR(e, CNN_ESTATE, "another rank failed to start (see its message)");
    return all < 0 ? rc : CNN_OK;
}

int train_threads(const run_config *rc, comm *c)
{
    if (rc->threads > 0)
        return (int)rc->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN); /* all cores of the node, shared by its ranks */
    int t = (int)(cores > 0 ? cores : 1) / comm_local_size(c);
    return t > 0 ? t : 1;
}

int train_backend_create(const run_config *rc, comm *c, backend **out, cnn_err *e)
{
    static const char *const names[] = {"auto", "cpu", "cuda"};
    int threads = train_threads(rc, c);
    /* MPI reduces host memory only: with it, auto means the CPU. */
    bool host = rc->device == RUN_DEVICE_AUTO && rc->comm.transport == RUN_TRANSPORT_MPI;
    backend_opts o = {.name = host ? "cpu" : names[rc->device],
                      .threads = threads,
                      .gpu = comm_local_rank(c),
                      .workspace_bytes = (size_t)rc->cuda.workspace_mb << 20,
                      .deterministic = rc->cuda.deterministic};
    CNN_TRY(e, backend_create_opts(&o, out, e));
    if ((*out)->ops->dev == DEVICE_CPU && rc->comm.transport == RUN_TRANSPORT_NCCL)
        return CNN_ERR(e, CNN_EINVAL, "comm.transport is nccl, but device %s gave the cpu "
                       "backend (no GPU visible, or a build without CUDA): NCCL reduces GPU "
                       "memory; use comm.transport: auto (MPI here) or run on GPU nodes",
                       names[rc->device]);
    if ((*out)->ops->dev == DEVICE_CPU && (rc->precision != RUN_FP32 || rc->channels_last))
        log_warn("the cpu backend emulates %s%s%s (same results as a GPU's rounding "
                 "and layout, but slower than fp32 NCHW): for checking a config",
                 rc->precision == RUN_BF16 ? "bf16" : rc->precision == RUN_FP16 ? "fp16" : "",
                 rc->precision != RUN_FP32 && rc->channels_last ? " and " : "",
                 rc->channels_last ? "channels_last" : "");
    return CNN_OK;
}

/* What the model's loss and output say about the task, and the loss's own keys. */
static void read_task(trainer *t)
{
    loss_decl d = net_loss_decl(t->n);
    t->ignore = d.ignore_index;
    t->smoothing = d.label_smoothing;
    t->classes = net_classes(t->n);
    t->task = net_task(t->n);
}

net_opts train_net_opts(const run_config *rc)
{
    return (net_opts){.soft_targets = rc->train.mixup > 0 || rc->train.cutmix > 0,
                      .precision = run_config_precision_dtype(rc),
                      .channels_last = rc->channels_last};
}

static int setup_net(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    int rank_batch;
    CNN_TRY(e, run_config_rank_batch(rc, t->world, &rank_batch, e));
    net_opts no = train_net_opts(rc);
    if (t->eval) /* labels, not mixed targets: the loss is the same */
        no = (net_opts){.precision = no.precision, .channels_last = no.channels_last,
                        .inference = true};
    t->soft = no.soft_targets;
    CNN_TRY(e, net_create_opts(rc->model, rank_batch, &no, &t->n, e));
    read_task(t); /* net_create_opts refused soft targets for a non-classifier */
    if (t->task == TASK_DENOISE && !(rc->data.noise_std > 0))
        return CNN_ERR(e, CNN_EINVAL, "the model is a denoiser (mse_loss), but data.noise_std "
                       "is 0: its inputs are the images plus N(0, noise_std^2) noise and its "
                       "targets the clean images; set data.noise_std (e.g. 0.1)");
    return CNN_OK;
}

/* train.init_weights, read by every rank (as a resume is); the tensors kept from the seed's
 * initialization are named on rank 0. */
static int load_init_weights(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    char *skipped = NULL;
    int r = ckpt_load_weights(rc->train.init_weights, t->n, rc->train.init_strict, &skipped, e);
    if (r < 0) {
        cnn_err_prefix(e, "train.init_weights: ");
        return r;
    }
    if (t->rank == 0)
        printf("cnn-dist: initial weights from %s%s%s%s\n", rc->train.init_weights,
               skipped ? " (kept from the seed's initialization, not in the file or shaped "
                         "differently there: " : "", skipped ? skipped : "", skipped ? ")" : "");
    free(skipped);
    return CNN_OK;
}

int trainer_init_weights_file(trainer *t, cnn_err *e)
{
    return t->rc->train.init_weights ? trainer_agreed(t, load_init_weights(t, e), e) : CNN_OK;
}

/* Same weights everywhere: initialised from the shared seed, then rank 0's broadcast. */
static void init_weights(trainer *t)
{
    net *n = t->n;
    net_init(n, rng_fold_str(t->root, "init"));
    if (n->params_flat.data)
        comm_bcast_tensor(t->c, t->be, &n->params_flat, 0, "initial weights");
    if (n->buffers_flat.data)
        comm_bcast_tensor(t->c, t->be, &n->buffers_flat, 0, "initial buffers");
}

/* Host staging and device scratch of the step and the evaluation. */
static int setup_buffers(trainer *t, cnn_err *e)
{
    net *n = t->n;
    int64_t in_elems = shape_numel(&n->in_shape), tgt = shape_numel(&n->target_shape);
    t->mix = (mix_cfg){.mixup_alpha = t->rc->train.mixup, .cutmix_alpha = t->rc->train.cutmix,
                       .smoothing = t->smoothing, .classes = t->classes};
    t->stage_images = cnn_xmalloc((size_t)in_elems * sizeof(float));
    t->stage_target = cnn_xmalloc((size_t)tgt * 4); /* i32 labels or f32 */
    t->loss_acc = tensor_view(NULL, shape_make(1, (int64_t[]){1}), DTYPE_F32, n->be->ops->dev);
    CNN_TRY(e, backend_alloc_tensor(t->be, &t->loss_acc, e));
    t->be->ops->fill(t->be, &t->loss_acc, 0);
    const shape *out = &n->nodes[n->output].l->out;
    t->eval_host = cnn_xmalloc((size_t)shape_numel(out) * sizeof(float));
    if (n->precision != DTYPE_F32 || (n->lay == LAYOUT_NHWC && out->nd == 4)) {
        /* an f16/bf16 or channels-last output is downloaded through f32 NCHW */
        t->eval_out = tensor_view(NULL, *out, DTYPE_F32, n->be->ops->dev);
        CNN_TRY(e, backend_alloc_tensor(t->be, &t->eval_out, e));
    }
    if (t->task == TASK_SEGMENT) {
        shape s = n->target_shape;
        t->eval_idx = cnn_xmalloc((size_t)shape_numel(&s) * sizeof(int32_t));
        t->eval_argmax = tensor_view(NULL, s, DTYPE_I32, n->be->ops->dev);
        CNN_TRY(e, backend_alloc_tensor(t->be, &t->eval_argmax, e));
    }
    t->val_metrics = metrics_create(t->task, t->classes, t->ignore);
    return CNN_OK;
}

static int setup_training(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    CNN_TRY(e, optim_create(rc, t->n, &t->opt, e));
    if (rc->train.ema > 0)
        CNN_TRY(e, ema_create(t->n, rc->train.ema, &t->avg, e));
    if (t->world > 1) /* one rank has nothing to reduce */
        CNN_TRY(e, reducer_create(t->c, t->n, (size_t)(rc->comm.bucket_mb * 1048576.0),
                                  &t->red, e));
    t->x = (exec){.be = t->be, .training = true, .loss_scale = optim_loss_scale(t->opt)};
    if (rc->comm.sync_bn && t->world > 1) {
        t->sbn = (comm_sync_bn){.c = t->c, .be = t->be};
        t->x.reduce_sum = comm_sync_bn_reduce;
        t->x.reduce_ctx = &t->sbn;
        t->x.reduce_ranks = t->world;
    }
    return CNN_OK;
}

int trainer_setup(trainer *t, cnn_err *e)
{
    t->rank = comm_rank(t->c);
    t->world = comm_size(t->c);
    t->seed = (uint64_t)t->rc->seed;
    t->root = rng_key_from_seed(t->seed);
    CNN_TRY(e, trainer_agreed(t, train_backend_create(t->rc, t->c, &t->be, e), e));
    CNN_TRY(e, trainer_agreed(t, setup_net(t, e), e));
    /* the data before the net's memory: a missing dataset is reported at once, not after
     * allocating (or failing to allocate) a large model */
    CNN_TRY(e, trainer_agreed(t, trainer_setup_data(t, e), e));
    CNN_TRY(e, trainer_agreed(t, net_alloc(t->n, t->be, e), e));
    if (t->eval) /* every rank reads the checkpoint, as a resume does */
        CNN_TRY(e, trainer_agreed(t, ckpt_load(t->eval->ckpt, t->n, NULL, NULL, 0, NULL, e),
                                  e));
    else
        init_weights(t);
    int rc = setup_buffers(t, e);
    if (rc >= 0 && !t->eval)
        rc = setup_training(t, e);
    if (t->eval)
        t->x = (exec){.be = t->be, .training = false, .reduce_ranks = 1};
    return trainer_agreed(t, rc, e);
}

static void close_split(split *sp)
{
    if (sp->ld)
        loader_destroy(sp->ld);
    if (sp->ds)
        dataset_close(sp->ds);
}

void trainer_teardown(trainer *t)
{
    close_split(&t->train);
    close_split(&t->val);
    if (t->red)
        reducer_destroy(t->red);
    if (t->avg)
        ema_destroy(t->avg);
    if (t->opt)
        optim_destroy(t->opt);
    if (t->val_metrics)
        metrics_destroy(t->val_metrics);
    if (t->be) {
        backend_free_tensor(t->be, &t->loss_acc);
        backend_free_tensor(t->be, &t->eval_argmax);
        backend_free_tensor(t->be, &t->eval_out);
    }
    free(t->stage_images);
    free(t->stage_target);
    free(t->eval_host);
    free(t->eval_idx);
    if (t->n)
        net_destroy(t->n);
    if (t->be)
        backend_destroy(t->be);
}
