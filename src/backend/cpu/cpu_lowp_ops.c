/* The f16/bf16 and channels-last wrappers (cpu_lowp.h) of the elementwise, activation,
 * dropout, bias, convolution, pooling and resampling ops: each converts its low-precision
 * tensors to f32 (and, for kernels that read NCHW, its NHWC tensors to NCHW: masks and
 * indices too), runs the f32 kernel and writes the outputs back; f32 NCHW calls pass
 * straight through. Elementwise ops and activations are layout-agnostic. */
#include "cpu_lowp.h"

/* ---- elementwise, activations, dropout ---- */

static void w_axpby(backend *be, float a, const tensor *x, float b, tensor *y)
{
    lowp c;
    if (!lowp_begin(&c, be, "axpby", x)) {
        F32->axpby(be, a, x, b, y);
        return;
    }
    tensor *xv = IN(x), *yv = OUT(y);
    F32->axpby(be, a, xv, b, yv);
    lowp_done(y, yv);
}

static void w_add(backend *be, const tensor *a, const tensor *b, tensor *y)
{
    lowp c;
    if (!lowp_begin(&c, be, "add", a)) {
        F32->add(be, a, b, y);
        return;
    }
    tensor *av = IN(a), *bv = IN(b), *yv = OUT(y);
    F32->add(be, av, bv, yv);
    lowp_done(y, yv);
}

static void w_act_fwd(backend *be, act_kind k, float alpha, const tensor *x, tensor *y)
{
    lowp c;
    if (!lowp_begin(&c, be, "act_fwd", x)) {
        F32->act_fwd(be, k, alpha, x, y);
        return;
    }
    tensor *xv = IN(x), *yv = OUT(y);
    F32->act_fwd(be, k, alpha, xv, yv);
    lowp_done(y, yv);
}

static void w_act_bwd(backend *be, act_kind k, float alpha, const tensor *x, const tensor *y,
                      const tensor *dy, tensor *dx)
{
    lowp c;
    if (!lowp_begin(&c, be, "act_bwd", dy)) {
        F32->act_bwd(be, k, alpha, x, y, dy, dx);
        return;
    }
    tensor *xv = IN(x), *yv = IN(y), *dyv = IN(dy), *dxv = OUT(dx);
    F32->act_bwd(be, k, alpha, xv, yv, dyv, dxv);
    lowp_done(dx, dxv);
}

static void w_dropout_fwd(backend *be, rng_key key, float p, const tensor *x, tensor *y,
                          tensor *mask)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "dropout_fwd", x)) {
        F32->dropout_fwd(be, key, p, x, y, mask);
        return;
    }
    tensor *xv = IN(x), *yv = OUT(y), *mv = RAW(mask);
    F32->dropout_fwd(be, key, p, xv, yv, mv);
    lowp_done(y, yv);
    lowp_done(mask, mv);
}

static void w_dropout_bwd(backend *be, float p, const tensor *mask, const tensor *dy,
                          tensor *dx)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "dropout_bwd", dy)) {
        F32->dropout_bwd(be, p, mask, dy, dx);
        return;
    }
    tensor *dyv = IN(dy), *dxv = OUT(dx);
    F32->dropout_bwd(be, p, RAW(mask), dyv, dxv);
    lowp_done(dx, dxv);
}

static void w_bias_add(backend *be, tensor *y, const tensor *b)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "bias_add", y)) {
        F32->bias_add(be, y, b);
        return;
    }
    tensor *yv = OUT(y), *bv = IN(b);
    F32->bias_add(be, yv, bv);
    lowp_done(y, yv);
}

static void w_bias_grad(backend *be, const tensor *dy, tensor *db, float beta)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "bias_grad", dy)) {
        F32->bias_grad(be, dy, db, beta);
        return;
    }
    tensor *dyv = IN(dy), *dbv = OUT(db);
    F32->bias_grad(be, dyv, dbv, beta);
    lowp_done(db, dbv);
}

/* ---- convolution ---- */

static void w_conv_fwd(backend *be, const conv_desc *d, const tensor *x, const tensor *w,
                       tensor *y, float beta)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "conv_fwd", x)) {
        F32->conv_fwd(be, d, x, w, y, beta);
        return;
    }
    tensor *xv = IN(x), *wv = IN(w), *yv = OUT(y);
    F32->conv_fwd(be, d, xv, wv, yv, beta);
    lowp_done(y, yv);
}

