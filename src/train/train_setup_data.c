/* The data of a run on every rank: each split's dataset checked against the model (task,
 * class names and count), its normalization (data.mean/std, else the training set's), the
 * sampler and the loader (pinned batches on CUDA). An evaluation of a checkpoint alone
 * (train_evaluate) opens the validation split only, normalized and named as the checkpoint
 * says (its ckpt_model_info), or as the training set when the checkpoint predates that. */
#include <string.h>

#include "trainer_impl.h"

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

/* train: the training set's info (or the checkpoint's classes) when ds is the validation
 * set, else NULL. */
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
        return CNN_ERR(e, CNN_EINVAL, "validation set %s has %d classes (%s) but %s %s has %d "
                       "(%s): label k must name the same class in both; pack both from "
                       "folders of the same class names (imagenet-val: --classes-from "
                       "TRAIN.h5)", path, in->n_classes, class_list(in, a, sizeof a),
                       t->eval ? "the checkpoint" : "the training set",
                       t->eval ? t->eval->ckpt : t->rc->data.train, train->n_classes,
                       class_list(train, b, sizeof b));
    }
    if (t->task != TASK_DENOISE && in->n_classes > t->classes)
        return CNN_ERR(e, CNN_EINVAL, "%s has %d classes but the model outputs %d; set the "
                       "model's class count (e.g. --set model.args.num_classes=%d)", path,
                       in->n_classes, t->classes, in->n_classes);
    /* Fewer classes than outputs trains (the others are never a target) but is nearly always
     * a num_classes left at the config's value; predict and eval would then list numbers. */
    if (t->task != TASK_DENOISE && !train && !t->eval && in->n_classes > 0 &&
        in->n_classes < t->classes)
        log_warn("%s has %d classes but the model outputs %d: outputs %d to %d are never a "
                 "target, and predict and eval show them as numbers; set the model's class "
                 "count (e.g. --set model.args.num_classes=%d)", path, in->n_classes,
                 t->classes, in->n_classes, t->classes - 1, in->n_classes);
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

/* data.train_crop: auto gives dense tasks scale jitter (augment.c says why). */
static bool train_crop_scaled(const run_config *rc, task_kind task)
{
    return rc->data.train_crop == RUN_CROP_SCALE ||
           (rc->data.train_crop == RUN_CROP_AUTO && task != TASK_CLASSIFY);
}

/* A PyTorch user adding crop_padding: 4 to a classifier expects RandomCrop; say that it does
 * nothing under the other geometry instead of ignoring it. */
