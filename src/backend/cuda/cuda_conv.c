/* CUDA convolutions on cuDNN 9's legacy convolution API (cross-correlation, groups on the
 * descriptor, CUDNN_FMA_MATH so fp32 stays IEEE fp32, no TF32; f16/bf16 data are cuDNN's
 * PSEUDO_HALF/PSEUDO_BFLOAT16 configurations: f32 compute type, tensor-op math allowed),
 * with graph-API plans where they measure faster (cuda_conv_algo.c). Everything that
 * defines a call (op, dtype, layout, shapes, geometry) keys one cache entry
 * (cuda_conv_entry.c); the first call measures, later calls only launch. beta is cuDNN's
 * own (out = result + beta * out). A padded entry (a transposed convolution whose output_pad
 * symmetric padding cannot express) runs on a zero-padded copy of the x side and copies back
 * the rows the windows reach; the rest of dx receives no gradient (dx = beta * dx).
 * Channels-last (backend.h) is what cuDNN's tensor-core kernels read without a transpose,
 * as PyTorch's channels_last convolutions do; where cuDNN has no algorithm for a
 * channels-last key (say, an fp32 grouped convolution), that call runs on NCHW copies. */
#include <stdio.h>
#include <string.h>

#include "cuda_conv_impl.h"

/* Where tmp's reached region starts: row pad_h, column pad_w (of channel 0 in NCHW, of the
 * first pixel's channels in channels-last). */
static void *tmp_origin(const conv_entry *en)
{
    const conv_key *k = &en->key;
    int64_t px = k->d.pad_h * en->tw + k->d.pad_w, c = k->lay == LAYOUT_NHWC ? k->x[1] : 1;
    return (char *)en->tmp + (size_t)(px * c) * conv_esize(k);
}

/* tmp = x zero-padded: the reached ch x cw region of x lands at (pad_h, pad_w). */
static void pad_in(backend *be, const conv_entry *en, const void *x)
{
    cuda_state *st = cuda_of(be);
    const conv_key *k = &en->key;
    size_t bytes = (size_t)(k->x[0] * k->x[1] * en->th * en->tw) * conv_esize(k);
    CNN_CUDA(cudaMemsetAsync(en->tmp, 0, bytes, st->stream));
    if (!en->tmp_view)
        return;
    const float one = 1.0f, zero = 0.0f;
    CNN_CUDNN(cudnnTransformTensor(st->cudnn, &one, en->user_view, x, &zero, en->tmp_view,
                                   tmp_origin(en)));
}

/* dx = (reached region of tmp) + beta * dx; rows/columns no window reaches get beta * dx. */
static void crop_out(backend *be, const conv_entry *en, void *dx, float beta)
{
    cuda_state *st = cuda_of(be);
    const conv_key *k = &en->key;
    if (beta == 0.0f) {
        size_t bytes = (size_t)(k->x[0] * k->x[1] * k->x[2] * k->x[3]) * conv_esize(k);
        CNN_CUDA(cudaMemsetAsync(dx, 0, bytes, st->stream));
    } else if (beta != 1.0f) {
        CNN_CUDNN(cudnnScaleTensor(st->cudnn, en->user_full, dx, &beta));
    }
    if (!en->tmp_view)
        return;
    const float one = 1.0f;
    CNN_CUDNN(cudnnTransformTensor(st->cudnn, &one, en->tmp_view, tmp_origin(en), &one,
                                   en->user_view, dx));
}


static void no_algorithm(backend *be, const conv_key *k)
{
    cuda_state *st = cuda_of(be);
    char b[512];
    cnn_fatal("cuDNN found no %s%s algorithm within the %.1f MiB workspace limit for %s; raise "
              "the workspace limit (cuda.workspace_mb)%s",
              st->deterministic ? "deterministic " : "",
              k->dt == DTYPE_F32 ? "fp32 (FMA)" : "f32-accumulating",
              (double)st->workspace_limit / (1 << 20), conv_key_str(k, b, sizeof b),
              st->deterministic ? " or allow nondeterministic algorithms "
                                  "(cuda.deterministic: false)" : "");
}

static void conv_run(backend *be, const conv_key *k, const void *in0, const void *in1,
                     void *out, float beta);

/* A pool buffer holding the (N, C, H, W) tensor dims in layout lay. */
static tensor pool_tensor(backend *be, const conv_key *k, const int64_t dims[4], layout lay)
{
    tensor t = tensor_view(NULL, shape_make(4, dims), (dtype)k->dt, DEVICE_CUDA);
    t.lay = lay;
    cnn_err e = {0};
    if (be->ops->alloc(be, tensor_bytes(&t), &t.data, &e) < 0)
        cnn_fatal("convolution through NCHW copies: %s", e.msg);
    return t;
}

/* The call on NCHW copies of its channels-last operands, through the NCHW key's entry; the
 * result is transposed back into out with beta. Costs three transposes and the memory of
 * the copies (pool buffers, returned at once: stream order keeps their reuse safe). */
