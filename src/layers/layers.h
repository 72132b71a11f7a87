/* The layer contract (Caffe's declared layer, llm.c's arenas).
 * A layer type is one file exporting one `const layer_ops`; registry.c lists them.
 * Life of a layer: layer_create (parse its YAML keys) -> layer_infer (input shapes known:
 * check them, compute the output shape, declare slots) -> the owner binds memory to every
 * slot (the net's arenas, or layer_alloc_standalone) -> init -> forward/backward, which do no
 * allocation and run all math through the backend in exec. */
#ifndef CNN_LAYERS_H
#define CNN_LAYERS_H

#include "../core/core.h"

#define LAYER_MAX_INPUTS 8
#define LAYER_MAX_SLOTS 8
#define LAYER_NAME_MAX 128 /* full dotted names: "layer4.2.downsample.0" */

/* What a step needs besides the layer: the backend, the mode and the step's RNG key. */
typedef struct exec {
    backend *be;
    bool training;
    rng_key key; /* this step's key; a layer folds in its own name (dropout) */
    float param_grad_beta; /* 0: backward overwrites parameter gradients; 1: accumulates */
    /* Optional cross-rank sum of per-channel statistics, in place (synchronized batch norm);
     * NULL means statistics stay local. Supplied by comm, so layers never call MPI. */
    void (*reduce_sum)(void *ctx, tensor *t);
    void *reduce_ctx;
    double reduce_ranks; /* number of ranks summed by reduce_sum (1 when NULL) */
    /* Mixed precision: f32 device tensor whose element 0 multiplies the loss gradient that
     * backward starts from (dynamic loss scaling); NULL = 1. */
    const tensor *loss_scale;
} exec;

typedef enum slot_kind {
    SLOT_PARAM,  /* learned; has a gradient; in checkpoints (state_dict) */
    SLOT_BUFFER, /* state that is not learned (running stats); in checkpoints */
    SLOT_CONST,  /* filled by init, never changes (blur filter); not in checkpoints */
    SLOT_SAVED,  /* written by forward for backward (argmax, softmax, mask, batch stats) */
} slot_kind;

typedef struct layer_slot {
    char name[32]; /* state_dict suffix: "weight", "bias", "running_mean" */
    slot_kind kind;
    bool no_decay; /* params: biases and norm scales can be exempt from weight decay */
    tensor t;      /* shape and dtype declared by infer; memory bound by the owner */
    tensor grad;   /* SLOT_PARAM only */
} layer_slot;

typedef struct layer layer;
typedef struct layer_ops layer_ops;

/* What a loss layer declares about the task it trains (layer_ops.loss), so that the net,
 * the trainer, eval and predict ask the loss instead of comparing type names. */
typedef enum loss_target {
    LOSS_LABELS, /* i32 class per row (N) or per pixel (N, H, W): classification, or
                    segmentation when the output is (N, C, H, W) */
    LOSS_DENSE,  /* f32 of the output's shape: image to image (denoising) */
} loss_target;
typedef struct loss_decl {
    loss_target target;
    bool soft_targets;      /* also takes f32 (N, C) probabilities (mixup, CutMix) */
    int ignore_index;       /* LOSS_LABELS: this label is not counted (-100 when unset) */
    double label_smoothing; /* LOSS_LABELS: applied by whoever builds soft targets */
} loss_decl;

/* A layer's geometry and cost at its inferred shapes, for `--summary`. */
typedef struct layer_info {
    /* Multiply-adds of one forward pass over the whole batch, counted for convolutions
     * (also transposed) and linear layers only: the convention behind torchvision's published
     * GFLOPS (fvcore-style, one multiply-add = one FLOP). */
    int64_t macs;
    int kh, kw;     /* window (1 for pointwise) */
    int sh, sw;     /* stride: output step in input pixels (1 for pointwise) */
    int dh, dw;     /* dilation (1 when none) */
    int up_h, up_w; /* > 1 when the output grid is finer: upsample, transposed conv, unpool */
    bool global;    /* every output sees the whole input (global pooling, linear, flatten) */
} layer_info;
/* The pointwise defaults (all 1, no MACs); describe hooks start from this. */
layer_info layer_info_pointwise(void);

struct layer {
    const layer_ops *ops;
    char name[LAYER_NAME_MAX];
    cfg_mark mark; /* where its YAML starts, for messages */
    int n_in;
    shape in[LAYER_MAX_INPUTS];
    dtype in_dt[LAYER_MAX_INPUTS];
    shape out;
    dtype out_dt;
    /* How every 4-D tensor of this layer is stored (inputs, output, slots: a convolution's
     * weight is then KRSC); set by the owner before infer (net: channels_last; a chain: its
     * first layer's). Shapes stay logical (N, C, H, W) either way. */
    layout lay;
    /* Another layer this one reads (max_unpool reads its max_pool's argmax): parse sets
     * ref_name, the owner resolves it to ref before infer. */
    char ref_name[LAYER_NAME_MAX];
    layer *ref;
    layer_slot slots[LAYER_MAX_SLOTS];
    int n_slots;
    void *state; /* the type's own fields, defined in its .c file */
};

