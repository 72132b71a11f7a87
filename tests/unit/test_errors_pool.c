/* Bad input to the pooling and resampling layers (max/avg/global/blur pooling, max
 * unpooling, upsampling): clear errors naming the layer and the values, never a crash. */
#include "../../src/config/config.h"
#include "../../src/layers/layers.h"
#include "../check.h"
#include "../support/layer_util.h"

static void pool_params(void)
{
    shape s = SHAPE(2, 3, 8, 8);
    dtype f = DTYPE_F32;
    EXPECT_ERROR("{type: max_pool2d, name: p, kernel: 0}", &s, &f, 1,
                 "layer 'p' (max_pool2d)", "kernel=0", "between 1 and");
    EXPECT_ERROR("{type: avg_pool2d, name: a, kernel: -2}", &s, &f, 1,
                 "layer 'a' (avg_pool2d)", "kernel=-2");
    EXPECT_ERROR("{type: max_pool2d, kernel: [2, 0]}", &s, &f, 1, "kernel=[2, 0]");
    EXPECT_ERROR("{type: max_pool2d, kernel: 2, stride: 0}", &s, &f, 1, "stride=0");
    EXPECT_ERROR("{type: avg_pool2d, kernel: 2, stride: [1, -1]}", &s, &f, 1,
                 "stride=[1, -1]");
    EXPECT_ERROR("{type: max_pool2d, name: p, kernel: 3, pad: 2}", &s, &f, 1,
                 "layer 'p' (max_pool2d)", "pad=2", "half the kernel (kernel=3)");
    EXPECT_ERROR("{type: avg_pool2d, kernel: [2, 4], pad: [1, 3]}", &s, &f, 1,
                 "pad=[1, 3]", "kernel=[2, 4]");
    EXPECT_ERROR("{type: max_pool2d, kernel: 2, pad: -1}", &s, &f, 1, "pad=-1");
    EXPECT_ERROR("{type: max_pool2d}", &s, &f, 1, "kernel");
    EXPECT_ERROR("{type: max_pool2d, kernel: 2, padding: 1}", &s, &f, 1,
                 "unknown key 'padding'", "valid keys: kernel, stride, pad");
    EXPECT_ERROR("{type: max_pool2d, kernel: 2, count_include_pad: true}", &s, &f, 1,
                 "unknown key 'count_include_pad'");
    EXPECT_ERROR("{type: avg_pool2d, kernel: 2, count_include_pad: maybe}", &s, &f, 1,
                 "count_include_pad", "maybe");
    EXPECT_ERROR("{type: global_avg_pool, kernel: 2}", &s, &f, 1, "unknown key 'kernel'");
    EXPECT_ERROR("{type: blur_pool2d, name: b, stride: 0}", &s, &f, 1,
                 "layer 'b' (blur_pool2d)", "stride=0");
    EXPECT_ERROR("{type: blur_pool2d, kernel: 3}", &s, &f, 1, "unknown key 'kernel'");
}

static void pool_shapes(void)
{
    shape small = SHAPE(1, 2, 4, 5), flat = SHAPE(4, 10), five = SHAPE(1, 2, 3, 4, 5);
    dtype f = DTYPE_F32, i32 = DTYPE_I32;
    EXPECT_ERROR("{type: max_pool2d, name: big, kernel: 7, pad: 1}", &small, &f, 1,
                 "layer 'big' (max_pool2d)", "kernel 7x7", "padded input 6x7",
                 "input 4x5");
    EXPECT_ERROR("{type: avg_pool2d, name: big, kernel: [2, 8]}", &small, &f, 1,
                 "layer 'big' (avg_pool2d)", "kernel 2x8", "padded input 4x5");
    EXPECT_ERROR("{type: max_pool2d, kernel: 2}", &flat, &f, 1, "must be (N, C, H, W)",
                 "(4, 10)");
    EXPECT_ERROR("{type: avg_pool2d, kernel: 2}", &five, &f, 1, "must be (N, C, H, W)");
    EXPECT_ERROR("{type: global_avg_pool, name: g}", &flat, &f, 1,
                 "layer 'g' (global_avg_pool)", "must be (N, C, H, W)");
    EXPECT_ERROR("{type: blur_pool2d}", &flat, &f, 1, "must be (N, C, H, W)");
    EXPECT_ERROR("{type: upsample, factor: 2}", &flat, &f, 1, "must be (N, C, H, W)");
    EXPECT_ERROR("{type: max_pool2d, name: p, kernel: 2}", &small, &i32, 1,
                 "layer 'p' (max_pool2d)", "must be f32", "i32");
    EXPECT_ERROR("{type: avg_pool2d, kernel: 2}", &small, &i32, 1, "must be f32");
    EXPECT_ERROR("{type: global_avg_pool}", &small, &i32, 1, "must be f32");
    EXPECT_ERROR("{type: blur_pool2d}", &small, &i32, 1, "must be f32");
    EXPECT_ERROR("{type: upsample, factor: 2}", &small, &i32, 1, "must be f32");
    shape two[2] = {small, small};
    dtype ff[2] = {f, f};
    EXPECT_ERROR("{type: max_pool2d, kernel: 2}", two, ff, 2, "takes 1 input(s), got 2");
}

