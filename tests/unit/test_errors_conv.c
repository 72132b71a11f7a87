/* Bad input to conv2d, conv_transpose2d, linear and flatten: clear errors naming the layer
 * and the values, never a crash. The last part re-infers built layers on inputs whose
 * channel or feature count no longer fits their parameters. */
#include "../../src/config/config.h"
#include "../../src/layers/layers.h"
#include "../check.h"
#include "../support/layer_util.h"

static void conv2d_errors(void)
{
    shape s = SHAPE(2, 4, 8, 8), small = SHAPE(2, 3, 4, 4), s3 = SHAPE(2, 4, 8);
    dtype f = DTYPE_F32, i32 = DTYPE_I32;
    EXPECT_ERROR("{type: conv2d, name: c1, out: 0, kernel: 3}", &s, &f, 1,
                 "layer 'c1' (conv2d)", "out=0", "between 1 and");
    EXPECT_ERROR("{type: conv2d, out: -3, kernel: 3}", &s, &f, 1, "out=-3");
    EXPECT_ERROR("{type: conv2d, name: c2, out: 8, kernel: 0}", &s, &f, 1, "layer 'c2'",
                 "kernel=0", "between 1 and");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: [3, -1]}", &s, &f, 1, "kernel=[3, -1]");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 100000}", &s, &f, 1, "kernel=100000",
                 "between 1 and 65536");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, stride: 0}", &s, &f, 1, "stride=0");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, stride: [-2, 1]}", &s, &f, 1,
                 "stride=[-2, 1]");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, pad: -1}", &s, &f, 1, "pad=-1",
                 "between 0 and");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, dilation: 0}", &s, &f, 1, "dilation=0");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, groups: 0}", &s, &f, 1, "groups=0");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, groups: -2}", &s, &f, 1, "groups=-2");
    EXPECT_ERROR("{type: conv2d, name: c3, out: 6, kernel: 3, groups: 4}", &s, &f, 1,
                 "layer 'c3'", "out=6 is not divisible by groups=4");
    EXPECT_ERROR("{type: conv2d, name: c4, out: 6, kernel: 3, groups: 3}", &s, &f, 1,
                 "layer 'c4'", "input channels C=4", "not divisible by groups=3");
    EXPECT_ERROR("{type: conv2d, name: big, out: 8, kernel: 7, pad: 1}", &small, &f, 1,
                 "layer 'big' (conv2d)", "kernel 7x7", "padded input 6x6", "input 4x4");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: [3, 5], dilation: 2}", &small, &f, 1,
                 "kernel 3x5", "spanning 5x9", "padded input 4x4");
    EXPECT_ERROR("{type: conv2d, kernel: 3}", &s, &f, 1, "required key 'out'");
    EXPECT_ERROR("{type: conv2d, out: 8}", &s, &f, 1, "required key 'kernel'");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: abc}", &s, &f, 1, "kernel", "abc");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, stirde: 2}", &s, &f, 1,
                 "unknown key 'stirde'", "did you mean 'stride'");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, output_pad: 1}", &s, &f, 1,
                 "unknown key 'output_pad'");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3, bias: maybe}", &s, &f, 1, "bias", "maybe");
    EXPECT_ERROR("{type: conv2d, name: c5, out: 8, kernel: 3}", &s, &i32, 1, "layer 'c5'",
                 "must be f32", "i32");
    EXPECT_ERROR("{type: conv2d, out: 8, kernel: 3}", &s3, &f, 1, "4-d", "(2, 4, 8)");
}

static void convt_errors(void)
{
    shape s = SHAPE(2, 4, 5, 5), one = SHAPE(1, 2, 1, 1);
    dtype f = DTYPE_F32, u8 = DTYPE_U8;
    EXPECT_ERROR("{type: conv_transpose2d, name: t1, out: 3, kernel: 3, stride: 2, "
                 "output_pad: 2}", &s, &f, 1, "layer 't1' (conv_transpose2d)",
                 "output_pad=2 must be smaller than stride=2 or dilation=1");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: 3, output_pad: [0, 1]}", &s, &f, 1,
                 "output_pad=[0, 1]", "stride=1");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: 3, output_pad: -1}", &s, &f, 1,
                 "output_pad=-1");
    EXPECT_ERROR("{type: conv_transpose2d, out: 0, kernel: 3}", &s, &f, 1, "out=0");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: -2}", &s, &f, 1, "kernel=-2");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: 3, stride: 0}", &s, &f, 1,
                 "stride=0");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: 3, dilation: -1}", &s, &f, 1,
                 "dilation=-1");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: 3, groups: 3}", &s, &f, 1,
                 "input channels C=4", "groups=3");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: 3, groups: 2}", &s, &f, 1,
                 "out=3 is not divisible by groups=2");
    EXPECT_ERROR("{type: conv_transpose2d, name: t2, out: 3, kernel: 1, pad: 1}", &one, &f, 1,
                 "layer 't2'", "pad 1x1 removes the whole output", "input 1x1");
    EXPECT_ERROR("{type: conv_transpose2d, out: 3, kernel: 3}", &s, &u8, 1, "must be f32",
                 "u8");
}

