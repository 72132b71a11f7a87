/* Bad input to add, concat and the losses: clear errors naming the layer and the values. */
#include "../check.h"
#include "../support/layer_util.h"

static void add_errors(void)
{
    shape s[3] = {SHAPE(2, 3, 4, 4), SHAPE(2, 3, 5, 5), SHAPE(2, 3, 4, 4)};
    dtype f[3] = {DTYPE_F32, DTYPE_F32, DTYPE_F32};
    EXPECT_ERROR("{type: add, name: res1}", s, f, 2, "layer 'res1' (add)",
                 "input 1 has shape (2, 3, 5, 5)", "input 0 has shape (2, 3, 4, 4)");
    shape s3[3] = {s[0], s[0], SHAPE(2, 4, 4, 4)};
    EXPECT_ERROR("{type: add}", s3, f, 3, "input 2 has shape (2, 4, 4, 4)", "(2, 3, 4, 4)");
    EXPECT_ERROR("{type: add}", s, f, 1, "(add)", "takes 2 to 8 inputs, got 1");
    dtype fi[2] = {DTYPE_F32, DTYPE_I32};
    shape same[2] = {s[0], s[0]};
    EXPECT_ERROR("{type: add}", same, fi, 2, "input 1 must be f32", "i32");
    EXPECT_ERROR("{type: add, alpha: 2}", same, f, 2, "unknown key 'alpha'");
}

static void concat_errors(void)
{
    dtype f[3] = {DTYPE_F32, DTYPE_F32, DTYPE_F32};
    shape h[2] = {SHAPE(2, 3, 8, 8), SHAPE(2, 5, 7, 8)};
    EXPECT_ERROR("{type: concat, name: skip1}", h, f, 2, "layer 'skip1' (concat)",
                 "input 1 has shape (2, 5, 7, 8)", "input 0 has shape (2, 3, 8, 8)",
                 "every other dimension");
    shape n[3] = {SHAPE(2, 3, 8, 8), SHAPE(2, 1, 8, 8), SHAPE(4, 3, 8, 8)};
    EXPECT_ERROR("{type: concat}", n, f, 3, "input 2 has shape (4, 3, 8, 8)");
    shape w[2] = {SHAPE(2, 3, 8, 8), SHAPE(2, 3, 8, 9)};
    EXPECT_ERROR("{type: concat}", w, f, 2, "(2, 3, 8, 9)", "(2, 3, 8, 8)");
    shape nd[2] = {SHAPE(2, 3, 8, 8), SHAPE(2, 3)};
    EXPECT_ERROR("{type: concat}", nd, f, 2, "input 1 has shape (2, 3)");
    shape one[1] = {SHAPE(2, 3, 8, 8)};
    EXPECT_ERROR("{type: concat}", one, f, 1, "(concat)", "takes 2 to 8 inputs, got 1");
    shape flat[2] = {SHAPE(6), SHAPE(6)};
    EXPECT_ERROR("{type: concat}", flat, f, 2, "input 0 has shape (6)", "at least 2 dimensions");
    dtype fu[2] = {DTYPE_F32, DTYPE_U8};
    shape ok2[2] = {SHAPE(2, 3), SHAPE(2, 4)};
    EXPECT_ERROR("{type: concat}", ok2, fu, 2, "input 1 must be f32", "u8");
}

