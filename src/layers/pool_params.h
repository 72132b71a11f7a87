/* Private to src/layers: what the pooling layers share. max_pool2d and avg_pool2d read the
 * same keys (kernel, stride defaulting to the kernel, pad at most half the kernel as PyTorch
 * requires, so every window holds real input) and check the input and window alike; they and
 * global_avg_pool keep a pool_desc as their whole state and share forward/backward;
 * blur_pool2d uses the range check. */
#ifndef CNN_LAYERS_POOL_PARAMS_H
#define CNN_LAYERS_POOL_PARAMS_H

#include "layers.h"

#define POOL_MAX_DIM (1 << 20) /* kernel, stride */

/* Reads and checks kernel, stride and pad into d (kind and the rest of d untouched). The
 * caller has checked its keys. */
int pool_params_parse(layer *l, const cfg_node *n, pool_desc *d, cnn_err *e);
/* key=v must lie in [1, POOL_MAX_DIM] in both dimensions. */
int pool_params_check_range(layer *l, const char *key, const int64_t v[2], cnn_err *e);
/* Input 0 must be f32 (N, C, H, W) with an H*W plane that i32 can index; `why` ends the
 * message when it cannot ("(more than 2^31 elements)"). */
int pool_params_check_input(layer *l, const char *why, cnn_err *e);
/* The input check, then the window of d against the padded input; sets l->out. */
int pool_params_infer(layer *l, const pool_desc *d, const char *why, cnn_err *e);
/* For a layer whose state is its pool_desc; max pooling's argmax is its slot "indices". */
void pool_params_forward(layer *l, const tensor *const *in, tensor *out, exec *x);
void pool_params_backward(layer *l, const tensor *const *in, const tensor *out,
                          const tensor *dout, tensor *const *din, exec *x);
/* The window and stride of the layer's pool_desc, no MACs (the summary's convention). */
void pool_params_describe(const layer *l, layer_info *info);

#endif
