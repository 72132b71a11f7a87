/* The train module: the training run (the loop over epochs and steps across ranks, the
 * evaluation, progress and metrics.jsonl, the run directory), checkpoints, the optimizer and
 * LR schedules (optim.h), metrics (metrics.h) and mixup/CutMix (mix.h).
 * Checkpoints are HDF5 files laid out like a torchvision state_dict, so h5py and PyTorch read
 * them directly (tools/ckpt_to_torch.py) and torchvision weights load into our nets
 * (tools/torch_export.py): one float32 dataset per parameter and buffer at the root, named by
 * its key ("layer1.0.bn1.running_var"); "<norm>.num_batches_tracked" (int64 scalar) for every
 * node with running statistics; optimizer state under "optimizer/<group>/<key>"; the run's
 * position and config text as root attributes. */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include "../net/net.h"

#define CKPT_FORMAT "cnn-dist checkpoint" /* root attribute "format" */
#define CKPT_VERSION 1                      /* root attribute "format_version" */

/* What applying the model needs besides its weights (cnn-dist predict and eval): the input
 * normalization and the class names, as root attributes "input_mean" and "input_std" (f32,
 * one per input channel, on pixels scaled to [0, 1]) and "classes" (the names, one a line;
 * h5py: f.attrs["classes"].split("\n")). */
typedef struct ckpt_model_info {
    int channels;     /* of mean and std; 0: no normalization stored */
    float mean[3], std[3];
    int n_classes;    /* 0: no names stored */
    char **classes;   /* (n_classes): borrowed by ckpt_save; owned after ckpt_read_info */
} ckpt_model_info;

/* Where a run stands; enough to resume exactly (DESIGN.md "Exact resume"). */
typedef struct ckpt_meta {
    bool present;         /* load: false for a weights-only file (tools/torch_export.py);
                             every other field is then 0 */
    int64_t epoch;        /* epochs completed */
    int64_t step;         /* optimizer steps taken; also written as num_batches_tracked */
    int64_t samples_seen; /* global samples consumed since the start of the run */
    int64_t sampler_pos;  /* position in the current epoch's sample order */
    uint64_t seed;        /* the run's seed */
    rng_key key;          /* the run's root key (from the seed, or carried on) */
    char optimizer[16];   /* "sgd", "adamw" (root attribute "optimizer"); "" when unknown */
    const ckpt_model_info *info; /* save: written when not NULL; load: left NULL */
} ckpt_meta;

/* A tensor stored beside the weights, e.g. a momentum buffer: dataset
 * "optimizer/<group>/<key>". group and key must be non-empty without '/'. */
typedef struct ckpt_tensor {
    const char *group; /* borrowed: "momentum", "adam_m" */
    const char *key;   /* borrowed: the state_dict key of the parameter it belongs to */
    tensor *t;         /* borrowed: f32, on the net's backend (or host) */
    bool found;        /* set by ckpt_load: the file had it (its values are then loaded) */
} ckpt_tensor;

/* Writes every parameter and buffer of n (downloaded from its backend), the meta data (NULL:
 * zeros), the extra tensors and config_text (may be NULL) to path, atomically: the file is
 * built in host memory (one image of it), written to "<path>.tmp.<pid>", fsync'ed and renamed
 * over path, then the directory is fsync'ed. On any failure (a full disk included) the
 * previous file at path is untouched, the temporary is removed, and e says why. */
int ckpt_save(const char *path, const net *n, const ckpt_meta *meta, const ckpt_tensor *extra,
              int n_extra, const char *config_text, cnn_err *e);

/* Loads path into n, strictly as torchvision's load_state_dict(strict=True): every entry of
 * n must be in the file with the same shape, and the file may hold nothing else at the root
 * except "*.num_batches_tracked" of n's norm layers and the "optimizer" group. Errors name
 * the first offending tensor (in state_dict order) and both shapes. Names, types and shapes
 * are all checked before the first upload, so such an error leaves n as it was (a read
 * error in the middle of a damaged file can leave it partly loaded). meta (may be NULL)
 * receives the file's meta data; extra tensors present in the file are loaded (shape
 * checked) and marked found; those absent are left alone; other optimizer state in the file
 * is ignored. *config_text (may be NULL) receives the config text (NULL when none), to free. */
int ckpt_load(const char *path, net *n, ckpt_meta *meta, ckpt_tensor *extra, int n_extra,
              char **config_text, cnn_err *e);