struct layer_ops {
    const char *type; /* the YAML `type:` */
    int min_in, max_in;
    /* Reads the type's own keys (and rejects unknown ones); allocates l->state. */
    int (*parse)(layer *l, const cfg_node *n, cnn_err *e);
    /* l->in, l->in_dt, l->n_in (and l->ref) are set: validate them, set l->out and
     * l->out_dt, declare slots with layer_declare. May be called again for new shapes. */
    int (*infer)(layer *l, cnn_err *e);
    /* Fill params and buffers (and consts) once memory is bound; NULL = nothing to fill.
     * Initialisers match PyTorch's defaults for the same module. */
    void (*init)(layer *l, backend *be, rng_key key);
    void (*forward)(layer *l, const tensor *const *in, tensor *out, exec *x);
    /* din[i] may be NULL (input needs no gradient, e.g. labels or the image). din is
     * overwritten; parameter gradients follow x->param_grad_beta. */
    void (*backward)(layer *l, const tensor *const *in, const tensor *out, const tensor *dout,
                     tensor *const *din, exec *x);
    void (*destroy)(layer *l); /* frees l->state; NULL = plain free */
    /* What the summary needs after infer (MACs, window for the receptive field); NULL for a
     * pointwise layer without multiply-adds (activations, norms, add, dropout). */
    void (*describe)(const layer *l, layer_info *info);
    /* A loss layer (the net's last node) declares its target and keys once parsed; NULL for
     * every other layer. */
    void (*loss)(const layer *l, loss_decl *d);
};

/* Keys every layer accepts besides its own: its identity and graph wiring (net reads those). */
extern const char *const layer_common_keys[];

/* ---- registry ---- */
const layer_ops *layer_ops_find(const char *type);
/* "conv2d, conv_transpose2d, ..." into buf, for error messages; returns buf. */
const char *layer_types_list(char *buf, size_t n);
/* The same for the types that are losses (layer_ops.loss set). */
const char *layer_loss_types_list(char *buf, size_t n);

/* ---- life cycle (layer.c) ---- */
/* Builds a layer from its YAML map (type, name and the type's own keys). default_name is
 * used when the map has no `name:`. */
int layer_create(const cfg_node *spec, const char *default_name, layer **out, cnn_err *e);
/* The same where the map may omit `type:` and default_type stands in for it. */
int layer_create_default(const cfg_node *spec, const char *default_type,
                         const char *default_name, layer **out, cnn_err *e);
int layer_infer(layer *l, const shape *in, const dtype *in_dt, int n_in, cnn_err *e);
void layer_destroy(layer *l);

/* For infer: declare (or redeclare, on a new shape) a slot; a 4-D slot is stored in l->lay.
 * Returns the slot. */
layer_slot *layer_declare(layer *l, const char *name, slot_kind kind, dtype dt, shape s);
layer_slot *layer_slot_find(layer *l, const char *name);
/* Like find, but a missing slot is a fault (forward/backward use it). */
tensor *layer_slot_t(layer *l, const char *name);

/* Tests and tools own memory per slot; the net uses arenas instead. */
int layer_alloc_standalone(layer *l, backend *be, cnn_err *e);
void layer_free_standalone(layer *l, backend *be);

/* ---- helpers for layer files ---- */
/* Parse error with the layer's name and type in front. */
#define LAYER_ERR(l, e, ...)                                                             \
    (CNN_ERR(e, CNN_EINVAL, __VA_ARGS__),                                                \
     cnn_err_prefix(e, "layer '%s' (%s): ", (l)->name, (l)->ops->type), CNN_EINVAL)

/* Input checks for infer, messages through LAYER_ERR. Input i must be a float tensor (f32,
 * f16 or bf16: the run's precision) of input 0's dtype: "input must be f32, f16 or bf16, got
 * i32" ("input 1 must be ..." for a type that takes several inputs). layer_infer presets
 * out_dt to input 0's float dtype, so activations keep the precision through the graph. */
int layer_expect_float(layer *l, int i, cnn_err *e);
/* Also its rank must have its bit set in ranks, which layout names for the user: "input must
 * be (N, C, H, W), got (4, 10)". */
#define LAYER_RANK(r) (1u << (r))
#define LAYER_RANK_MIN(r) (~0u << (r)) /* r or more dimensions */
int layer_expect_input(layer *l, int i, unsigned ranks, const char *layout, cnn_err *e);
/* The common case: input 0 is float (N, C, H, W). */
int layer_expect_nchw(layer *l, cnn_err *e);
/* "3" for a square pair, "[3, 2]" otherwise, as the user can write it in YAML; returns b. */
const char *layer_pair_str(const int64_t v[2], char *b, size_t n);

/* Upload f32 host values in logical (NCHW) order into t, rounded to t's float dtype and
 * stored in t's layout; waits for the copy. */
void layer_upload_f32(backend *be, tensor *t, const float *host);
/* Fill a slot with uniform values in [lo, hi) from key (host generation, then upload). */
void layer_fill_uniform(backend *be, tensor *t, rng_key key, float lo, float hi);
/* Output size of a convolution/pooling window along one axis (may be <= 0: caller checks). */
int64_t layer_window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d);

#endif
