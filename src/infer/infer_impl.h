/* Private to src/infer: the command lines of `cnn-dist predict` and `cnn-dist eval`
 * (infer_cli.c), the model that predict applies (predict_model.c: the checkpoint's config,
 * weights, normalization and class names; a forward-only net rebuilt for each input size of
 * a fully convolutional model), reading and transforming the input files
 * (predict_input.c), the outputs per task (predict_output.c) and the run over files split
 * across ranks with the output in input order (predict_run.c). */
#ifndef CNN_INFER_IMPL_H
#define CNN_INFER_IMPL_H

#include "../comm/comm.h"
#include "../config/config.h"
#include "../data/data.h"
#include "../train/train.h"
#include "infer.h"

/* What both commands take: the checkpoint and how to read its config. */
typedef struct infer_args {
    const char *ckpt;
    const char *config;  /* --config: instead of the checkpoint's own */
    const char **sets;   /* --set KEY=VALUE, in order (n_sets) */
    int n_sets;
    /* eval */
    const char *data;
    const char *out_dir;
    /* predict */
    const char *classes_file;
    int top;
    int batch;
    double noise_std;    /* < 0: none */
    const char **inputs; /* files and folders (n_inputs) */
    int n_inputs;
} infer_args;

/* The run config of args->ckpt: --config when given, else the text the checkpoint carries,
 * then the --set overrides. */
int infer_load_config(const infer_args *a, run_config *rc, cnn_err *e);

/* The file name of path without folder and extension: *len bytes at the returned pointer
 * ("runs/x/ckpt-000000300.h5" gives "ckpt-000000300"). */
const char *infer_stem(const char *path, int *len);

/* ---- predict_model.c ---- */
typedef struct pmodel {
    run_config rc;
    backend *be;
    net *n;           /* forward only, at input (batch, C, h, w) */
    net_opts no;
    int batch, C;
    int64_t h, w;     /* of the current net's input */
    task_kind task;
    int classes;      /* output channels */
    int mult_h, mult_w; /* a dense model's input must be a multiple of these */
    augment_cfg aug;  /* the evaluation transform: resize, crop, normalization */
    char **names;     /* (classes) class names (an index where none is known) */
    float *params, *buffers; /* host copies of the weights, for rebuilt nets */
} pmodel;

/* Builds the model of a checkpoint on this rank's backend; errors are this rank's. */
int pmodel_open(const infer_args *a, comm *c, pmodel *m, cnn_err *e);
/* The net for batch images of h x w (a dense model: any multiple of mult_h x mult_w); a
 * classifier's is always model.input's at --batch. */
int pmodel_resize(pmodel *m, int batch, int64_t h, int64_t w, cnn_err *e);
void pmodel_close(pmodel *m);

/* ---- predict_input.c ---- */
/* The files to predict: every argument that is a file, and the images (.jpg, .jpeg, .png,
 * any case) under every argument that is a folder, recursively, sorted by path. A missing
 * argument stays in the list, to be reported where it stands. */
typedef struct file_list {
    char **path;
    char **stem; /* output name: the file name without extension, made unique */
    char **err;  /* why a folder argument gave nothing (its item's error), else NULL */
    int n, cap;
} file_list;
void input_list(const char *const *args, int n_args, file_list *out);
void input_list_free(file_list *l);

/* One image read and decoded with cnn-pack's decoder (want_c 0: as stored), or why not. */
typedef struct input_image {
    image im;
    char err[1024]; /* non-empty: the file could not be used */
} input_image;
void input_read(const file_list *l, int i, int model_c, input_image *out);

/* ---- predict_output.c ---- */
/* One item's output: its stdout line (JSON) or its error line, appended to out / err. */
typedef struct text_buf {
    char *s;
    size_t len;
    FILE *f;
} text_buf;
void text_open(text_buf *t);
void text_close(text_buf *t); /* s then holds the text (free it) */

/* Per task, from the model's output for one image: h x w crop of the output (the image's
 * own size before padding), at out (C, H, W) with the net's H x W. */
typedef struct predict_item {
    const char *file, *stem;
    const image *src;      /* the decoded image (overlay) */
    const float *out;      /* (classes, H, W) or (classes) */
    int64_t H, W;          /* output plane */
    int h, w;              /* the image's part of it */
    const float *clean;    /* denoise with noise: the clean input (C, H, W), normalized */
    const float *noisy;    /* ... and the noisy one */
} predict_item;
int output_item(const pmodel *m, const infer_args *a, const predict_item *it, FILE *out,
                cnn_err *e);

/* ---- filters_cmd.c: cnn-dist filters (no MPI) ---- */
int infer_filters_main(int argc, char **argv);

/* ---- predict_run.c ---- */
int predict_run(const infer_args *a, comm *c, cnn_err *e);

#endif
