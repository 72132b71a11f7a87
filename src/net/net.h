/* The network graph built from a config's `model:` map (the language: docs/models.md).
 * Layers in topological order, with named skips, scopes and repeated blocks that give every
 * parameter torchvision's state_dict name ("layer1.0.conv1.weight"); shapes inferred once
 * from model.input and the per-rank batch; memory planned once (net_create) and bound once
 * (net_alloc) as arenas; forward and backward over the graph on whichever backend is bound;
 * the registry of parameters and buffers that the optimizer, comm and checkpoints walk.
 * Parameters and their gradients share one layout, in reverse node order, so the gradients
 * that backward finishes first sit first and all-reduce buckets are contiguous slices. */
#ifndef CNN_NET_H
#define CNN_NET_H

#include <stdio.h>

#include "../layers/layers.h"

#define NET_INPUT (-1)  /* the image batch, model.input with the batch in front */
#define NET_TARGET (-2) /* the labels (i32) or the regression target (f32) */
#define NET_KEY_MAX (LAYER_NAME_MAX + 32)

typedef struct net_node {
    layer *l; /* owned; l->name is the full dotted name ("layer1.0.conv1") */
    int n_in;
    int in[LAYER_MAX_INPUTS]; /* producer node index, or NET_INPUT / NET_TARGET */
    /* Backward adds into the producer's gradient instead of overwriting it: the producer
     * feeds several consumers and another one wrote its gradient first. */
    bool acc[LAYER_MAX_INPUTS];
    bool needs_grad;  /* some parameter lies upstream: dout is computed and backward runs */
    tensor out;       /* (l->out) activation, a view into the activation arena */
    tensor dout;      /* (l->out) its gradient, a view into the planned gradient arena */
    size_t param_lo;  /* byte range of this node's parameters in params/grads arenas */
    size_t param_hi;
} net_node;

/* One tensor of the state_dict. */
typedef struct net_entry {
    char key[NET_KEY_MAX]; /* "layer1.0.bn1.running_var" */
    int node;
    layer_slot *slot; /* borrowed: the layer's working tensors (slot->t, slot->grad) */
    /* Bound by net_alloc: the f32 master value and, for parameters, its f32 gradient: what
     * the optimizer, comm and checkpoints read and write (always f32 and NCHW). In an
     * f16/bf16 net the slot of a convolution or linear weight holds a working copy in that
     * precision instead, and in a channels-last net a convolution's parameters hold NHWC
     * (KRSC) copies: net_forward refreshes them from the master, and backward's gradient
     * reaches grad from them (added in f32 from 16 bits; transposed from f32 copies, which
     * accumulate micro-batches themselves). */
    tensor value, grad;
} net_entry;

/* Bytes, planned by net_create (nothing allocated yet), bound by net_alloc. */
typedef struct net_mem {
    size_t params, grads, buffers;
    size_t layer_state; /* SLOT_SAVED and SLOT_CONST: argmax, masks, batch statistics */
    size_t activations; /* every node's output: all live until backward */
    size_t act_grads;   /* peak of the liveness-planned activation gradients */
    size_t scratch;     /* gradient of a fan-out input before it is added */
    size_t io;          /* input and target batches */
    /* f16/bf16 or channels-last nets: working copies of the weights, their gradients, the
     * input (and a channels-last regression target) */
    size_t working;
    size_t total;
} net_mem;

typedef struct net {
    int batch; /* per rank */
    shape in_shape, target_shape;
    dtype in_dt, target_dt; /* of input and target as uploaded: f32 images, i32 or f32 */
    dtype precision; /* of activations and working weights: f32, f16 or bf16 */
    layout lay;      /* of every 4-D activation and convolution weight (channels_last) */
    bool inference;  /* net_opts.inference: forward only */
    net_node *nodes; /* (n_nodes) in execution order */
    int n_nodes;
    int output; /* node giving the model's output (logits, prediction) */
    int loss;   /* the loss node, the last one */
    net_entry *params; /* (n_params) SLOT_PARAM, in forward order */
    int n_params;
    net_entry *buffers; /* (n_buffers) SLOT_BUFFER, in forward order */
    int n_buffers;
    net_mem mem;

    /* Bound by net_alloc. */
    backend *be;
    tensor input;  /* (in_shape) the caller uploads the batch here */
    tensor target; /* (target_shape) */
    /* Flat f32 views over all parameters, their gradients (same offsets) and all buffers:
     * for the optimizer's fused update, bucketed all-reduce and broadcasts. */
    tensor params_flat, grads_flat, buffers_flat;
    void *impl; /* private */
} net;

/* Builds the graph from the `model:` map for a per-rank batch: expansion of groups, blocks
 * and repeats, layer creation, shape inference, memory plan. Allocates no tensor memory, so
 * a summary of any model at any batch is cheap. Errors cite the config position. */
