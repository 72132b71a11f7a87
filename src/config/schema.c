/* The run config's schema: one line per key (path, type, default, range or choices, where it
 * lands in run_config, meaning). Validation, defaults, the printed config and docs/config.md
 * all read this table, so a key documented is a key checked. Choice order = enum order in
 * config.h. Upper bounds reject absurd sizes before anything is sized from them. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"

#define ROW(path, type, def, range, field, doc) \
    {path, type, def, range, 0, offsetof(run_config, field), doc}
#define LIST(path, type, def, range, len, field, doc) \
    {path, type, def, range, len, offsetof(run_config, field), doc}

const char config_default_file[] = "<default>";

/* clang-format off */
const schema_row config_schema[] = {
ROW("seed", ST_INT, "0", "[0, inf)", seed, "root of every random stream (init, data order, augmentation, dropout, mixup/CutMix); with the same seed and global batch the run is the same for any world size, except that dropout masks and mixup/CutMix pairs are drawn per rank, as in PyTorch DDP"),
ROW("device", ST_CHOICE, "auto", "auto|cpu|cuda", device, "backend: auto takes cuda when a GPU is visible, else cpu; cuda fails when there is none"),
ROW("threads", ST_INT, "0", "[0, 4096]", threads, "CPU threads per rank; 0 = all cores available to the rank"),
ROW("precision", ST_CHOICE, "fp32", "fp32|bf16|fp16", precision, "activations and convolution/linear weights in bf16 or fp16 with fp32 master weights, norms and losses (mixed precision, tensor cores on CUDA); the CPU backend emulates them (rounded as on a GPU, slower than fp32: for checking a config)"),
ROW("channels_last", ST_BOOL, "false", NULL, channels_last, "store activations and convolution weights NHWC (PyTorch's memory_format=torch.channels_last), the layout of cuDNN's fastest tensor-core kernels, most of all with bf16/fp16; results, checkpoints and flatten's feature order stay those of NCHW; the CPU backend emulates it by transposing (slower: for checking a config)"),
ROW("amp.init_scale", ST_FLOAT, "65536", "[1, 1e30]", amp.init_scale, "fp16: initial loss scale (dynamic loss scaling as PyTorch's GradScaler; bf16 and fp32 use none)"),
ROW("amp.growth_factor", ST_FLOAT, "2", "[1, 1000]", amp.growth_factor, "fp16: the scale is multiplied by this after amp.growth_interval steps without inf/NaN gradients"),
ROW("amp.backoff_factor", ST_FLOAT, "0.5", "(0, 1]", amp.backoff_factor, "fp16: a step with inf/NaN gradients is skipped and the scale multiplied by this"),
ROW("amp.growth_interval", ST_INT, "2000", "[1, 1000000000]", amp.growth_interval, "fp16: finite steps in a row before the scale grows"),
ROW("data.train", ST_STRING, "null", NULL, data.train, "path to the training set's master file; required for training"),
ROW("data.val", ST_STRING, "null", NULL, data.val, "path to the validation set's master file; null = no evaluation"),
ROW("data.batch_size", ST_INT, "256", "[1, 1048576]", data.batch_size, "global batch per step, split evenly across ranks (must be a multiple of the rank count)"),
ROW("data.workers", ST_INT, "4", "[1, 256]", data.workers, "decode and augmentation threads per rank (besides the training thread)"),
ROW("data.prefetch", ST_INT, "2", "[1, 64]", data.prefetch, "batches each rank prepares ahead"),
ROW("data.synthetic", ST_INT, "0", "[0, 1000000000]", data.synthetic, "> 0: train on this many random images (copies of a few normal-noise images; label index % classes, per-pixel labels for segmentation, another noise image as a denoiser's target) instead of data.train, without evaluation, to measure throughput"),
ROW("data.cache_mb", ST_INT, "1024", "[0, 1048576]", data.cache_mb, "read a split's shards into memory at start when they fit in this many MiB; ranks on one node share one copy (each reads a part); 0 = always read from disk"),
ROW("data.train_crop", ST_CHOICE, "auto", "auto|resized_crop|scale_crop", data.train_crop, "training geometry: resized_crop = RandomResizedCrop to the input size (data.crop_scale, data.crop_ratio; torchvision's classification reference); scale_crop = scale jitter (torchvision's segmentation reference): the shorter side resized to a random size in data.scale_range x B (B = data.eval_resize, or the input's longer side), padded by data.crop_padding on every side and then right and bottom where smaller than the input (image 0, mask ignored), and cropped at random to the input size; auto = resized_crop for classifiers, scale_crop for segmentation and denoising"),
LIST("data.crop_scale", ST_FLOAT_LIST, "[0.08, 1.0]", "(0, 1]", 2, data.crop_scale, "training: random resized crop, area fraction range (torchvision RandomResizedCrop scale); [1, 1] with crop_ratio [1, 1] = no crop"),
LIST("data.crop_ratio", ST_FLOAT_LIST, "[0.75, 1.3333333333333333]", "(0, 100]", 2, data.crop_ratio, "training: random resized crop, aspect ratio range"),
LIST("data.scale_range", ST_FLOAT_LIST, "[0.5, 2.0]", "(0, 100]", 2, data.scale_range, "training, scale_crop: range of the shorter side's size as a multiple of B (see data.train_crop)"),
ROW("data.crop_padding", ST_INT, "0", "[0, 4096]", data.crop_padding, "training, scale_crop: pixels of padding on every side before the random crop (torchvision RandomCrop's padding); the CIFAR recipe RandomCrop(32, padding=4) is data.train_crop: scale_crop, data.scale_range: [1, 1], data.crop_padding: 4 (a classifier's auto is resized_crop)"),
ROW("data.hflip", ST_BOOL, "true", NULL, data.hflip, "training: horizontal flip with probability 0.5"),
ROW("data.brightness", ST_FLOAT, "0", "[0, 1]", data.brightness, "training: color jitter, brightness factor drawn from [1-x, 1+x]; 0 = off"),
ROW("data.contrast", ST_FLOAT, "0", "[0, 1]", data.contrast, "training: color jitter, contrast factor from [1-x, 1+x]; 0 = off"),
ROW("data.saturation", ST_FLOAT, "0", "[0, 1]", data.saturation, "training: color jitter, saturation factor from [1-x, 1+x]; 0 = off"),
ROW("data.eval_resize", ST_INT, "0", "[0, 65536]", data.eval_resize, "evaluation: resize the shorter side to this, then center crop to the input size; 0 = resize to the input size"),
LIST("data.mean", ST_FLOAT_LIST, "[]", "[-1000, 1000]", 0, data.mean, "per-channel mean subtracted after scaling pixels to [0, 1]: one value per input channel, or one for all; [] = the training set's (cnn-pack measured it)"),
LIST("data.std", ST_FLOAT_LIST, "[]", "(0, 1000]", 0, data.std, "per-channel std divided by; [] = the training set's"),
ROW("data.noise_std", ST_FLOAT, "0", "[0, 10]", data.noise_std, "denoising (mse_loss models, where it must be > 0): input = normalized image + N(0, noise_std^2), target = the normalized clean image"),
ROW("train.epochs", ST_INT, "90", "[1, 1000000]", train.epochs, "passes over the training set"),
ROW("train.max_steps", ST_INT, "0", "[0, inf)", train.max_steps, "stop after this many optimizer steps; 0 = no limit"),
ROW("train.accum_steps", ST_INT, "1", "[1, 1024]", train.accum_steps, "micro-batches accumulated per optimizer step (gradient accumulation)"),
ROW("train.grad_clip", ST_FLOAT, "0", "[0, inf)", train.grad_clip, "clip the global gradient L2 norm to this value; 0 = off"),
ROW("train.mixup", ST_FLOAT, "0", "[0, inf)", train.mixup, "mixup Beta(alpha, alpha) parameter; 0 = off"),
ROW("train.cutmix", ST_FLOAT, "0", "[0, inf)", train.cutmix, "CutMix Beta(alpha, alpha) parameter; 0 = off"),
ROW("train.ema", ST_FLOAT, "0", "[0, 1)", train.ema, "decay of an exponential moving average of the weights; 0 = off"),
ROW("train.init_weights", ST_STRING, "null", NULL, train.init_weights, "start from these weights instead of the seed's initialization: a cnn-dist checkpoint (its training state is not used) or a weights-only file such as tools/torch_export.py writes from torchvision; a resumed run continues from its own checkpoint instead"),
ROW("train.init_strict", ST_BOOL, "true", NULL, train.init_strict, "train.init_weights must hold every tensor of the model with its shape and nothing else (load_state_dict(strict=True)); false keeps the model's own initialization for tensors the file lacks or shapes differently (e.g. a new classifier head for fine-tuning) and ignores the file's other tensors"),
ROW("optim.name", ST_CHOICE, "sgd", "sgd|adamw", optim.name, "optimizer, with PyTorch's update rules (torch.optim.SGD, AdamW)"),
ROW("optim.lr", ST_FLOAT, "0.1", "(0, inf)", optim.lr, "peak learning rate (after warmup; before linear scaling)"),
ROW("optim.momentum", ST_FLOAT, "0.9", "[0, 1)", optim.momentum, "SGD momentum (PyTorch's form: v = m*v + g)"),
ROW("optim.nesterov", ST_BOOL, "false", NULL, optim.nesterov, "Nesterov momentum (SGD; needs momentum > 0)"),
ROW("optim.weight_decay", ST_FLOAT, "1e-4", "[0, inf)", optim.weight_decay, "L2 penalty (SGD) or decoupled weight decay (AdamW)"),
ROW("optim.decay_norm_and_bias", ST_BOOL, "true", NULL, optim.decay_norm_and_bias, "apply weight decay to biases and normalization scales too (false exempts them)"),
LIST("optim.betas", ST_FLOAT_LIST, "[0.9, 0.999]", "[0, 1)", 2, optim.betas, "AdamW's (beta1, beta2)"),
ROW("optim.eps", ST_FLOAT, "1e-8", "(0, inf)", optim.eps, "AdamW's denominator epsilon"),
ROW("optim.lr_scaling", ST_CHOICE, "none", "none|linear", optim.lr_scaling, "linear: the whole schedule (min_lr included) times data.batch_size / optim.ref_batch (Goyal et al. 2017)"),
ROW("optim.ref_batch", ST_INT, "256", "[1, 1048576]", optim.ref_batch, "reference batch of linear lr scaling"),
ROW("sched.name", ST_CHOICE, "step", "constant|step|multistep|cosine|poly", sched.name, "learning-rate schedule after warmup, stepped per epoch"),
ROW("sched.warmup_epochs", ST_FLOAT, "0", "[0, 1000000]", sched.warmup_epochs, "linear warmup over this many epochs (fractions allowed, rounded to W whole steps): step s < W uses optim.lr*(s+1)/W; cosine and poly then run over train.epochs - floor(W/steps_per_epoch) epochs"),
ROW("sched.step_size", ST_INT, "30", "[1, 1000000]", sched.step_size, "step: multiply by gamma every step_size epochs"),
ROW("sched.gamma", ST_FLOAT, "0.1", "(0, 1]", sched.gamma, "step, multistep: multiplicative decay"),
LIST("sched.milestones", ST_INT_LIST, "[30, 60, 80]", "[1, 1000000]", 0, sched.milestones, "multistep: epochs at which the rate is multiplied by gamma (increasing)"),
ROW("sched.power", ST_FLOAT, "2.0", "(0, inf)", sched.power, "poly: lr * (1 - t/T)^power"),
ROW("sched.min_lr", ST_FLOAT, "0", "[0, inf)", sched.min_lr, "cosine, poly: the rate at the end (at most optim.lr)"),
ROW("eval.every", ST_INT, "1", "[0, 1000000]", eval.every, "evaluate on data.val every this many epochs; 0 = never"),
ROW("eval.batch_size", ST_INT, "0", "[0, 1048576]", eval.batch_size, "global evaluation batch; 0 = data.batch_size"),
ROW("ckpt.every", ST_INT, "1", "[0, 1000000]", ckpt.every, "write a checkpoint every this many epochs (and at the end); 0 = only at the end"),
ROW("ckpt.keep", ST_INT, "3", "[0, 1000000]", ckpt.keep, "checkpoints kept in run.dir (oldest removed first); 0 = keep all"),
ROW("log.every", ST_INT, "50", "[1, 1000000]", log.every, "print and record metrics every this many steps"),
ROW("log.level", ST_CHOICE, "info", "debug|info|warn|error", log.level, "least severe message printed (the CNN_LOG variable overrides)"),
ROW("log.pictures", ST_BOOL, "true", NULL, log.pictures, "rank 0 draws run.dir/curves.png, filters.png and samples.png at every evaluation and at the end, and confusion.png at the end of a classifier's run (needs a build with cairo)"),
ROW("log.tensorboard", ST_BOOL, "true", NULL, log.tensorboard, "rank 0 writes run.dir/events.out.tfevents.<time>.<host> for `tensorboard --logdir`: the scalars of metrics.jsonl and the pictures"),
ROW("run.dir", ST_STRING, CONFIG_RUN_DIR_DEFAULT, NULL, run.dir, "directory for checkpoints, metrics.jsonl and the resolved config"),
ROW("comm.bucket_mb", ST_FLOAT, "25", "(0, 1024]", comm.bucket_mb, "gradient all-reduce bucket size in MiB (PyTorch DDP's bucket_cap_mb)"),
ROW("comm.sync_bn", ST_BOOL, "false", NULL, comm.sync_bn, "batch norm statistics over the global batch (all ranks) instead of per rank"),
ROW("comm.timeout_s", ST_INT, "300", "[1, 86400]", comm.timeout_s, "a collective waiting longer than this aborts the run with a message"),
ROW("comm.transport", ST_CHOICE, "auto", "auto|nccl|mpi", comm.transport, "gradient transport: auto = nccl on CUDA, mpi on CPU; nccl needs device cuda and mpi device cpu (MPI over GPU memory is not implemented)"),
ROW("cuda.deterministic", ST_BOOL, "false", NULL, cuda.deterministic, "only convolution algorithms cuDNN reports deterministic (as torch.backends.cudnn.deterministic): a GPU run then repeats bit for bit and resumes exactly, sometimes slower; every other op is deterministic, as is the CPU backend"),
ROW("cuda.workspace_mb", ST_INT, "2048", "[0, 1048576]", cuda.workspace_mb, "cuDNN workspace limit per convolution call, MiB (one buffer per rank, grown to what the chosen algorithms use; the fastest VGG-16 algorithms at batch 64 want 0.5-1.8 GiB)"),
ROW("model", ST_MAP, NULL, NULL, model, "the network: layers, blocks, input size and loss; language in docs/models.md"),
};
/* clang-format on */
const int config_schema_n = (int)(sizeof config_schema / sizeof config_schema[0]);

