/* The layers' describe hooks (what `--summary` reads): multiply-adds counted by hand from
 * the definitions in the comments, windows, strides, dilations and upsampling factors; and
 * the transposed convolution's window against a brute-force count of the inputs that reach
 * each output. */
#include "../../src/config/config.h"
#include "../../src/layers/layers.h"
#include "../check.h"

static layer *make(const char *yaml, shape in)
{
    cnn_err e = {0};
    cfg_node *root;
    layer *l;
    dtype f = DTYPE_F32;
    CHECK(config_parse_string(yaml, strlen(yaml), "test.yaml", &root, &e) == CNN_OK);
    if (layer_create(root, "l", &l, &e) != CNN_OK || layer_infer(l, &in, &f, 1, &e) != CNN_OK) {
        fprintf(stderr, "%s: %s\n", yaml, e.msg);
        exit(1);
    }
    cfg_free(root);
    return l;
}

static layer_info describe(const layer *l)
{
    layer_info info = layer_info_pointwise();
    if (l->ops->describe)
        l->ops->describe(l, &info);
    return info;
}

/* Window (kh, kw), stride, dilation, up, global, MACs. */
static void expect(const char *yaml, shape in, int kh, int kw, int sh, int sw, int dh, int dw,
                   int uh, int uw, bool global, int64_t macs)
{
    layer *l = make(yaml, in);
    layer_info i = describe(l);
    printf("  %-62s macs %-7lld k %dx%d s %dx%d d %dx%d up %dx%d%s\n", yaml, (long long)i.macs,
           i.kh, i.kw, i.sh, i.sw, i.dh, i.dw, i.up_h, i.up_w, i.global ? " global" : "");
    CHECK_EQ(i.macs, macs);
    CHECK_EQ(i.kh, kh);
    CHECK_EQ(i.kw, kw);
    CHECK_EQ(i.sh, sh);
    CHECK_EQ(i.sw, sw);
    CHECK_EQ(i.dh, dh);
    CHECK_EQ(i.dw, dw);
    CHECK_EQ(i.up_h, uh);
    CHECK_EQ(i.up_w, uw);
    CHECK_EQ(i.global, global);
    layer_destroy(l);
}

static void convolutions(void)
{
    /* out (2, 8, 5, 5) = 400 outputs, each C*R*S = 4*3*3 = 36 multiply-adds: 14400. */
    expect("{type: conv2d, out: 8, kernel: 3, stride: 2, pad: 1}", SHAPE(2, 4, 9, 9),
           3, 3, 2, 2, 1, 1, 1, 1, false, 14400);
    /* P = 7 - 2*(3-1) = 3, Q = 5: 6*3*5 = 90 outputs of (4/2)*3*1 = 6: 540. */
    expect("{type: conv2d, out: 6, kernel: [3, 1], groups: 2, dilation: [2, 1], bias: false}",
           SHAPE(1, 4, 7, 5), 3, 1, 1, 1, 2, 1, 1, 1, false, 540);
    /* Depthwise: (1, 3, 4, 4) outputs, 1*3*3 each: 48*9 = 432. */
    expect("{type: conv2d, out: 3, kernel: 3, pad: 1, groups: 3}", SHAPE(1, 3, 4, 4),
           3, 3, 1, 1, 1, 1, 1, 1, false, 432);
    /* Transposed: the 2*3*5*5 = 150 inputs, each scattered over 6*4*4 = 96: 14400. Every
     * output gathers taps kk with kk = const mod 2: 2 of the 4, one input apart. */
    expect("{type: conv_transpose2d, out: 6, kernel: 4, stride: 2, pad: 1}", SHAPE(2, 3, 5, 5),
           2, 2, 1, 1, 1, 1, 2, 2, false, 14400);
    /* U-Net's up-convolution: k 2 s 2, each output from one input. 18 inputs * (4/2)*2*2. */
    expect("{type: conv_transpose2d, out: 4, kernel: 2, stride: 2, groups: 2}",
           SHAPE(1, 2, 3, 3), 1, 1, 1, 1, 1, 1, 2, 2, false, 144);
    /* Dilation 2 with stride 2: gcd 2, every tap lands on the same output parity, so 3
     * adjacent inputs. 32 inputs * 2*3*3 = 576. */
    expect("{type: conv_transpose2d, out: 2, kernel: 3, stride: 2, dilation: 2}",
           SHAPE(1, 2, 4, 4), 3, 3, 1, 1, 1, 1, 2, 2, false, 576);
    /* Stride 1: like a convolution, 3 taps two inputs apart. 2*3*3 inputs * 5*3*2 = 540. */
    expect("{type: conv_transpose2d, out: 5, kernel: [3, 2], dilation: 2, bias: false}",
           SHAPE(1, 2, 3, 3), 3, 2, 1, 1, 2, 2, 1, 1, false, 540);
    /* (4, 3*2*2 = 12) to 10: 4*10*12 = 480; every output reads every input. */
    expect("{type: linear, out: 10}", SHAPE(4, 3, 2, 2), 1, 1, 1, 1, 1, 1, 1, 1, true, 480);
}