static void run_via_nchw(backend *be, const conv_key *k, const void *in0, const void *in1,
                         void *out, float beta)
{
    const int64_t *dims[3] = {k->op == CONV_BWD_DATA ? k->y : k->x,
                              k->op == CONV_BWD_FILTER ? k->y : k->w,
                              k->op == CONV_FWD ? k->y : k->op == CONV_BWD_DATA ? k->x : k->w};
    const void *src[3] = {in0, in1, out};
    tensor cl[3], plain[3];
    for (int i = 0; i < 3; i++) {
        cl[i] = tensor_view((void *)src[i], shape_make(4, dims[i]), (dtype)k->dt, DEVICE_CUDA);
        cl[i].lay = LAYOUT_NHWC;
        plain[i] = pool_tensor(be, k, dims[i], LAYOUT_NCHW);
    }
    be->ops->convert(be, &cl[0], &plain[0], 0.0f);
    be->ops->convert(be, &cl[1], &plain[1], 0.0f);
    conv_key nk = *k;
    nk.lay = LAYOUT_NCHW;
    conv_run(be, &nk, plain[0].data, plain[1].data, plain[2].data, 0.0f);
    be->ops->convert(be, &plain[2], &cl[2], beta);
    for (int i = 0; i < 3; i++)
        be->ops->free(be, plain[i].data);
}

/* in0/in1/out in the order of conv_op: fwd (x, w -> y), bwd_data (dy, w -> dx),
 * bwd_filter (x, dy -> dw). */
static void conv_run(backend *be, const conv_key *k, const void *in0, const void *in1,
                     void *out, float beta)
{
    conv_entry *en = conv_cache_get(be, k);
    if (en->via_nchw) {
        run_via_nchw(be, k, in0, in1, out, beta);
        return;
    }
    const void *x_side = in0;
    if (en->padded && k->op != CONV_BWD_DATA) {
        pad_in(be, en, in0);
        in0 = en->tmp;
    }
    void *dst = en->padded && k->op == CONV_BWD_DATA ? (void *)en->tmp : out;
    float b = dst == out ? beta : 0.0f;
    if (en->algo < 0 && !conv_choose_algo(be, en, in0, in1)) {
        if (k->lay != LAYOUT_NHWC)
            no_algorithm(be, k);
        char kb[512];
        log_warn("cuDNN has no channels-last algorithm for %s: it runs on NCHW copies (slower)",
                 conv_key_str(k, kb, sizeof kb));
        en->via_nchw = true;
        run_via_nchw(be, k, x_side, in1, out, beta);
        return;
    }
    if (!en->plan_tried && b == 0.0f)
        conv_choose_plan(be, en, in0, in1, dst);
    void *p[3];
    conv_plan_ptrs(k, in0, in1, dst, p);
    if (en->plan && b == 0.0f && conv_plan_fits(en->plan, p[0], p[1], p[2])) {
        void *ws = NULL;
        cuda_workspace(be, conv_plan_ws(en->plan), &ws);
        conv_plan_run(be, en->plan, p[0], p[1], p[2], ws);
    } else {
        conv_run_legacy(be, en, in0, in1, dst, b);
    }
    if (dst != out)
        crop_out(be, en, out, beta);
}

/* x, w and y (or their gradients) of one float dtype and one layout. */
static conv_key make_key(conv_op op, const conv_desc *d, const tensor *x, const tensor *w,
                         const tensor *y)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(w, x->dt);
    CUDA_EXPECT(y, x->dt);
    conv_key k;
    memset(&k, 0, sizeof k);
    k.op = op;
    k.dt = x->dt;
    k.d = *d;
    if (x->s.nd != 4 || w->s.nd != 4 || y->s.nd != 4)
        cnn_fatal("cuda backend: %s takes 4-d tensors, got x %dd, w %dd, y %dd", conv_op_names[op],
                  x->s.nd, w->s.nd, y->s.nd);
    CUDA_SAME_LAYOUT(x, w);
    CUDA_SAME_LAYOUT(x, y);
    k.lay = x->lay;
    memcpy(k.x, x->s.d, sizeof k.x);
    memcpy(k.w, w->s.d, sizeof k.w);
    memcpy(k.y, y->s.d, sizeof k.y);
    return k;
}

static void cuda_conv_fwd(backend *be, const conv_desc *d, const tensor *x, const tensor *w,
                          tensor *y, float beta)
{
    conv_key k = make_key(CONV_FWD, d, x, w, y);
    conv_run(be, &k, x->data, w->data, y->data, beta);
}

static void cuda_conv_bwd_data(backend *be, const conv_desc *d, const tensor *dy,
                               const tensor *w, tensor *dx, float beta)
{
    conv_key k = make_key(CONV_BWD_DATA, d, dx, w, dy);
    conv_run(be, &k, dy->data, w->data, dx->data, beta);
}

static void cuda_conv_bwd_filter(backend *be, const conv_desc *d, const tensor *x,
                                 const tensor *dy, tensor *dw, float beta)
{
    conv_key k = make_key(CONV_BWD_FILTER, d, x, dw, dy);
    conv_run(be, &k, x->data, dy->data, dw->data, beta);
}

void cuda_install_conv(backend_ops *ops)
{
    ops->conv_fwd = cuda_conv_fwd;
    ops->conv_bwd_data = cuda_conv_bwd_data;
    ops->conv_bwd_filter = cuda_conv_bwd_filter;
}