const schema_row *schema_find(const char *path)
{
    for (int i = 0; i < config_schema_n; i++)
        if (!strcmp(config_schema[i].path, path))
            return &config_schema[i];
    return NULL;
}

bool schema_is_section(const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < config_schema_n; i++)
        if (!strncmp(config_schema[i].path, name, n) && config_schema[i].path[n] == '.')
            return true;
    return false;
}

static double parse_bound(const char *s, char **end)
{
    while (*s == ' ')
        s++;
    double v = strtod(s, end);
    CNN_ASSERT(*end != s);
    return v;
}

schema_range schema_range_of(const schema_row *r)
{
    schema_range g = {-INFINITY, INFINITY, true, true};
    if (!r->range)
        return g;
    const char *s = r->range;
    CNN_ASSERT(s[0] == '[' || s[0] == '(');
    char *end;
    g.lo_open = s[0] == '(';
    g.lo = parse_bound(s + 1, &end);
    CNN_ASSERT(*end == ',');
    g.hi = parse_bound(end + 1, &end);
    CNN_ASSERT((end[0] == ']' || end[0] == ')') && !end[1]);
    g.hi_open = end[0] == ')';
    return g;
}

const char *schema_type_name(schema_type t)
{
    static const char *const names[] = {"int",    "float",    "bool",       "string",
                                        "choice", "int list", "float list", "map"};
    return names[t];
}