int net_create(const cfg_node *model, int batch, net **out, cnn_err *e);
/* Choices net_create leaves at their defaults. */
typedef struct net_opts {
    /* Classifier with softmax_cross_entropy: the target is f32 (N, classes) probabilities
     * (mixup, CutMix) instead of i32 labels; the loss is then the soft-target cross-entropy
     * (label_smoothing is applied by whoever builds the targets). */
    bool soft_targets;
    /* Activations, their gradients and the working copies of convolution and linear weights
     * in f16 or bf16 (mixed precision): norm parameters and statistics, losses and the
     * masters of every parameter (net_entry.value, params_flat) stay f32. Zero means f32. */
    dtype precision;
    /* Every 4-D activation and convolution weight stored NHWC (PyTorch's channels_last,
     * what cuDNN's tensor-core kernels want); masters, checkpoints, flatten's feature order
     * and every result stay those of the NCHW net. The input batch (NCHW) and a 4-D target
     * are transposed at the start of forward. */
    bool channels_last;
    /* Forward only (predict, eval): no gradients of parameters or activations, no scratch,
     * and activations share memory by liveness (an output lives from its node to its last
     * consumer; the model's output to the end). net_backward is then a fault. */
    bool inference;
    /* The input's height and width instead of model.input's (a fully convolutional model on
     * a whole image); 0 keeps model.input's. Needs a 4-D input. */
    int64_t input_h, input_w;
} net_opts;
int net_create_opts(const cfg_node *model, int batch, const net_opts *o, net **out,
                    cnn_err *e);
/* Binds every tensor to arenas on be; fails with CNN_ENOMEM naming the sizes. */
int net_alloc(net *n, backend *be, cnn_err *e);
/* PyTorch's default initialisation per layer, keyed by (key, node name): the same on every
 * rank and for every world size. */
void net_init(net *n, rng_key key);
/* Forward over every node; the loss node too when with_loss (n->target must hold labels).
 * x->training selects batch statistics and dropout. An f16/bf16 or channels-last net first
 * converts the f32 masters into the working weights and the input into its precision and
 * layout, so whoever changed params_flat (optimizer, EMA swap, checkpoint load, broadcast)
 * needs no extra call. */
void net_forward(net *n, exec *x, bool with_loss);
/* Called after a node's backward once its parameter gradients are final (nodes with
 * parameters only, in backward order): grads_flat bytes [param_lo, param_hi) are ready, and
 * so is everything below param_lo. */
typedef void (*net_grad_hook)(void *ctx, const net *n, int node);
/* Backward from the loss (seeded with dloss = 1) to the first node with parameters.
 * Parameter gradients follow x->param_grad_beta (0 overwrite, 1 accumulate). hook may be
 * NULL. */
void net_backward(net *n, exec *x, net_grad_hook hook, void *ctx);
/* The same with the loss gradient seeded with dloss instead of 1: a rank's share of the
 * global mean loss (its counted elements / all ranks' counted elements), so that summing the
 * ranks' gradients gives the exact global average; times *x->loss_scale when that is set. */
void net_backward_scaled(net *n, exec *x, float dloss, net_grad_hook hook, void *ctx);
void net_destroy(net *n);

/* What the model does, as its loss declares it (layer_ops.loss) with the output's rank:
 * labels per row classify, labels per pixel segment, a dense f32 target is image to image
 * (denoising). */
typedef enum task_kind { TASK_CLASSIFY, TASK_SEGMENT, TASK_DENOISE } task_kind;
task_kind net_task(const net *n);
/* The loss node's declaration (target, ignore_index, label_smoothing). */
loss_decl net_loss_decl(const net *n);
/* Output channels: classes (classify, segment), image channels (denoise). */
int net_classes(const net *n);

/* Node index by full name, or -1. */
int net_find(const net *n, const char *name);
/* State-dict entry (parameter or buffer) by key, or NULL. */
const net_entry *net_entry_find(const net *n, const char *key);
/* The loss value after a forward with loss (device tensor of shape (1)). */
const tensor *net_loss_value(const net *n);
const tensor *net_output(const net *n);

/* ---- summary (summary.c) ---- */
typedef struct net_node_stats {
    int64_t params; /* learned elements */
    int64_t macs;   /* layer_info.macs */
    double rf_h, rf_w;         /* receptive field of one output pixel, input pixels */
    double jump_h, jump_w;     /* distance between adjacent outputs, input pixels */
    bool global;               /* sees the whole input */
} net_node_stats;

typedef struct net_totals {
    int64_t params, buffers_elems, macs;
    net_mem mem;
} net_totals;

/* Per-node stats (stats has n_nodes entries) and totals; works on a net that is created but
 * not allocated. */
void net_stats(const net *n, net_node_stats *stats, net_totals *t);
/* The table `cnn-dist CONFIG --summary` prints: per layer name, type, output shape,
 * parameters, MACs, receptive field (size and stride); then totals and the memory of one
 * training step at this batch. */
void net_summary_print(const net *n, FILE *f);

#endif
