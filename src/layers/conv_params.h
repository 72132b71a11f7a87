/* Private to src/layers: what conv2d and conv_transpose2d share. Their YAML keys (out,
 * kernel, stride, pad, dilation, groups, bias, and output_pad for the transposed one), the
 * checks on them and on the input; and, shared with linear, the weight/bias slots and
 * PyTorch's default init for them. */
#ifndef CNN_LAYERS_CONV_PARAMS_H
#define CNN_LAYERS_CONV_PARAMS_H

#include "layers.h"

typedef struct conv_params {
    int64_t out;               /* output channels */
    int64_t k[2], s[2], p[2];  /* kernel, stride, zero padding: [h, w] */
    int64_t dil[2], opad[2];   /* dilation; output_pad (transposed only, else 0) */
    int64_t groups;
    bool bias;
} conv_params;

/* Reads and checks the keys; transposed adds output_pad. */
int conv_params_parse(layer *l, const cfg_node *n, bool transposed, conv_params *cp,
                      cnn_err *e);
conv_desc conv_params_desc(const conv_params *cp);
/* Input 0 must be f32 (N, C, H, W) with C divisible by groups. */
int conv_params_check_input(layer *l, const conv_params *cp, cnn_err *e);
/* Declares weight (wshape) and, with bias, bias (bias_len). A weight declared by an earlier
 * infer with another shape means the input changed under a built layer: an error. */
int conv_params_declare(layer *l, shape wshape, bool bias, int64_t bias_len, cnn_err *e);
/* PyTorch's default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void conv_params_init(layer *l, backend *be, rng_key key, int64_t fan_in);
/* The gradient tensor of a parameter slot (fault when unbound). */
tensor *conv_params_grad(layer *l, const char *name);
/* Multiply-adds for the summary: numel outputs (or inputs) times per_elem, saturating at
 * INT64_MAX instead of overflowing for absurd configs. */
int64_t conv_params_macs(int64_t numel, int64_t per_elem);

#endif