static void unpool(void)
{
    shape s = SHAPE(2, 3, 8, 8);
    dtype f = DTYPE_F32, i32 = DTYPE_I32;
    EXPECT_ERROR("{type: max_unpool2d, name: u, indices: p1}", &s, &f, 1,
                 "layer 'u' (max_unpool2d)", "'p1'");
    EXPECT_ERROR("[{type: relu}, {type: max_unpool2d, name: u, indices: p1}]", &s, &f, 1,
                 "layer 'u' (max_unpool2d)", "'p1'");
    EXPECT_ERROR("{type: max_unpool2d, name: u}", &s, &f, 1, "indices");
    EXPECT_ERROR("[{type: avg_pool2d, name: a1, kernel: 2}, "
                 "{type: max_unpool2d, name: u, indices: a1}]", &s, &f, 1,
                 "layer 'u' (max_unpool2d)", "'a1' is a layer of type avg_pool2d",
                 "max_pool2d");
    EXPECT_ERROR("[{type: max_pool2d, name: p1, kernel: 2}, {type: max_pool2d, kernel: 2}, "
                 "{type: max_unpool2d, name: u, indices: p1}]", &s, &f, 1,
                 "layer 'u' (max_unpool2d)", "input (2, 3, 2, 2)",
                 "output (2, 3, 4, 4) of max_pool2d 'p1'");
    EXPECT_ERROR("[{type: max_pool2d, name: p1, kernel: 2}, "
                 "{type: max_unpool2d, indices: p1, kernel: 2}]", &s, &f, 1,
                 "unknown key 'kernel'");
    /* The pool accepts any f32 (N, C, H, W); an i32 input never reaches the unpool. */
    EXPECT_ERROR("[{type: max_pool2d, name: p1, kernel: 2}, "
                 "{type: max_unpool2d, indices: p1}]", &s, &i32, 1, "must be f32");
}

/* An owner that does not resolve the reference (or resolves nothing) must still get an
 * error from infer, not a NULL dereference in forward. */
static void unpool_unresolved(void)
{
    static const char yaml[] = "{type: max_unpool2d, name: u, indices: p9}";
    cnn_err e = {0};
    cfg_node *root;
    layer *l;
    CHECK(config_parse_string(yaml, sizeof yaml - 1, "test.yaml", &root, &e) == CNN_OK);
    CHECK(layer_create(root, "u", &l, &e) == CNN_OK);
    CHECK(!strcmp(l->ref_name, "p9"));
    shape s = SHAPE(1, 2, 4, 4);
    dtype f = DTYPE_F32;
    CHECK_EQ(layer_infer(l, &s, &f, 1, &e), CNN_EINVAL);
    printf("  (unresolved) %s\n    -> %s\n", yaml, e.msg);
    CHECK_STR_CONTAINS(e.msg, "layer 'u' (max_unpool2d)");
    CHECK_STR_CONTAINS(e.msg, "indices: 'p9'");
    CHECK_STR_CONTAINS(e.msg, "max_pool2d");
    layer_destroy(l);
    cfg_free(root);
}

static void upsample(void)
{
    shape s = SHAPE(1, 2, 4, 4);
    dtype f = DTYPE_F32;
    EXPECT_ERROR("{type: upsample, name: up, factor: 0}", &s, &f, 1,
                 "layer 'up' (upsample)", "factor=0", "integer between 1 and");
    EXPECT_ERROR("{type: upsample, factor: [2, -3]}", &s, &f, 1, "factor=[2, -3]");
    EXPECT_ERROR("{type: upsample, factor: 1.5}", &s, &f, 1, "factor", "1.5");
    EXPECT_ERROR("{type: upsample}", &s, &f, 1, "factor");
    EXPECT_ERROR("{type: upsample, name: up, factor: 2, mode: bicubic}", &s, &f, 1,
                 "layer 'up' (upsample)", "'bicubic' is not one of: nearest, bilinear");
    EXPECT_ERROR("{type: upsample, factor: 2, scale: 2}", &s, &f, 1, "unknown key 'scale'");
    EXPECT_ERROR("{type: upsample, factor: 40000}", &s, &f, 1, "factor=40000");
}

int main(void)
{
    pool_params();
    pool_shapes();
    unpool();
    unpool_unresolved();
    upsample();
    printf("errors_pool: ok\n");
    return 0;
}
