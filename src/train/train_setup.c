/* Building a run on every rank: the backend (this rank's GPU from its node-local rank), the
 * net for the per-rank batch with weights from rank 0, the datasets checked against the
 * model, the loaders (pinned batches on CUDA), the optimizer, the EMA and the reducer.
 * Every step that can fail on some ranks only ends in comm_agree, so no rank is left in a
 * collective when another could not start. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer_impl.h"

/* Each stage's errors are agreed on before the next stage's collectives. */
static int agreed(trainer *t, int rc, cnn_err *e)
{
    int all = comm_agree(t->c, rc);
    if (all < 0 && rc >= 0)
        return CNN_ERR(e, CNN_ESTATE, "another rank failed to start (see its message)");
    return all < 0 ? rc : CNN_OK;
}

static int setup_backend(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    static const char *const names[] = {"auto", "cpu", "cuda"};
    int threads = (int)rc->threads;
    if (threads == 0) { /* all cores of the node, shared by its ranks */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (int)(cores > 0 ? cores : 1) / comm_local_size(t->c);
        threads = threads > 0 ? threads : 1;
    }
    /* MPI reduces host memory only: with it, auto means the CPU. */
    bool host = rc->device == RUN_DEVICE_AUTO && rc->comm.transport == RUN_TRANSPORT_MPI;
    backend_opts o = {.name = host ? "cpu" : names[rc->device],
                      .threads = threads,
                      .gpu = comm_local_rank(t->c),
                      .workspace_bytes = (size_t)rc->cuda.workspace_mb << 20,
                      .deterministic = rc->cuda.deterministic};
    CNN_TRY(e, backend_create_opts(&o, &t->be, e));
    if (t->be->ops->dev == DEVICE_CPU && rc->comm.transport == RUN_TRANSPORT_NCCL)
        return CNN_ERR(e, CNN_EINVAL, "comm.transport is nccl, but device %s gave the cpu "
                       "backend (no GPU visible, or a build without CUDA): NCCL reduces GPU "
                       "memory; use comm.transport: auto (MPI here) or run on GPU nodes",
                       names[rc->device]);
    if (t->be->ops->dev == DEVICE_CPU && (rc->precision != RUN_FP32 || rc->channels_last))
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
    return t->rc->train.init_weights ? agreed(t, load_init_weights(t, e), e) : CNN_OK;
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

/* "a, b, c, ..." : the first class names, for messages. */
static const char *class_list(const dataset_info *in, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    for (int k = 0; k < in->n_classes && k < 4 && at < len; k++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", k ? ", " : "", in->classes[k]);
    if (in->n_classes > 4 && at < len)
        snprintf(buf + at, len - at, ", ...");
    return buf;
}

/* Label k must mean the same class in the validation set as in the training set. */
static bool same_classes(const dataset_info *a, const dataset_info *b)
{
    if (a->n_classes != b->n_classes)
        return false;
    for (int k = 0; a->classes && b->classes && k < a->n_classes; k++)
        if (strcmp(a->classes[k], b->classes[k]))
            return false;
    return true;
}

/* train: the training set's info when ds is the validation set, else NULL. */
static int check_dataset(const trainer *t, const char *path, const dataset *ds,
                         const dataset_info *train, cnn_err *e)
{
    const dataset_info *in = dataset_get_info(ds);
    if (t->task == TASK_SEGMENT && in->task != DATA_SEGMENT)
        return CNN_ERR(e, CNN_EINVAL, "%s holds labelled images, but the model predicts a "
                       "class per pixel; pack masks with `cnn-pack segmentation`", path);
    if (t->task == TASK_CLASSIFY && in->task != DATA_CLASSIFY)
        return CNN_ERR(e, CNN_EINVAL, "%s holds segmentation masks, but the model is a "
                       "classifier (its output has no spatial dimensions)", path);
    if (t->task != TASK_DENOISE && train && train->n_classes > 0 && !same_classes(in, train)) {
        char a[256], b[256];
        return CNN_ERR(e, CNN_EINVAL, "validation set %s has %d classes (%s) but the training "
                       "set %s has %d (%s): label k must name the same class in both; pack "
                       "both from folders of the same class names (imagenet-val: "
                       "--classes-from TRAIN.h5)", path, in->n_classes, class_list(in, a, sizeof a),
                       t->rc->data.train, train->n_classes, class_list(train, b, sizeof b));
    }
    if (t->task != TASK_DENOISE && in->n_classes > t->classes)
        return CNN_ERR(e, CNN_EINVAL, "%s has %d classes but the model outputs %d; set the "
                       "model's class count (e.g. --set model.args.num_classes=%d)", path,
                       in->n_classes, t->classes, in->n_classes);
    return CNN_OK;
}

static void *pinned_alloc(void *ctx, size_t bytes)
{
    backend *be = ctx;
    void *p = NULL;
    cnn_err e = {0};
    if (be->ops->host_alloc(be, bytes, &p, &e) < 0)
        cnn_fatal("pinned batch memory: %s", e.msg);
    return p;
}

static void pinned_free(void *ctx, void *p)
{
    backend *be = ctx;
    be->ops->host_free(be, p);
}

static void fill_augment(const trainer *t, const dataset_info *in, bool train, augment_cfg *a)
{
    const run_config *rc = t->rc;
    const shape *s = &t->n->in_shape;
    int C = (int)s->d[1];
    *a = (augment_cfg){.out_h = (int)s->d[2], .out_w = (int)s->d[3], .train = train,
                       .resize = (int)rc->data.eval_resize, .channels = C,
                       .noise_std = t->task == TASK_DENOISE ? (float)rc->data.noise_std : 0};
    if (train) {
        for (int k = 0; k < 2; k++) {
            a->scale[k] = (float)rc->data.crop_scale.v[k];
            a->ratio[k] = (float)rc->data.crop_ratio.v[k];
        }
        a->hflip = rc->data.hflip;
        a->brightness = (float)rc->data.brightness;
        a->contrast = (float)rc->data.contrast;
        a->saturation = (float)rc->data.saturation;
    }
    bool given = rc->data.mean.n > 0;
    for (int c = 0; c < C; c++) {
        int k = given ? (rc->data.mean.n == 1 ? 0 : c) : c;
        a->mean[c] = given ? (float)rc->data.mean.v[k] : in->mean[c];
        a->std[c] = given ? (float)rc->data.std.v[k] : in->std[c];
    }
    /* A gray model on RGB data sees rgb_to_grayscale's luma (augment.c): its mean is that
     * of the channel means (the std so weighted is an estimate); gray data repeat theirs. */
    const float luma[3] = {0.2989f, 0.587f, 0.114f};
    if (!given && C == 1 && (in->mean[0] != in->mean[1] || in->mean[1] != in->mean[2])) {
        a->mean[0] = luma[0] * in->mean[0] + luma[1] * in->mean[1] + luma[2] * in->mean[2];
        a->std[0] = luma[0] * in->std[0] + luma[1] * in->std[1] + luma[2] * in->std[2];
    }
    for (int c = 0; c < C; c++)
        if (!(a->std[c] > 0))
            a->std[c] = 1; /* a constant channel: nothing to scale */
}

/* Opens one split (path NULL: data.synthetic) and its loader; train_info supplies the
 * normalization for both splits. */
static int open_split(trainer *t, const char *path, bool train, const dataset_info *train_info,
                      comm_shm *shm, split *sp, cnn_err *e)
{
    const run_config *rc = t->rc;
    int64_t n = rc->data.synthetic;
    dataset_info none = {.mean = {0, 0, 0}, .std = {1, 1, 1}};
    const dataset_info *in = &none;
    if (path) {
        dataset_open_opts oo = {.ram_bytes = (size_t)rc->data.cache_mb << 20};
        /* Ranks sharing a node read one cache together, each a part of it (comm_shm.c). */
        dataset_shared sh = {shm ? comm_shm_rank(shm) : 0, shm ? comm_shm_size(shm) : 1, shm,
                             comm_shm_map, comm_shm_agree};
        oo.shared = shm && comm_shm_size(shm) > 1 ? &sh : NULL;
        CNN_TRY(e, dataset_open_with(path, &oo, &sp->ds, e));
        CNN_TRY(e, check_dataset(t, path, sp->ds, train ? NULL : train_info, e));
        in = dataset_get_info(sp->ds);
        n = in->n;
    }
    int64_t global = train || !rc->eval.batch_size ? rc->data.batch_size : rc->eval.batch_size;
    if (global % t->world)
        return CNN_ERR(e, CNN_EINVAL, "eval.batch_size=%lld is not a multiple of the %d ranks",
                       (long long)global, t->world);
    CNN_TRY(e, sampler_init(&sp->smp, n, (int)global, t->rank, t->world, (uint64_t)rc->seed,
                            train, train, e));
    if (train && sampler_steps(&sp->smp) < rc->train.accum_steps)
        return CNN_ERR(e, CNN_EINVAL, "%s has %lld samples: fewer than one optimizer step of "
                       "data.batch_size=%lld x train.accum_steps=%lld",
                       path ? path : "data.synthetic", (long long)n,
                       (long long)rc->data.batch_size, (long long)rc->train.accum_steps);
    loader_opts lo = {.ds = sp->ds, .smp = sp->smp, .workers = (int)rc->data.workers,
                      .prefetch = (int)rc->data.prefetch, .channels = (int)t->n->in_shape.d[1],
                      .key = rng_fold_str(t->root, "data"), .alloc = pinned_alloc,
                      .free = pinned_free, .alloc_ctx = t->be};
    fill_augment(t, train_info ? train_info : in, train, &lo.aug);
    t->psnr_peak = 1.0 / lo.aug.std[0]; /* data range of [0, 1] pixels after Normalize */
    if (train) {
        t->info = (ckpt_model_info){.channels = lo.aug.channels, .n_classes = in->n_classes,
                                    .classes = in->classes};
        memcpy(t->info.mean, lo.aug.mean, sizeof t->info.mean);
        memcpy(t->info.std, lo.aug.std, sizeof t->info.std);
    }
    if (!path)
        return loader_create_synthetic(&lo, t->task == TASK_SEGMENT ? DATA_SEGMENT
                                                                    : DATA_CLASSIFY,
                                       t->task == TASK_DENOISE ? 0 : t->classes, &sp->ld, e);
    return loader_create(&lo, &sp->ld, e);
}

static int setup_data(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    bool synthetic = rc->data.synthetic > 0;
    /* The opens' shared-cache collectives: every rank takes part in both or in neither, so
     * the ranks agree on the first before the second. */
    comm_shm *shm = t->world > 1 && !synthetic ? comm_shm_create(t->c) : NULL;
    int r = open_split(t, synthetic ? NULL : rc->data.train, true, NULL, shm, &t->train, e);
    if (shm)
        r = agreed(t, r, e);
    if (r == CNN_OK && !synthetic && rc->data.val && rc->eval.every > 0)
        r = open_split(t, rc->data.val, false, dataset_get_info(t->train.ds), shm, &t->val, e);
    comm_shm_destroy(shm);
    CNN_TRY(e, r);
    t->micro_per_epoch = sampler_steps(&t->train.smp);
    t->steps_per_epoch = t->micro_per_epoch / rc->train.accum_steps;
    t->total_steps = rc->train.epochs * t->steps_per_epoch;
    if (rc->train.max_steps > 0 && rc->train.max_steps < t->total_steps)
        t->total_steps = rc->train.max_steps;
    return CNN_OK;
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
    CNN_TRY(e, agreed(t, setup_backend(t, e), e));
    CNN_TRY(e, agreed(t, setup_net(t, e), e));
    /* the data before the net's memory: a missing dataset is reported at once, not after
     * allocating (or failing to allocate) a large model */
    CNN_TRY(e, agreed(t, setup_data(t, e), e));
    CNN_TRY(e, agreed(t, net_alloc(t->n, t->be, e), e));
    init_weights(t);
    int rc = setup_buffers(t, e);
    if (rc >= 0)
        rc = setup_training(t, e);
    return agreed(t, rc, e);
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
