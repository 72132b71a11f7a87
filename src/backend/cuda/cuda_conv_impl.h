/* The CUDA convolution's private parts, in three files: cuda_conv_entry.c (the cache of
 * entries: key, geometry, cuDNN descriptors), cuda_conv_algo.c (the algorithm or plan an
 * entry runs, found by measuring) and cuda_conv.c (running a call; the backend ops). */
#ifndef CNN_BACKEND_CUDA_CONV_IMPL_H
#define CNN_BACKEND_CUDA_CONV_IMPL_H

#include "cuda_conv_engine.h"
#include "cuda_impl.h"

typedef enum conv_op { CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER } conv_op;
extern const char *const conv_op_names[3];

/* Compared with memcmp: no implicit padding (the static assert), zeroed before filled. */
typedef struct conv_key {
    int32_t op;
    int32_t dt;  /* float dtype of all three tensors */
    conv_desc d;
    int32_t lay; /* the layout of all three tensors (filter KRSC when NHWC) */
    int64_t x[4]; /* x or dx (N, C, H, W) */
    int64_t w[4]; /* w or dw (K, C/groups, R, S) */
    int64_t y[4]; /* y or dy (N, K, P, Q) */
} conv_key;
_Static_assert(sizeof(conv_key) == 3 * sizeof(int32_t) + sizeof(conv_desc) + 12 * sizeof(int64_t),
               "conv_key must have no implicit padding");

typedef struct conv_entry {
    conv_key key;
    cudnnTensorDescriptor_t xd, yd; /* xd: the x side cuDNN sees (padded copy when padded) */
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    int algo; /* -1 until measured */
    /* Channels-last only: cuDNN has no algorithm for this key, so the call runs on NCHW
     * copies through the NCHW key's entry (cuda_conv.c, run_via_nchw). */
    bool via_nchw;
    size_t algo_ws;
    cudnnMathType_t math; /* the math type the algorithm was measured with */
    bool plan_tried;
    conv_plan *plan; /* NULL: the legacy algorithm is faster, or no plan runs */
    /* Padded mode: tmp (N, C, th, tw), stored in the key's layout, holds x at row pad_h,
     * column pad_w; the region of ch x cw rows/columns of the caller's x that the windows
     * reach is described twice: inside tmp (tmp_view) and inside the caller's tensor
     * (user_view). */
    bool padded;
    int64_t th, tw, ch, cw;
    void *tmp;
    cudnnTensorDescriptor_t tmp_view, user_view, user_full;
} conv_entry;

/* The entry of key k, created (geometry checked, descriptors made, padding buffer taken from
 * the pool) on first use; algo is then -1. */
conv_entry *conv_cache_get(backend *be, const conv_key *k);
/* "conv_fwd f32 nhwc x (...) w (...) y (...) stride ..." for messages. */
const char *conv_key_str(const conv_key *k, char *b, size_t n);
cudnnDataType_t conv_cudnn_type(int32_t dt);
size_t conv_esize(const conv_key *k);

/* Measures the legacy algorithms on the caller's inputs and keeps the fastest that fits the
 * workspace limit and the dtype's math (and is deterministic when the backend asks);
 * false when none does. */
bool conv_choose_algo(backend *be, conv_entry *en, const void *in0, const void *in1);
/* Times the graph API's plans against the chosen legacy algorithm (beta 0 into dst) and
 * keeps the fastest plan when it wins by over 3%. */
void conv_choose_plan(backend *be, conv_entry *en, const void *in0, const void *in1, void *dst);
/* dst = result + b * dst with the legacy algorithm; in0/in1/dst in the order of conv_op. */
void conv_run_legacy(backend *be, const conv_entry *en, const void *in0, const void *in1,
                     void *dst, float b);
/* The plan's (x, w, y) buffers in the order of conv_op. */
void conv_plan_ptrs(const conv_key *k, const void *in0, const void *in1, void *dst, void *p[3]);

#endif