const char *schema_range_text(const schema_row *r, char *buf, int len)
{
    bool is_int = r->type == ST_INT || r->type == ST_INT_LIST;
    const char *what = is_int ? "an integer" : "a number";
    schema_range g = schema_range_of(r);
    bool has_lo = isfinite(g.lo), has_hi = isfinite(g.hi);
    if (is_int && has_lo && has_hi && !g.lo_open && !g.hi_open)
        snprintf(buf, (size_t)len, "%s between %.17g and %.17g", what, g.lo, g.hi);
    else if (has_lo && has_hi)
        snprintf(buf, (size_t)len, "%s %s %.17g and %s %.17g", what, g.lo_open ? ">" : ">=",
                 g.lo, g.hi_open ? "<" : "<=", g.hi);
    else if (has_lo)
        snprintf(buf, (size_t)len, "%s %s %.17g", what, g.lo_open ? ">" : ">=", g.lo);
    else if (has_hi)
        snprintf(buf, (size_t)len, "%s %s %.17g", what, g.hi_open ? "<" : "<=", g.hi);
    else
        snprintf(buf, (size_t)len, "%s", what);
    return buf;
}

const char *schema_choice(const schema_row *r, int i, char *buf, int len)
{
    const char *s = r->range;
    for (; i > 0 && s; i--) {
        s = strchr(s, '|');
        s = s ? s + 1 : NULL;
    }
    if (!s)
        return NULL;
    size_t n = strcspn(s, "|");
    snprintf(buf, (size_t)len, "%.*s", (int)n, s);
    return buf;
}