/* The weights to start a run from (train.init_weights): a cnn-dist checkpoint (its training
 * state ignored) or a weights-only file (tools/torch_export.py). strict: as ckpt_load.
 * Otherwise (fine-tuning, as load_state_dict(strict=False)) the model's tensors that the
 * file lacks or holds with another shape keep their values, the file's other tensors are
 * ignored, and *skipped lists the kept ones ("fc.weight, fc.bias"; NULL when none; free it);
 * a file that gives no tensor at all is an error. On failure n is unchanged. */
int ckpt_load_weights(const char *path, net *n, bool strict, char **skipped, cnn_err *e);

/* Only the meta data and config text, without a net (to resume from a checkpoint's config). */
int ckpt_read_meta(const char *path, ckpt_meta *meta, char **config_text, cnn_err *e);
/* The model info of path (zeros for what the file lacks, e.g. a weights-only file or a
 * checkpoint written before these attributes); free with ckpt_info_free. */
int ckpt_read_info(const char *path, ckpt_model_info *out, cnn_err *e);
void ckpt_info_free(ckpt_model_info *info);

/* The float tensors at the root of a checkpoint or weights-only file, sorted by name, without
 * a net (ckpt_tensors.c); free with ckpt_list_free. */
typedef struct ckpt_entry {
    char *name;
    shape s;
} ckpt_entry;
int ckpt_list(const char *path, ckpt_entry **out, int *n, cnn_err *e);
void ckpt_list_free(ckpt_entry *v, int n);
/* One of them as f32 (*data malloc'ed), checked against its checksum when the file has them. */
int ckpt_read_tensor(const char *path, const char *name, float **data, shape *s, cnn_err *e);

/* ---- the training run (trainer.c and train_*.c) ---- */
struct comm;
struct run_config;
typedef struct train_opts {
    const char *config_path; /* for messages and the saved config */
    /* NULL: start fresh (an existing checkpoint in run.dir is an error, so a run is never
     * overwritten by accident); "auto": continue from the latest checkpoint in run.dir when
     * there is one, else start fresh; otherwise the checkpoint file to continue from. */
    const char *resume;
    bool hash_weights; /* print every rank's weight hash at the end (replica checks) */
} train_opts;

/* The net options the trainer builds rc's model with (precision, channels_last, soft
 * targets for mixup/CutMix), so that --summary describes the net that trains. */
net_opts train_net_opts(const struct run_config *rc);

/* SIGINT, SIGTERM and SIGUSR1 from now on ask the run for a checkpoint and a clean stop
 * after the same step on every rank (train_run installs them too). */
void train_catch_signals(void);

/* Trains as the config says on every rank of c: builds the backend, the net, the data,
 * the optimizer and the reducer; loops over epochs with evaluation and checkpoints; writes
 * run.dir/metrics.jsonl and run.dir/config.yaml. Errors that some ranks may meet alone
 * (files, memory) are agreed on, so every rank returns (the failing ones with e filled, the
 * others with CNN_ESTATE naming the failing rank); errors in the middle of a step end the
 * job through comm_abort. SIGINT/SIGTERM/SIGUSR1 end the run at the next step with a
 * checkpoint. */
int train_run(const struct run_config *rc, struct comm *c, const train_opts *o, cnn_err *e);

/* ---- evaluating a checkpoint alone (cnn-dist eval; train_evaluate.c) ---- */
typedef struct eval_opts {
    const char *ckpt;    /* the weights (a checkpoint, or a weights-only file) */
    const char *data;    /* the dataset; NULL: the config's data.val */
    const char *out_dir; /* eval.json (and eval_samples.csv for a classifier) go here */
} eval_opts;
/* The evaluation of training alone, on every rank of c: the net for rc's model (forward
 * only), the checkpoint's weights, the dataset normalized and checked as in training
 * (class names against the checkpoint's), every sample counted once across ranks. Rank 0
 * prints the metrics (per class too) and writes out_dir/eval.json (loss, top-1, top-5,
 * per-class precision and recall, the confusion matrix and the most confused pairs;
 * segmentation: pixel accuracy, mIoU, per-class IoU; denoising: PSNR of output and input)
 * and, for a classifier, out_dir/eval_samples.csv (index, label, predicted, probability)
 * and out_dir/confusion.png.
 * Errors are agreed on as in train_run. */
int train_evaluate(const struct run_config *rc, struct comm *c, const eval_opts *o,
                   cnn_err *e);

/* CPU threads per rank: the config's threads, or (0) the node's cores over its ranks. */
int train_threads(const struct run_config *rc, struct comm *c);
/* The backend of this rank as training makes it (device, threads, the GPU of its node-local
 * rank), for other commands that run the model (predict). */
int train_backend_create(const struct run_config *rc, struct comm *c, backend **out,
                         cnn_err *e);

#endif