static void linear_flatten_errors(void)
{
    shape s = SHAPE(2, 3, 4, 4), v = SHAPE(5);
    dtype f = DTYPE_F32, i32 = DTYPE_I32;
    EXPECT_ERROR("{type: linear, name: fc, out: 0}", &s, &f, 1, "layer 'fc' (linear)", "out=0");
    EXPECT_ERROR("{type: linear, out: -4}", &s, &f, 1, "out=-4");
    EXPECT_ERROR("{type: linear}", &s, &f, 1, "required key 'out'");
    EXPECT_ERROR("{type: linear, out: 4, kernel: 3}", &s, &f, 1, "unknown key 'kernel'");
    EXPECT_ERROR("{type: linear, name: fc2, out: 4}", &v, &f, 1, "layer 'fc2'",
                 "(N, features...)", "(5)");
    EXPECT_ERROR("{type: linear, out: 4}", &s, &i32, 1, "must be f32", "i32");
    EXPECT_ERROR("{type: flatten, dim: 1}", &s, &f, 1, "unknown key 'dim'");
    EXPECT_ERROR("{type: flatten, name: fl}", &v, &f, 1, "layer 'fl' (flatten)", "(5)");
    EXPECT_ERROR("{type: flatten}", &s, &i32, 1, "must be f32", "i32");
}

/* A built layer re-inferred on an input its parameters do not fit. */
static void expect_reinfer_error(const char *yaml, shape first, shape second,
                                 const char *const *fragments)
{
    cnn_err e = {0};
    cfg_node *root;
    layer *l;
    dtype f = DTYPE_F32;
    CHECK(config_parse_string(yaml, strlen(yaml), "test.yaml", &root, &e) == CNN_OK);
    CHECK(layer_create(root, "l0", &l, &e) == CNN_OK);
    CHECK(layer_infer(l, &first, &f, 1, &e) == CNN_OK);
    CHECK_EQ(layer_infer(l, &second, &f, 1, &e), CNN_EINVAL);
    printf("  %s re-inferred\n    -> %s\n", yaml, e.msg);
    for (int i = 0; fragments[i]; i++)
        CHECK_STR_CONTAINS(e.msg, fragments[i]);
    layer_destroy(l);
    cfg_free(root);
}

int main(void)
{
    conv2d_errors();
    convt_errors();
    linear_flatten_errors();
    expect_reinfer_error("{type: linear, name: fc, out: 4}", SHAPE(2, 10), SHAPE(2, 3, 4),
                         (const char *const[]){"layer 'fc' (linear)", "input (2, 3, 4)",
                                               "weight of shape (4, 12)", "built with (4, 10)",
                                               NULL});
    expect_reinfer_error("{type: conv2d, name: c, out: 4, kernel: 3}", SHAPE(1, 3, 8, 8),
                         SHAPE(1, 5, 8, 8),
                         (const char *const[]){"layer 'c' (conv2d)", "(4, 5, 3, 3)",
                                               "built with (4, 3, 3, 3)", NULL});
    /* A new batch size or resolution keeps the parameters: allowed. */
    cnn_err e = {0};
    cfg_node *root;
    layer *l;
    dtype f = DTYPE_F32;
    const char *yaml = "{type: conv2d, out: 4, kernel: 3}";
    shape a = SHAPE(1, 3, 8, 8), b = SHAPE(5, 3, 16, 12);
    CHECK(config_parse_string(yaml, strlen(yaml), "test.yaml", &root, &e) == CNN_OK);
    CHECK(layer_create(root, "l0", &l, &e) == CNN_OK);
    CHECK(layer_infer(l, &a, &f, 1, &e) == CNN_OK);
    CHECK(layer_infer(l, &b, &f, 1, &e) == CNN_OK);
    CHECK_EQ(l->out.d[0], 5);
    CHECK_EQ(l->out.d[2], 14);
    layer_destroy(l);
    cfg_free(root);
    printf("errors_conv: ok\n");
    return 0;
}
