/* The training run's private state, shared by its files: setup (train_setup.c), one
 * optimizer step (train_step.c), evaluation (train_eval.c), progress and metrics.jsonl
 * (train_log.c), checkpoints of the run directory (train_ckpt.c) and the loop (trainer.c).
 * Every rank runs the same code and issues the same collectives in the same order. */
#ifndef CNN_TRAINER_IMPL_H
#define CNN_TRAINER_IMPL_H

#include <stdio.h>

#include "../comm/comm.h"
#include "../data/data.h"
#include "metrics.h"
#include "mix.h"
#include "optim.h"
#include "train.h"

typedef struct split {
    dataset *ds;
    loader *ld;
    sampler smp;
} split;

typedef struct trainer {
    const run_config *rc;
    const train_opts *opts;
    const eval_opts *eval; /* an evaluation of a checkpoint alone (train_evaluate) */
    ckpt_model_info ckpt_info; /* eval: the checkpoint's normalization and class names */
    comm *c;
    int rank, world;

    backend *be;
    net *n;
    exec x;
    comm_sync_bn sbn;
    optim *opt;
    ema *avg; /* NULL without train.ema */
    reducer *red;

    task_kind task;
    int classes; /* output channels: classes (classify, segment) */
    int ignore;  /* the loss's ignore_index */
    double smoothing;
    bool soft;   /* mixup/CutMix: soft targets */
    mix_cfg mix;
    /* Host staging of one net batch: images when mixed or a partial eval chunk; targets
     * as uploaded (labels with padding mapped to the ignore index, soft rows, or images). */
    float *stage_images;
    void *stage_target;
    double psnr_peak; /* denoising: the data range in normalized units (1 / std) */
    /* Saved in checkpoints for predict: the normalization of both splits and the training
     * set's class names (borrowed from its dataset_info). */
    ckpt_model_info info;
    double lr;        /* of the last step */

    split train, val;
    augment_cfg val_aug; /* the evaluation transform (the pictures' samples take it too) */
    char augment_line[256]; /* the training transform in words, for the start-up line */
    metrics *val_metrics;
    float *eval_host;   /* downloaded outputs of one chunk */
    tensor eval_out;    /* device f32 copy of an f16/bf16 output (data NULL for f32) */
    int32_t *eval_idx;  /* argmax of one chunk (segmentation) */
    tensor eval_argmax; /* device (batch, H, W) i32 */
    /* eval of a classifier: per validation sample its predicted class + 1 (0: not seen on
     * this rank) and that class's probability, summed over ranks for eval_samples.csv */
    double *sample_pred, *sample_prob; /* (val samples) */

    int64_t micro_per_epoch; /* loader batches per epoch */
    int64_t steps_per_epoch; /* optimizer steps per epoch (micro / accum) */
    int64_t total_steps;

    /* Position: what a checkpoint saves (samples seen follow from it: samples_seen()). */
    int64_t epoch, step, micro;
    uint64_t seed;
    rng_key root;
    bool stop_requested; /* a signal asked for a checkpoint and a clean stop */

    /* Logging. */
    tensor loss_acc;  /* device (1): sum of the global micro-batch losses since the last log */
    int64_t micro_since_log, steps_since_log;
    double t_log, t_start, exposed_log;
    int64_t last_eval_step, last_ckpt_step;
    FILE *jsonl; /* rank 0 */
    struct pictures *pics; /* rank 0: pictures and TensorBoard (train_pictures.c); NULL */

    /* Test hook (CNN_TEST_STALL=RANK:WHERE, tests/mpi/train_stall.sh): rank RANK sleeps
     * before the collectives of step WHERE, or of the first evaluation (WHERE "eval") or
     * checkpoint ("ckpt"), so that a test can read the watchdog's report of it. */
    int stall_rank; /* -1: no stall */
    char stall_where[24];
} trainer;

/* train_setup.c */
int trainer_setup(trainer *t, cnn_err *e);
/* Each stage's errors are agreed on before the next stage's collectives. */
int trainer_agreed(trainer *t, int rc, cnn_err *e);
/* train_setup_data.c: the splits and their loaders (eval: the validation split only). */
int trainer_setup_data(trainer *t, cnn_err *e);
/* A fresh run (nothing to resume): the weights of train.init_weights, when it is set, on
 * every rank; errors agreed on. */
int trainer_init_weights_file(trainer *t, cnn_err *e);
void trainer_teardown(trainer *t);

/* Global samples consumed by the run at (epoch, micro). */
static inline int64_t samples_seen(const trainer *t, int64_t epoch, int64_t micro)
{
    return (epoch * t->steps_per_epoch * t->rc->train.accum_steps + micro) *
           t->rc->data.batch_size;
}

/* train_step.c: one optimizer step (train.accum_steps loader batches); true when it was
 * the epoch's last whole step. A data error ends the job (comm_abort) with the sample named. */
bool trainer_step(trainer *t);
/* Names what the rank does next in watchdog reports ("epoch 2, step 40", "evaluation
 * after step 40", "checkpoint at step 40"): comm_set_phase with printf formatting. */
void trainer_phase(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The test hook above: sleeps (until the watchdog ends the job) when where is the place
 * CNN_TEST_STALL names for this rank. */
void trainer_stall_point(trainer *t, const char *where);
/* trainer.c: a signal asked the run to stop (read at each step's count all-reduce). */
bool trainer_signalled(void);
/* Uploads a loader batch as the net's input and target (mixing when on); returns this
 * rank's counted loss elements. */
double trainer_upload(trainer *t, const batch *b, int first, int count, bool train);

/* train_eval.c: every rank evaluates its slices; the result goes to rank 0's log. */
void trainer_eval(trainer *t);
/* One pass over the validation split; every rank gets the reduced result. */
void trainer_eval_pass(trainer *t, metrics_result *r);

/* train_log.c */
int trainer_log_open(trainer *t, cnn_err *e);
void trainer_log_step(trainer *t);
void trainer_log_eval(trainer *t, const char *split, const metrics_result *r);
void trainer_log_close(trainer *t);
/* A JSON line to metrics.jsonl (rank 0; fields without braces). */
void trainer_jsonl(trainer *t, const char *fields);

/* train_pictures.c (rank 0; the others return at once): curves.png, filters.png,
 * samples.png (and confusion.png at the end), TensorBoard's event file. Setup opens the
 * event file (a run directory that cannot take it fails at start-up) and reads the fixed
 * validation samples; a picture that cannot be drawn is a warning, not the end of the run. */
int trainer_pictures_setup(trainer *t, cnn_err *e);
void trainer_pictures(trainer *t, bool final);
/* Scalars for TensorBoard at step: tags and values (n). */
void trainer_tb_scalars(trainer *t, const char *const *tags, const double *v, int n);
void trainer_pictures_teardown(trainer *t);
/* Class k's name: the checkpoint's (eval), the validation set's, or the number in buf. */
const char *trainer_class_name(const trainer *t, int k, char *buf, size_t n);
/* confusion.png of the last evaluation's matrix (classifiers up to 200 classes; 1 when
 * nothing is drawn). */
int trainer_draw_confusion(const trainer *t, const char *path, const char *title, cnn_err *e);

/* train_ckpt.c */
/* --resume: the checkpoint's weights, optimizer state and position; a fresh start takes
 * train.init_weights instead (trainer_init_weights_file). */
int trainer_resume(trainer *t, cnn_err *e);
/* Rank 0 writes; errors agreed on by every rank. */
int trainer_checkpoint(trainer *t, cnn_err *e);

#endif