static void warn_unused_crop_keys(const run_config *rc, task_kind task)
{
    bool scaled = train_crop_scaled(rc, task);
    const char *mode = rc->data.train_crop != RUN_CROP_AUTO ? ""
                       : task == TASK_CLASSIFY ? " (auto: a classifier)" : " (auto: a dense task)";
    const char *keys[] = {"data.crop_scale", "data.crop_ratio", "data.scale_range",
                          "data.crop_padding"};
    for (int k = scaled ? 0 : 2; k < (scaled ? 2 : 4); k++)
        if (run_config_is_set(rc, keys[k]))
            log_warn("%s shapes data.train_crop: %s, but this run's is %s%s: it is not used%s",
                     keys[k], scaled ? "resized_crop" : "scale_crop",
                     scaled ? "scale_crop" : "resized_crop", mode,
                     scaled ? "" : " (torchvision's RandomCrop(32, padding=4) is "
                                   "data.train_crop: scale_crop, data.scale_range: [1, 1], "
                                   "data.crop_padding: 4)");
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
        warn_unused_crop_keys(rc, t->task);
        if (train_crop_scaled(rc, t->task)) {
            /* torchvision's int(factor * base_size) */
            int base = a->resize > 0 ? a->resize : (a->out_h > a->out_w ? a->out_h : a->out_w);
            a->scale_min = (int)(rc->data.scale_range.v[0] * base);
            a->scale_max = (int)(rc->data.scale_range.v[1] * base);
            a->scale_min = a->scale_min < 1 ? 1 : a->scale_min;
            a->scale_max = a->scale_max < a->scale_min ? a->scale_min : a->scale_max;
            a->pad = (int)rc->data.crop_padding;
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
    if (!train)
        t->val_aug = lo.aug;
    if (train && path)
        augment_describe(&lo.aug, t->augment_line, sizeof t->augment_line);
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

static void count_steps(trainer *t)
{
    const run_config *rc = t->rc;
    t->micro_per_epoch = sampler_steps(&t->train.smp);
    t->steps_per_epoch = t->micro_per_epoch / rc->train.accum_steps;
    t->total_steps = rc->train.epochs * t->steps_per_epoch;
    if (rc->train.max_steps > 0 && rc->train.max_steps < t->total_steps)
        t->total_steps = rc->train.max_steps;
}

/* What the evaluated model was trained on: the checkpoint's normalization and class names;
 * a checkpoint without them (written before they were stored) takes the training set's. */
static int eval_reference(trainer *t, dataset **train_ds, dataset_info *ref, cnn_err *e)
{
    const ckpt_model_info *ci = &t->ckpt_info;
    *ref = (dataset_info){.mean = {0, 0, 0}, .std = {1, 1, 1}};
    if (ci->channels > 0) {
        for (int c = 0; c < 3; c++) {
            ref->mean[c] = ci->mean[ci->channels == 1 ? 0 : c];
            ref->std[c] = ci->std[ci->channels == 1 ? 0 : c];
        }
        ref->n_classes = ci->n_classes;
        ref->classes = ci->classes;
        return CNN_OK;
    }
    if (t->rc->data.mean.n > 0 || !t->rc->data.train)
        return CNN_OK; /* fill_augment takes data.mean/std; else none */
    int r = dataset_open(t->rc->data.train, false, train_ds, e);
    if (r < 0) {
        cnn_err_prefix(e, "the checkpoint has no input normalization, and the training set "
                       "named by data.train cannot give it (set data.mean and data.std): ");
        return r;
    }
    *ref = *dataset_get_info(*train_ds);
    return CNN_OK;
}

/* An evaluation of a checkpoint: the validation split only. */
static int setup_eval_data(trainer *t, cnn_err *e)
{
    const char *path = t->eval->data ? t->eval->data : t->rc->data.val;
    if (!path)
        return CNN_ERR(e, CNN_EINVAL, "nothing to evaluate on: the config names no data.val; "
                       "give the dataset with --data VAL.h5");
    dataset *train_ds = NULL;
    dataset_info ref;
    int r = eval_reference(t, &train_ds, &ref, e);
    if (r == CNN_OK)
        r = open_split(t, path, false, &ref, NULL, &t->val, e);
    if (r < 0 && !t->eval->data) { /* a relative data.val read from another folder */
        size_t n = strlen(e->msg);
        snprintf(e->msg + n, sizeof e->msg - n, " (the config's data.val; give the dataset "
                 "with --data PATH)");
    }
    if (train_ds)
        dataset_close(train_ds);
    return r;
}

int trainer_setup_data(trainer *t, cnn_err *e)
{
    const run_config *rc = t->rc;
    if (t->eval)
        return setup_eval_data(t, e);
    bool synthetic = rc->data.synthetic > 0;
    /* The opens' shared-cache collectives: every rank takes part in both or in neither, so
     * the ranks agree on the first before the second. */
    comm_shm *shm = t->world > 1 && !synthetic ? comm_shm_create(t->c) : NULL;
    int r = open_split(t, synthetic ? NULL : rc->data.train, true, NULL, shm, &t->train, e);
    if (shm)
        r = trainer_agreed(t, r, e);
    if (r == CNN_OK && !synthetic && rc->data.val && rc->eval.every > 0)
        r = open_split(t, rc->data.val, false, dataset_get_info(t->train.ds), shm, &t->val, e);
    comm_shm_destroy(shm);
    CNN_TRY(e, r);
    count_steps(t);
    return CNN_OK;
}
