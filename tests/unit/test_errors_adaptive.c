/* Bad input to adaptive_avg_pool2d: sizes that are not a multiple of `out` (which would need
 * PyTorch's unequal windows), bad `out` values, wrong inputs. Clear errors, never a crash. */
#include "../../src/config/config.h"
#include "../../src/layers/layers.h"
#include "../check.h"
#include "../support/layer_util.h"

static void not_multiple(void)
{
    dtype f = DTYPE_F32;
    shape vgg = SHAPE(2, 512, 8, 8), wide = SHAPE(1, 3, 12, 10), small = SHAPE(1, 3, 3, 3);
    EXPECT_ERROR("{type: adaptive_avg_pool2d, name: avgpool, out: 7}", &vgg, &f, 1,
                 "layer 'avgpool' (adaptive_avg_pool2d)", "input 8x8 is not a multiple of out 7x7",
                 "unequal windows is not supported", "e.g. 224 for VGG");
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: [5, 5]}", &wide, &f, 1,
                 "input 12x10 is not a multiple of out 5x5");
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: [3, 4]}", &wide, &f, 1,
                 "input 12x10 is not a multiple of out 3x4");
    /* A larger output than the input would repeat inputs: also unequal windows. */
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: 6}", &small, &f, 1,
                 "input 3x3 is not a multiple of out 6x6");
}

static void bad_keys(void)
{
    dtype f = DTYPE_F32, i32 = DTYPE_I32;
    shape s = SHAPE(2, 3, 8, 8), flat = SHAPE(4, 10);
    EXPECT_ERROR("{type: adaptive_avg_pool2d, name: a, out: 0}", &s, &f, 1,
                 "layer 'a' (adaptive_avg_pool2d)", "out=0", "between 1 and");
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: [2, -1]}", &s, &f, 1, "out=[2, -1]");
    EXPECT_ERROR("{type: adaptive_avg_pool2d}", &s, &f, 1, "out");
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: 2, kernel: 2}", &s, &f, 1,
                 "unknown key 'kernel'");
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: two}", &s, &f, 1, "out", "two");
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: 2}", &flat, &f, 1, "must be (N, C, H, W)",
                 "(4, 10)");
    EXPECT_ERROR("{type: adaptive_avg_pool2d, out: 2}", &s, &i32, 1, "must be f32");
}

int main(void)
{
    not_multiple();
    bad_keys();
    printf("errors_adaptive: ok\n");
    return 0;
}
