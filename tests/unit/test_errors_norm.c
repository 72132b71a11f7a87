/* Bad input to batch_norm2d and instance_norm2d: clear errors naming the layer and the value. */
#include "../check.h"
#include "../support/layer_util.h"

int main(void)
{
    shape s = SHAPE(2, 3, 4, 4), s3 = SHAPE(2, 3, 4), one = SHAPE(1, 3, 1, 1);
    shape one2d = SHAPE(1, 8), plane1 = SHAPE(4, 3, 1, 1), s2d = SHAPE(4, 3);
    dtype f = DTYPE_F32, i32 = DTYPE_I32;
    EXPECT_ERROR("{type: batch_norm2d, name: bn1, momentum: 1.5}", &s, &f, 1,
                 "layer 'bn1' (batch_norm2d)", "momentum=1.5", "[0, 1]");
    EXPECT_ERROR("{type: batch_norm2d, momentum: -0.1}", &s, &f, 1, "momentum=-0.1");
    EXPECT_ERROR("{type: batch_norm2d, eps: 0}", &s, &f, 1, "eps=0 must be > 0");
    EXPECT_ERROR("{type: batch_norm2d, eps: -1e-5}", &s, &f, 1, "eps=-1e-05 must be > 0");
    EXPECT_ERROR("{type: batch_norm2d, affine: maybe}", &s, &f, 1, "affine", "maybe");
    EXPECT_ERROR("{type: batch_norm2d, momentun: 0.1}", &s, &f, 1, "unknown key 'momentun'",
                 "did you mean 'momentum'");
    EXPECT_ERROR("{type: batch_norm2d, track_running_stats: false}", &s, &f, 1,
                 "unknown key 'track_running_stats'");
    EXPECT_ERROR("{type: batch_norm2d, name: bn2}", &s, &i32, 1, "layer 'bn2' (batch_norm2d)",
                 "must be f32", "i32");
    EXPECT_ERROR("{type: batch_norm2d}", &s3, &f, 1, "(N, C) or (N, C, H, W)", "(2, 3, 4)");
    /* PyTorch: "Expected more than 1 value per channel when training". */
    EXPECT_ERROR("{type: batch_norm2d, name: bn3}", &one, &f, 1, "layer 'bn3'", "(1, 3, 1, 1)",
                 "1 value per channel", "batch size > 1");
    EXPECT_ERROR("{type: batch_norm2d}", &one2d, &f, 1, "(1, 8)", "1 value per channel");
    shape two[2] = {s, s};
    dtype ff[2] = {f, f};
    EXPECT_ERROR("{type: batch_norm2d}", two, ff, 2, "takes 1 input(s), got 2");

    EXPECT_ERROR("{type: instance_norm2d, name: in1, eps: 0}", &s, &f, 1,
                 "layer 'in1' (instance_norm2d)", "eps=0 must be > 0");
    EXPECT_ERROR("{type: instance_norm2d, momentum: 0.1}", &s, &f, 1, "unknown key 'momentum'");
    EXPECT_ERROR("{type: instance_norm2d, afine: true}", &s, &f, 1, "unknown key 'afine'",
                 "did you mean 'affine'");
    EXPECT_ERROR("{type: instance_norm2d}", &s, &i32, 1, "must be f32", "i32");
    EXPECT_ERROR("{type: instance_norm2d}", &s2d, &f, 1, "(N, C, H, W)", "(4, 3)");
    EXPECT_ERROR("{type: instance_norm2d}", &s3, &f, 1, "(N, C, H, W)", "(2, 3, 4)");
    EXPECT_ERROR("{type: instance_norm2d, affine: true}", &plane1, &f, 1, "(4, 3, 1, 1)",
                 "H*W > 1");
    printf("errors_norm: ok\n");
    return 0;
}