static void pooling(void)
{
    shape s = SHAPE(2, 3, 12, 16);
    expect("{type: max_pool2d, kernel: 3, stride: 2, pad: 1}", s, 3, 3, 2, 2, 1, 1, 1, 1,
           false, 0);
    expect("{type: avg_pool2d, kernel: [2, 3], stride: [1, 2]}", s, 2, 3, 1, 2, 1, 1, 1, 1,
           false, 0);
    expect("{type: global_avg_pool}", s, 12, 16, 12, 16, 1, 1, 1, 1, true, 0);
    expect("{type: blur_pool2d, stride: [2, 1]}", s, 3, 3, 2, 1, 1, 1, 1, 1, false, 0);
    expect("{type: adaptive_avg_pool2d, out: [3, 2]}", s, 4, 8, 4, 8, 1, 1, 1, 1, false, 0);
    expect("{type: adaptive_avg_pool2d, out: [12, 16]}", s, 1, 1, 1, 1, 1, 1, 1, 1, false, 0);
    expect("{type: adaptive_avg_pool2d, out: 1}", s, 12, 16, 12, 16, 1, 1, 1, 1, true, 0);
    expect("{type: flatten}", s, 1, 1, 1, 1, 1, 1, 1, 1, true, 0);
    expect("{type: upsample, factor: [2, 3]}", s, 1, 1, 1, 1, 1, 1, 2, 3, false, 0);
    /* Bilinear reads two neighbours along an enlarged axis, one along an axis kept. */
    expect("{type: upsample, factor: [2, 1], mode: bilinear}", s, 2, 1, 1, 1, 1, 1, 2, 1,
           false, 0);
    /* Pointwise layers have no hook: the defaults. */
    expect("{type: relu}", s, 1, 1, 1, 1, 1, 1, 1, 1, false, 0);
    expect("{type: batch_norm2d}", s, 1, 1, 1, 1, 1, 1, 1, 1, false, 0);
}

static void unpool(void)
{
    layer *pool = make("{type: max_pool2d, kernel: 3, stride: [2, 3]}", SHAPE(1, 2, 9, 12));
    cnn_err e = {0};
    cfg_node *root;
    layer *u;
    static const char yaml[] = "{type: max_unpool2d, indices: pool}";
    CHECK(config_parse_string(yaml, sizeof yaml - 1, "test.yaml", &root, &e) == CNN_OK);
    CHECK(layer_create(root, "u", &u, &e) == CNN_OK);
    u->ref = pool;
    dtype f = DTYPE_F32;
    CHECK(layer_infer(u, &pool->out, &f, 1, &e) == CNN_OK);
    layer_info i = describe(u);
    /* One input per output, on the pool's input grid: up = the pool's stride. */
    CHECK_EQ(i.up_h, 2);
    CHECK_EQ(i.up_w, 3);
    CHECK_EQ(i.kh, 1);
    CHECK_EQ(i.kw, 1);
    CHECK_EQ(i.sh, 1);
    CHECK_EQ(i.macs, 0);
    layer_destroy(u);
    layer_destroy(pool);
    cfg_free(root);
}

/* For a transposed convolution along one axis (input length H, kernel k, stride s, pad p,
 * dilation d): output o = i*s - p + kk*d. The largest span of inputs reaching one output,
 * from the definition, must equal the span of the described window (kh - 1) * dh + 1. */
static void convt_window_brute(void)
{
    char yaml[160];
    int n = 0;
    for (int k = 1; k <= 5; k++)
        for (int s = 1; s <= 4; s++)
            for (int d = 1; d <= 3; d++) {
                const int H = 20, p = 0, O = (H - 1) * s + d * (k - 1) + 1;
                int span = 0;
                for (int o = 0; o < O; o++) {
                    int lo = H, hi = -1;
                    for (int i = 0; i < H; i++)
                        for (int kk = 0; kk < k; kk++)
                            if (i * s - p + kk * d == o)
                                lo = i < lo ? i : lo, hi = i > hi ? i : hi;
                    if (hi >= 0 && hi - lo + 1 > span)
                        span = hi - lo + 1;
                }
                snprintf(yaml, sizeof yaml, "{type: conv_transpose2d, out: 1, kernel: %d, "
                         "stride: %d, dilation: %d}", k, s, d);
                layer *l = make(yaml, SHAPE(1, 1, H, H));
                layer_info i = describe(l);
                if ((i.kh - 1) * i.dh + 1 != span) {
                    fprintf(stderr, "%s: window %d dilation %d spans %d inputs, brute force "
                            "%d\n", yaml, i.kh, i.dh, (i.kh - 1) * i.dh + 1, span);
                    exit(1);
                }
                CHECK_EQ(i.up_h, s);
                layer_destroy(l);
                n++;
            }
    printf("  transposed-conv windows: %d (kernel, stride, dilation) match brute force\n", n);
}

int main(void)
{
    convolutions();
    pooling();
    unpool();
    convt_window_brute();
    printf("summary_layers: ok\n");
    return 0;
}