static const char *leaf(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* One word against another: edit distance, or 1 when one starts with the other (at least 3
 * letters: "optimizer" ~ "optim", "batch" ~ "batch_size"). */
static int word_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), m = la < lb ? la : lb;
    if (m >= 3 && !strncmp(a, b, m))
        return la == lb ? 0 : 1;
    return cfg_edit_distance(a, b);
}

/* A candidate scores by the whole path ("optim.lrr" ~ "optim.lr") or by its last part in
 * another section, one point for the move ("lr" or "data.lr" ~ "optim.lr"). */
static int distance(const char *path, const char *cand)
{
    int d = strchr(path, '.') || !strchr(cand, '.') ? cfg_edit_distance(path, cand) : 99;
    const char *dp = strrchr(path, '.'), *dc = strrchr(cand, '.');
    if (dp && dc && (size_t)(dp - path) == (size_t)(dc - cand) && !strncmp(path, cand, dp - path))
        d = word_distance(dp + 1, dc + 1) < d ? word_distance(dp + 1, dc + 1) : d;
    int dl = word_distance(leaf(path), leaf(cand)) + 1;
    return dl < d && strlen(leaf(cand)) > 1 ? dl : d;
}

const char *schema_suggest(const char *path, char *buf, int len)
{
    int best_d = 99;
    for (int i = 0; i < config_schema_n; i++) {
        const char *p = config_schema[i].path, *dot = strchr(p, '.');
        int d = distance(path, p);
        if (d < best_d) {
            best_d = d;
            snprintf(buf, (size_t)len, "%s", p);
        }
        /* A top-level word may be a misspelt section name. */
        char sec[32];
        if (!dot || strchr(path, '.') || (size_t)(dot - p) >= sizeof sec)
            continue;
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - p), p);
        d = word_distance(path, sec);
        if (d < best_d) {
            best_d = d;
            snprintf(buf, (size_t)len, "%s", sec);
        }
    }
    size_t n = strlen(path);
    int limit = n <= 3 ? 1 : n <= 6 ? 2 : 3;
    return best_d <= limit ? buf : NULL;
}