static void w_conv_bwd_data(backend *be, const conv_desc *d, const tensor *dy, const tensor *w,
                            tensor *dx, float beta)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "conv_bwd_data", dy)) {
        F32->conv_bwd_data(be, d, dy, w, dx, beta);
        return;
    }
    tensor *dyv = IN(dy), *wv = IN(w), *dxv = OUT(dx);
    F32->conv_bwd_data(be, d, dyv, wv, dxv, beta);
    lowp_done(dx, dxv);
}

static void w_conv_bwd_filter(backend *be, const conv_desc *d, const tensor *x,
                              const tensor *dy, tensor *dw, float beta)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "conv_bwd_filter", x)) {
        F32->conv_bwd_filter(be, d, x, dy, dw, beta);
        return;
    }
    tensor *xv = IN(x), *dyv = IN(dy), *dwv = OUT(dw);
    F32->conv_bwd_filter(be, d, xv, dyv, dwv, beta);
    lowp_done(dw, dwv);
}

/* ---- pooling and resampling (indices are i32 and pass through) ---- */

static void w_pool_fwd(backend *be, const pool_desc *d, const tensor *x, tensor *y,
                       tensor *idx)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "pool_fwd", x)) {
        F32->pool_fwd(be, d, x, y, idx);
        return;
    }
    tensor *xv = IN(x), *yv = OUT(y), *iv = RAW(idx);
    F32->pool_fwd(be, d, xv, yv, iv);
    lowp_done(y, yv);
    lowp_done(idx, iv);
}

static void w_pool_bwd(backend *be, const pool_desc *d, const tensor *dy, const tensor *idx,
                       tensor *dx)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "pool_bwd", dy)) {
        F32->pool_bwd(be, d, dy, idx, dx);
        return;
    }
    tensor *dyv = IN(dy), *dxv = OUT(dx);
    F32->pool_bwd(be, d, dyv, RAW(idx), dxv);
    lowp_done(dx, dxv);
}

static void w_unpool_fwd(backend *be, const tensor *x, const tensor *idx, tensor *y)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "unpool_fwd", x)) {
        F32->unpool_fwd(be, x, idx, y);
        return;
    }
    tensor *xv = IN(x), *yv = OUT(y);
    F32->unpool_fwd(be, xv, RAW(idx), yv);
    lowp_done(y, yv);
}

static void w_unpool_bwd(backend *be, const tensor *dy, const tensor *idx, tensor *dx)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "unpool_bwd", dy)) {
        F32->unpool_bwd(be, dy, idx, dx);
        return;
    }
    tensor *dyv = IN(dy), *dxv = OUT(dx);
    F32->unpool_bwd(be, dyv, RAW(idx), dxv);
    lowp_done(dx, dxv);
}

static void w_upsample_fwd(backend *be, upsample_mode m, const tensor *x, tensor *y)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "upsample_fwd", x)) {
        F32->upsample_fwd(be, m, x, y);
        return;
    }
    tensor *xv = IN(x), *yv = OUT(y);
    F32->upsample_fwd(be, m, xv, yv);
    lowp_done(y, yv);
}

static void w_upsample_bwd(backend *be, upsample_mode m, const tensor *dy, tensor *dx)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "upsample_bwd", dy)) {
        F32->upsample_bwd(be, m, dy, dx);
        return;
    }
    tensor *dyv = IN(dy), *dxv = OUT(dx);
    F32->upsample_bwd(be, m, dyv, dxv);
    lowp_done(dx, dxv);
}

void cpu_lowp_install_ops(backend_ops *o)
{
    o->axpby = w_axpby;
    o->add = w_add;
    o->act_fwd = w_act_fwd;
    o->act_bwd = w_act_bwd;
    o->dropout_fwd = w_dropout_fwd;
    o->dropout_bwd = w_dropout_bwd;
    o->bias_add = w_bias_add;
    o->bias_grad = w_bias_grad;
    o->conv_fwd = w_conv_fwd;
    o->conv_bwd_data = w_conv_bwd_data;
    o->conv_bwd_filter = w_conv_bwd_filter;
    o->pool_fwd = w_pool_fwd;
    o->pool_bwd = w_pool_bwd;
    o->unpool_fwd = w_unpool_fwd;
    o->unpool_bwd = w_unpool_bwd;
    o->upsample_fwd = w_upsample_fwd;
    o->upsample_bwd = w_upsample_bwd;
}
