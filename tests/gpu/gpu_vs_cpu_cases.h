/* The cases of tests/gpu/gpu_vs_cpu.c: one chain of layers each, with its inputs.
 * Included once, by gpu_vs_cpu.c; tests/CMakeLists.txt reads the case names from here. */
#ifndef CNN_TESTS_GPU_VS_CPU_CASES_H
#define CNN_TESTS_GPU_VS_CPU_CASES_H

/* inputs: space-separated, one per chain input: a kind letter and the shape, e.g.
 * "f2x3x8x8 l2x8x8". f: uniform in [-2, 2) in the run's precision; t: the same but always
 * f32 (a loss's target); d: distinct values in f32 (max pooling has no ties; rounding to
 * 16 bits can make ties, which both sides break alike: the first maximum wins);
 * l: i32 labels uniform in [0, classes), ignore_pct percent of them set to `ignore`.
 * Each entry starts on its own line with `    {"name",` (name: [a-z0-9_]+): tests/CMakeLists.txt
 * registers one test per case from those line starts. */
typedef struct gcase {
    const char *name;
    const char *spec; /* YAML: one layer (a map) or a chain (a list of maps) */
    const char *inputs;
    int training;
    int classes, ignore, ignore_pct;
} gcase;

static const gcase cases[] = {
    /* conv2d */
    {"conv_3x3_pad1", "{type: conv2d, name: c, out: 5, kernel: 3, pad: 1}", "f2x3x9x8", 1, 0, 0, 0},
    {"conv_stride2_odd", "{type: conv2d, name: c, out: 4, kernel: 3, stride: 2, pad: 1}",
     "f2x3x11x9", 1, 0, 0, 0},
    {"conv_nonsquare", "{type: conv2d, name: c, out: 6, kernel: [3, 5], stride: [2, 1], "
     "pad: [1, 2]}", "f2x4x10x9", 1, 0, 0, 0},
    {"conv_dilation", "{type: conv2d, name: c, out: 4, kernel: 3, dilation: [2, 3], pad: 2}",
     "f2x3x12x13", 1, 0, 0, 0},
    {"conv_groups3_s2", "{type: conv2d, name: c, out: 6, kernel: 3, groups: 3, stride: 2, "
     "pad: 1}", "f2x6x8x9", 1, 0, 0, 0},
    {"conv_depthwise", "{type: conv2d, name: c, out: 4, kernel: 3, groups: 4, pad: 1}",
     "f2x4x7x7", 1, 0, 0, 0},
    {"conv_depthwise_mult2", "{type: conv2d, name: c, out: 8, kernel: 3, groups: 4, "
     "stride: 2, pad: 1}", "f2x4x8x9", 1, 0, 0, 0},
    {"conv_1x1_nobias", "{type: conv2d, name: c, out: 7, kernel: 1, bias: false}", "f1x5x6x7",
     1, 0, 0, 0},
    {"conv_7x7_s2_p3", "{type: conv2d, name: c, out: 8, kernel: 7, stride: 2, pad: 3}",
     "f2x3x16x16", 1, 0, 0, 0},
    {"conv_wide", "{type: conv2d, name: c, out: 32, kernel: 3, pad: 1}", "f2x16x8x8", 1, 0, 0, 0},
    /* 2 x 64 x 48 values per channel: the bias gradient's two-stage reduction */
    {"conv_1x1_bias_long", "{type: conv2d, name: c, out: 3, kernel: 1}", "f2x5x64x48", 1, 0, 0,
     0},
    {"conv_dil_groups_mixed", "{type: conv2d, name: c, out: 6, kernel: [3, 2], dilation: "
     "[1, 2], groups: 3, stride: [1, 2], pad: [1, 1]}", "f3x3x9x10", 1, 0, 0, 0},
    /* 40 channels: two column tiles of the channels-last bias gradient, the second partial;
     * 4 x 40 x 40 rows of them: its pieces */
    {"conv_1x1_c40_bias_long", "{type: conv2d, name: c, out: 40, kernel: 1}", "f4x3x40x40",
     1, 0, 0, 0},
    /* conv_transpose2d */
    {"convt_s2_opad1", "{type: conv_transpose2d, name: t, out: 4, kernel: 3, stride: 2, "
     "pad: 1, output_pad: 1}", "f2x3x5x6", 1, 0, 0, 0},
    {"convt_k4s2", "{type: conv_transpose2d, name: t, out: 5, kernel: 4, stride: 2, pad: 1}",
     "f2x4x6x5", 1, 0, 0, 0},
    {"convt_nonsquare_opad", "{type: conv_transpose2d, name: t, out: 3, kernel: [3, 2], "
     "stride: [2, 3], pad: [1, 0], output_pad: [1, 2]}", "f2x3x4x5", 1, 0, 0, 0},
    {"convt_dil_groups", "{type: conv_transpose2d, name: t, out: 6, kernel: 3, dilation: 2, "
     "groups: 2, pad: 1}", "f2x4x5x5", 1, 0, 0, 0},
    {"convt_nobias_batch1", "{type: conv_transpose2d, name: t, out: 3, kernel: 2, stride: 2, "
     "bias: false}", "f1x3x4x4", 1, 0, 0, 0},
    /* output_pad reaching the stride under dilation: the zero-padded copy (cuda_conv.c) */
    {"convt_dil2_opad1_padded", "{type: conv_transpose2d, name: t, out: 4, kernel: 3, "
     "dilation: 2, pad: 1, output_pad: 1}", "f2x3x5x6", 1, 0, 0, 0},
    /* linear and flatten */
    {"linear_2d", "{type: linear, name: fc, out: 6}", "f5x11", 1, 0, 0, 0},
    {"linear_4d", "{type: linear, name: fc, out: 7}", "f2x3x4x5", 1, 0, 0, 0},
    {"linear_nobias", "{type: linear, name: fc, out: 4, bias: false}", "f3x8", 1, 0, 0, 0},
    {"linear_wide", "{type: linear, name: fc, out: 300}", "f4x257", 1, 0, 0, 0},
    {"flatten_4d", "{type: flatten}", "f2x3x4x5", 1, 0, 0, 0},
    {"flatten_3d", "{type: flatten}", "f3x2x7", 1, 0, 0, 0},
    {"conv_flatten_linear", "[{type: conv2d, name: c1, out: 4, kernel: 3, stride: 2, pad: 1}, "
     "{type: flatten}, {type: linear, name: fc, out: 5}]", "f2x3x7x6", 1, 0, 0, 0},
    /* pooling */
    {"max_k2s2_odd", "{type: max_pool2d, kernel: 2}", "d2x3x9x9", 1, 0, 0, 0},
    {"max_k3s2p1", "{type: max_pool2d, kernel: 3, stride: 2, pad: 1}", "d2x3x9x8", 1, 0, 0, 0},
    {"max_k3s1p1", "{type: max_pool2d, kernel: 3, stride: 1, pad: 1}", "d2x2x6x7", 1, 0, 0, 0},
    {"max_nonsquare", "{type: max_pool2d, kernel: [3, 2], stride: [1, 2], pad: [1, 0]}",
     "d2x2x7x8", 1, 0, 0, 0},
    {"max_k5s2p2", "{type: max_pool2d, kernel: 5, stride: 2, pad: 2}", "d1x3x11x10", 1, 0, 0, 0},
    {"avg_k2s2", "{type: avg_pool2d, kernel: 2}", "f2x3x8x9", 1, 0, 0, 0},
    {"avg_k3s2p1", "{type: avg_pool2d, kernel: 3, stride: 2, pad: 1}", "f2x3x9x8", 1, 0, 0, 0},
    {"avg_k3s2p1_exclude_pad", "{type: avg_pool2d, kernel: 3, stride: 2, pad: 1, "
     "count_include_pad: false}", "f2x3x9x8", 1, 0, 0, 0},
    {"avg_nonsquare_exclude_pad", "{type: avg_pool2d, kernel: [3, 4], stride: [2, 1], "
     "pad: [1, 2], count_include_pad: false}", "f2x2x7x6", 1, 0, 0, 0},
    {"global_avg_pool", "{type: global_avg_pool}", "f3x4x5x7", 1, 0, 0, 0},
    {"global_avg_pool_large", "{type: global_avg_pool}", "f2x5x33x31", 1, 0, 0, 0},
    {"blur_s2", "{type: blur_pool2d}", "f2x3x8x7", 1, 0, 0, 0},
    {"blur_s1", "{type: blur_pool2d, stride: 1}", "f2x3x6x5", 1, 0, 0, 0},
    {"blur_s2_odd", "{type: blur_pool2d, stride: 2}", "f2x4x9x7", 1, 0, 0, 0},
    {"blur_nonsquare", "{type: blur_pool2d, stride: [2, 1]}", "f1x3x8x6", 1, 0, 0, 0},
    {"unpool_k2s2", "[{type: max_pool2d, name: p1, kernel: 2}, {type: max_unpool2d, "
     "indices: p1}]", "d2x3x8x8", 1, 0, 0, 0},
    {"unpool_k2s2_odd_tanh", "[{type: max_pool2d, name: p1, kernel: 2}, {type: tanh}, "
     "{type: max_unpool2d, indices: p1}]", "d2x3x7x9", 1, 0, 0, 0},
    {"unpool_k3s3p1", "[{type: max_pool2d, name: p1, kernel: 3, stride: 3, pad: 1}, "
     "{type: max_unpool2d, indices: p1}]", "d2x2x8x7", 1, 0, 0, 0},
    /* upsampling */
    {"up_nearest_f2", "{type: upsample, factor: 2}", "f2x3x4x5", 1, 0, 0, 0},
    {"up_nearest_nonsquare", "{type: upsample, factor: [2, 3], mode: nearest}", "f2x2x3x4",
     1, 0, 0, 0},
    {"up_bilinear_f2", "{type: upsample, factor: 2, mode: bilinear}", "f2x3x4x5", 1, 0, 0, 0},
    {"up_bilinear_f3", "{type: upsample, factor: 3, mode: bilinear}", "f1x2x5x3", 1, 0, 0, 0},
    {"up_bilinear_nonsquare", "{type: upsample, factor: [3, 2], mode: bilinear}", "f2x2x4x6",
     1, 0, 0, 0},
    /* normalisation */
    {"bn_train", "{type: batch_norm2d, name: bn}", "f4x3x5x6", 1, 0, 0, 0},
    {"bn_train_noaffine_mom", "{type: batch_norm2d, name: bn, momentum: 0.3, eps: 0.001, "
     "affine: false}", "f3x4x5x5", 1, 0, 0, 0},
    {"bn_train_2d", "{type: batch_norm2d, name: bn}", "f8x5", 1, 0, 0, 0},
    {"bn_train_batch1", "{type: batch_norm2d, name: bn}", "f1x3x4x5", 1, 0, 0, 0},
    {"bn_train_large", "{type: batch_norm2d, name: bn}", "f8x4x17x19", 1, 0, 0, 0},
    {"bn_train_c40_large", "{type: batch_norm2d, name: bn}", "f4x40x24x20", 1, 0, 0, 0},
    {"bn_eval", "{type: batch_norm2d, name: bn}", "f4x3x5x6", 0, 0, 0, 0},
    {"bn_eval_noaffine_2d", "{type: batch_norm2d, name: bn, affine: false}", "f6x5", 0, 0, 0, 0},
    {"in_default", "{type: instance_norm2d, name: in}", "f2x3x5x6", 1, 0, 0, 0},
    {"in_affine", "{type: instance_norm2d, name: in, affine: true, eps: 0.001}", "f2x3x6x7",
     1, 0, 0, 0},
    {"in_affine_batch1_large", "{type: instance_norm2d, name: in, affine: true}",
     "f1x4x33x30", 1, 0, 0, 0},
    {"in_eval", "{type: instance_norm2d, name: in, affine: true}", "f2x3x5x6", 0, 0, 0, 0},
    {"in_affine_c40", "{type: instance_norm2d, name: in, affine: true}", "f2x40x5x6", 1, 0, 0,
     0},
    {"conv_bn_relu", "[{type: conv2d, name: c, out: 6, kernel: 3, pad: 1, bias: false}, "
     "{type: batch_norm2d, name: bn}, {type: relu}]", "f2x3x8x8", 1, 0, 0, 0},
    /* activations and dropout */
    {"relu", "{type: relu}", "f2x3x5x7", 1, 0, 0, 0},
    {"leaky_relu", "{type: leaky_relu, slope: 0.2}", "f1x4x6x5", 1, 0, 0, 0},
    {"leaky_relu_default_2d", "{type: leaky_relu}", "f3x11", 1, 0, 0, 0},
    {"tanh", "{type: tanh}", "f2x3x4x5", 1, 0, 0, 0},
    {"sigmoid", "{type: sigmoid}", "f2x3x4x5", 1, 0, 0, 0},
    {"dropout_train", "{type: dropout, name: drop1, p: 0.3}", "f2x3x9x11", 1, 0, 0, 0},
    {"dropout_half_large", "{type: dropout, name: drop2}", "f3x5x31x33", 1, 0, 0, 0},
    {"dropout_eval", "{type: dropout, name: drop1, p: 0.5}", "f2x3x4x5", 0, 0, 0, 0},
    /* add and concat */
    {"add2", "{type: add}", "f2x3x5x7 f2x3x5x7", 1, 0, 0, 0},
    {"add3_batch1", "{type: add, name: res}", "f1x4x3x3 f1x4x3x3 f1x4x3x3", 1, 0, 0, 0},
    {"concat2", "{type: concat}", "f2x3x4x5 f2x5x4x5", 1, 0, 0, 0},
    {"concat3_batch1", "{type: concat, name: skip}", "f1x2x3x3 f1x1x3x3 f1x4x3x3", 1, 0, 0, 0},
    {"concat_2d", "{type: concat}", "f3x4 f3x7", 1, 0, 0, 0},
    /* losses */
    {"xent_cls", "{type: softmax_cross_entropy}", "f9x5 l9", 1, 5, -100, 0},
    {"xent_cls_ignore", "{type: softmax_cross_entropy}", "f17x5 l17", 1, 5, -100, 30},
    {"xent_cls_ignore_inrange_smooth", "{type: softmax_cross_entropy, ignore_index: 3, "
     "label_smoothing: 0.25}", "f12x6 l12", 1, 6, 3, 20},
    {"xent_cls_smooth_batch1", "{type: softmax_cross_entropy, label_smoothing: 0.05}",
     "f1x13 l1", 1, 13, -100, 0},
    {"xent_cls_all_ignored", "{type: softmax_cross_entropy}", "f6x4 l6", 1, 4, -100, 100},
    {"xent_seg_ignore255_smooth", "{type: softmax_cross_entropy, ignore_index: 255, "
     "label_smoothing: 0.1}", "f2x4x5x7 l2x5x7", 1, 4, 255, 20},
    {"xent_seg_large", "{type: softmax_cross_entropy, label_smoothing: 0.2}",
     "f2x3x17x19 l2x17x19", 1, 3, -100, 10},
    {"xent_seg_ignore0_batch1", "{type: softmax_cross_entropy, ignore_index: 0}",
     "f1x3x6x5 l1x6x5", 1, 3, 0, 0},
    {"xent_seg_all_ignored", "{type: softmax_cross_entropy, ignore_index: 255}",
     "f2x3x4x4 l2x4x4", 1, 3, 255, 100},
    {"mse_2d", "{type: mse_loss}", "f4x9 t4x9", 1, 0, 0, 0},
    {"mse_4d", "{type: mse_loss}", "f2x3x5x4 t2x3x5x4", 1, 0, 0, 0},
    {"mse_large", "{type: mse_loss}", "f4x8x33x31 t4x8x33x31", 1, 0, 0, 0},
};

#endif