static void xent_errors(void)
{
    shape cls[2] = {SHAPE(8, 10), SHAPE(8)};
    dtype ok[2] = {DTYPE_F32, DTYPE_I32}, ff[2] = {DTYPE_F32, DTYPE_F32};
    EXPECT_ERROR("{type: softmax_cross_entropy, name: ce}", cls, ff, 2,
                 "layer 'ce' (softmax_cross_entropy)", "labels", "must be i32", "f32");
    dtype if32[2] = {DTYPE_I32, DTYPE_I32};
    EXPECT_ERROR("{type: softmax_cross_entropy}", cls, if32, 2, "logits", "must be f32");
    shape badn[2] = {SHAPE(8, 10), SHAPE(7)};
    EXPECT_ERROR("{type: softmax_cross_entropy}", badn, ok, 2, "labels have shape (7)",
                 "logits (8, 10) need labels (8)");
    shape seg[2] = {SHAPE(2, 5, 6, 7), SHAPE(2, 6, 8)};
    EXPECT_ERROR("{type: softmax_cross_entropy}", seg, ok, 2, "labels have shape (2, 6, 8)",
                 "(2, 5, 6, 7) need labels (2, 6, 7)");
    shape seg4[2] = {SHAPE(2, 5, 6, 7), SHAPE(2, 1, 6, 7)};
    EXPECT_ERROR("{type: softmax_cross_entropy}", seg4, ok, 2, "labels have shape (2, 1, 6, 7)");
    shape one_d[2] = {SHAPE(8), SHAPE(8)};
    EXPECT_ERROR("{type: softmax_cross_entropy}", one_d, ok, 2, "logits (8)",
                 "at least 2 dimensions");
    EXPECT_ERROR("{type: softmax_cross_entropy, name: ce, label_smoothing: 1.0}", cls, ok, 2,
                 "layer 'ce'", "label_smoothing=1", "[0, 1)");
    EXPECT_ERROR("{type: softmax_cross_entropy, label_smoothing: -0.1}", cls, ok, 2,
                 "label_smoothing=-0.1");
    EXPECT_ERROR("{type: softmax_cross_entropy, ignore_index: 1e12}", cls, ok, 2,
                 "ignore_index", "an integer");
    EXPECT_ERROR("{type: softmax_cross_entropy, ignore_index: 5000000000}", cls, ok, 2,
                 "ignore_index=5000000000", "32-bit");
    EXPECT_ERROR("{type: softmax_cross_entropy, smoothing: 0.1}", cls, ok, 2,
                 "unknown key 'smoothing'");
    EXPECT_ERROR("{type: softmax_cross_entropy}", cls, ok, 1, "takes 2 input(s), got 1");
    shape three[3] = {cls[0], cls[1], cls[1]};
    dtype ok3[3] = {DTYPE_F32, DTYPE_I32, DTYPE_I32};
    EXPECT_ERROR("{type: softmax_cross_entropy}", three, ok3, 3, "takes 2 input(s), got 3");
}

static void mse_errors(void)
{
    shape s[2] = {SHAPE(2, 3, 4, 4), SHAPE(2, 3, 4, 5)};
    dtype f[3] = {DTYPE_F32, DTYPE_F32, DTYPE_F32};
    EXPECT_ERROR("{type: mse_loss, name: rec}", s, f, 2, "layer 'rec' (mse_loss)",
                 "pred has shape (2, 3, 4, 4)", "target has shape (2, 3, 4, 5)");
    shape flat[2] = {SHAPE(2, 48), SHAPE(2, 3, 4, 4)};
    EXPECT_ERROR("{type: mse_loss}", flat, f, 2, "(2, 48)", "(2, 3, 4, 4)");
    EXPECT_ERROR("{type: mse_loss}", s, f, 1, "takes 2 input(s), got 1");
    shape s3[3] = {s[0], s[0], s[0]};
    EXPECT_ERROR("{type: mse_loss}", s3, f, 3, "takes 2 input(s), got 3");
    dtype fi[2] = {DTYPE_F32, DTYPE_I32};
    shape same[2] = {s[0], s[0]};
    EXPECT_ERROR("{type: mse_loss}", same, fi, 2, "input 1 (target) must be f32", "i32");
    EXPECT_ERROR("{type: mse_loss, reduction: sum}", same, f, 2, "unknown key 'reduction'");
}

int main(void)
{
    add_errors();
    concat_errors();
    xent_errors();
    mse_errors();
    printf("errors_loss: ok\n");
    return 0;
}
