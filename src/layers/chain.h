/* A straight chain of layers with its own memory: what unit tests, the gradient checker and
 * the layer demo need to run a few layers in sequence (the net module builds real graphs).
 * Layer 0 takes every chain input; layer i > 0 takes the output of layer i-1. Layers that
 * name a reference (max_unpool2d: its max_pool2d) are resolved among the chain's layers.
 * The chain runs in its first layer's layout (ls[0]->lay, set before chain_setup): every
 * layer and every 4-D input and activation gets it.
 * Private to src/layers and its tools; not part of the layer contract. */
#ifndef CNN_LAYERS_CHAIN_H
#define CNN_LAYERS_CHAIN_H

#include "layers.h"

typedef struct layer_chain {
    layer **l; /* borrowed (n) */
    int n;
    backend *be;
    int n_in;
    tensor in[LAYER_MAX_INPUTS];  /* owned; caller uploads data */
    tensor din[LAYER_MAX_INPUTS]; /* owned for f32 inputs; data NULL for others (labels) */
    tensor *act;                  /* (n) outputs, owned */
    tensor *dact;                 /* (n) output gradients, owned */
    double *fwd_s, *bwd_s;        /* (n) seconds spent per layer, summed over calls */
} layer_chain;

int chain_setup(layer_chain *c, layer **ls, int n, backend *be, const shape *in,
                const dtype *in_dt, int n_in, cnn_err *e);
void chain_init(layer_chain *c, rng_key key);
void chain_forward(layer_chain *c, exec *x);
/* Gradient of the last output is taken from c->dact[n-1], which the caller fills. */
void chain_backward(layer_chain *c, exec *x);
void chain_free(layer_chain *c);
const tensor *chain_out(const layer_chain *c);

/* Central finite differences on a random projection L = sum(r * out) (Caffe's
 * GradientChecker): for sampled elements of every f32 input and parameter, compare
 * (L(v+h) - L(v-h)) / 2h with the backward pass. Points where the two one-sided
 * differences disagree sit on a kink (ReLU at 0, max-pool ties) and are skipped. */
typedef struct gradcheck_opts {
    double step, rtol, atol;
    int max_points; /* per tensor */
    rng_key key;
} gradcheck_opts;

typedef struct gradcheck_result {
    int checked, skipped, failed;
    double max_abs_err, max_rel_err;
    char worst[160]; /* which tensor and index had the largest error */
} gradcheck_result;

gradcheck_opts gradcheck_defaults(void);
int chain_gradcheck(layer_chain *c, exec *x, const gradcheck_opts *o, gradcheck_result *r,
                    cnn_err *e);

#endif
