/* Channels-last nets (net_opts.channels_last) on the CPU backend, against the same model in
 * NCHW from the same masters. The CPU backend runs its NCHW kernels on transposed copies,
 * so the two must agree bit for bit: losses, outputs (read back in logical order), every
 * master gradient, also accumulated over two backward passes; and in bf16, where the
 * working weights are rounded and transposed in one convert. Also checked: 4-D activations
 * and convolution weights are stored NHWC (the working weight is the master transposed),
 * masters stay NCHW, the memory plan counts the working copies. Three models cover every
 * layer that cares about the layout: a classifier (convolutions with and without bias,
 * batch norm, pooling, concat, add, dropout, transposed convolution, flatten and a linear
 * layer straight on a 4-D input), a segmenter (bilinear upsampling, instance norm, blur
 * pooling, max unpooling, per-pixel cross-entropy) and a denoiser (mse against a 4-D
 * target, which the net transposes too).
 * test_net_channels_last cuda: the channels-last net runs on the CUDA backend instead (its
 * NHWC kernels, cuDNN's NHWC convolutions, the transposing convert) against the NCHW net on
 * the CPU, within a stated tolerance instead of bit for bit; 77 without a GPU. */
#include <math.h>

#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

#define BATCH 3

static const char *const classifier =
    "model:\n  input: [3, 8, 8]\n  loss: {type: softmax_cross_entropy}\n  layers:\n"
    "    - {type: conv2d, name: c1, out: 6, kernel: 3, pad: 1}\n"
    "    - {type: batch_norm2d, name: bn}\n    - {type: relu, name: r1}\n"
    "    - {type: conv2d, name: c2, out: 4, kernel: 3, pad: 1, bias: false}\n"
    "    - {type: concat, name: cat, inputs: [c2, r1]}\n"
    "    - {type: max_pool2d, name: mp, kernel: 2}\n"
    "    - {type: dropout, name: drop, p: 0.3}\n"
    "    - {type: conv_transpose2d, name: ct, out: 10, kernel: 3, stride: 1, pad: 1}\n"
    "    - {type: add, name: sum, inputs: [ct, drop]}\n"
    "    - {type: avg_pool2d, name: ap, kernel: 2}\n"
    "    - {type: linear, name: fc4d, out: 7}\n"
    "    - {type: relu}\n    - {type: linear, name: fc, out: 5}\n";

static const char *const segmenter =
    "model:\n  input: [2, 8, 8]\n  loss: {type: softmax_cross_entropy, ignore_index: 3}\n"
    "  layers:\n"
    "    - {type: conv2d, name: c1, out: 5, kernel: 3, pad: 1}\n"
    "    - {type: instance_norm2d, name: inorm, affine: true}\n    - {type: tanh}\n"
    "    - {type: max_pool2d, name: mp, kernel: 2}\n"
    "    - {type: blur_pool2d, name: blur, stride: 1}\n"
    "    - {type: max_unpool2d, name: unpool, indices: mp}\n"
    "    - {type: conv2d, name: c2, out: 4, kernel: 1}\n"
    "    - {type: avg_pool2d, kernel: 2}\n"
    "    - {type: upsample, name: up, factor: 2, mode: bilinear}\n";

static const char *const denoiser =
    "model:\n  input: [3, 6, 6]\n  loss: {type: mse_loss}\n  layers:\n"
    "    - {type: conv2d, name: c1, out: 8, kernel: 3, pad: 1}\n"
    "    - {type: leaky_relu, slope: 0.1}\n"
    "    - {type: upsample, factor: 2}\n    - {type: max_pool2d, kernel: 2}\n"
    "    - {type: conv2d, name: c2, out: 3, kernel: 1}\n"
    "    - {type: add, name: residual, inputs: [c2, input]}\n";

static backend *cpu, *dev; /* dev runs the channels-last net: the CPU, or CUDA */
/* Largest |difference| allowed, relative to the largest |reference| of the tensor: 0 on the
 * CPU (bit for bit); on CUDA, f32 gets 1e-3 (cuDNN may use TF32 tensor cores, 10 mantissa
 * bits, and other reduction orders) and bf16 20 units of roundoff (test_net_lowp's bound). */
static double tol;

static net *make(backend *be, const char *model, dtype precision, bool channels_last)
{
    cnn_err e = {0};
    cfg_node *root;
    CHECK_EQ(config_parse_string(model, strlen(model), "m.yaml", &root, &e), CNN_OK);
    net_opts o = {.precision = precision, .channels_last = channels_last};
    net *n = NULL;
    if (net_create_opts(cfg_get(root, "model"), BATCH, &o, &n, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    cfg_free(root);
    CHECK_EQ(net_alloc(n, be, &e), CNN_OK);
    net_init(n, rng_key_from_seed(11));
    int64_t ni = shape_numel(&n->in_shape), nt = shape_numel(&n->target_shape);
    float *in = cnn_xmalloc((size_t)ni * sizeof *in);
    rng_fill_uniform(rng_key_from_seed(5), 0, in, (size_t)ni, -1.0f, 1.0f);
    backend_upload(be, &n->input, in);
    if (n->target_dt == DTYPE_I32) {
        int32_t *labels = cnn_xmalloc((size_t)nt * sizeof *labels);
        for (int64_t i = 0; i < nt; i++)
            labels[i] = (int32_t)((i * 7 + 3) % 5 % 4); /* 3 is ignored by the segmenter */
        backend_upload(be, &n->target, labels);
        free(labels);
    } else {
        float *t = cnn_xmalloc((size_t)nt * sizeof *t);
        rng_fill_uniform(rng_key_from_seed(6), 0, t, (size_t)nt, -1.0f, 1.0f);
        backend_upload(be, &n->target, t);
        free(t);
    }
    free(in);
    return n;
}

/* A tensor as f32 in logical (NCHW) order. */
static float *host(backend *be, const tensor *t)
{
    int64_t cnt = tensor_numel(t);
    float *stored = cnn_xmalloc((size_t)cnt * sizeof *stored);
    float *h = cnn_xmalloc((size_t)cnt * sizeof *h);
    void *raw = cnn_xmalloc(tensor_bytes(t));
    backend_download(be, t, raw);
    dtype_convert_host(DTYPE_F32, stored, t->dt, raw, cnt);
    layout_permute_host(h, LAYOUT_NCHW, stored, t->lay, &t->s, sizeof *h);
    free(raw);
    free(stored);
    return h;
}

/* a (channels-last, on dev) against b (NCHW, on the CPU). */
static int same(const char *what, const tensor *a, const tensor *b)
{
    CHECK_EQ(tensor_numel(a), tensor_numel(b));
    float *x = host(dev, a), *y = host(cpu, b);
    int64_t cnt = tensor_numel(a), bad = 0;
    double big = 0;
    for (int64_t i = 0; i < cnt; i++)
        big = fmax(big, fabs((double)y[i]));
    for (int64_t i = 0; i < cnt; i++) {
        bool off = tol == 0 ? memcmp(&x[i], &y[i], sizeof x[i]) != 0
                            : !(fabs((double)x[i] - y[i]) <= tol * big);
        if (off && bad++ < 3)
            fprintf(stderr, "  %s[%lld]: channels-last %.9g, nchw %.9g\n", what,
                    (long long)i, x[i], y[i]);
    }
    if (bad)
        fprintf(stderr, "%s: %lld of %lld elements differ (tolerance %.3g of %.3g)\n", what,
                (long long)bad, (long long)cnt, tol, big);
    free(x);
    free(y);
    return bad == 0;
}

/* Every 4-D activation NHWC, masters NCHW, working convolution weights the masters
 * transposed (and rounded). */
static void check_storage(const net *cl, dtype dt)
{
    int n4 = 0;
    for (int i = 0; i < cl->n_nodes; i++)
        if (cl->nodes[i].out.s.nd == 4) {
            CHECK(tensor_is_nhwc(&cl->nodes[i].out));
            n4++;
        }
    CHECK(n4 > 3);
    CHECK(cl->mem.working > 0 && cl->lay == LAYOUT_NHWC);
    const net_entry *w = net_entry_find(cl, "c1.weight");
    CHECK(w && tensor_is_nhwc(&w->slot->t) && !tensor_is_nhwc(&w->value));
    CHECK(w->slot->t.dt == dt && w->value.dt == DTYPE_F32);
    float *m = host(dev, &w->value), *k = host(dev, &w->slot->t); /* both logical order */
    for (int64_t i = 0; i < tensor_numel(&w->value); i++) {
        float r = m[i];
        uint16_t b;
        if (dt != DTYPE_F32) { /* rounded once */
            dtype_convert_host(dt, &b, DTYPE_F32, &m[i], 1);
            dtype_convert_host(DTYPE_F32, &r, dt, &b, 1);
        }
        CHECK(k[i] == r);
    }
    free(m);
    free(k);
}

static void check_model(const char *name, const char *model, dtype dt)
{
    net *ref = make(cpu, model, dt, false), *cl = make(dev, model, dt, true);
    tol = dev == cpu ? 0.0 : dt == DTYPE_F32 ? 1e-3 : 20.0 / 256;
    CHECK_EQ(cl->mem.params, ref->mem.params);
    exec xr = {.be = cpu, .training = true, .key = rng_key_from_seed(2)}, xc = xr;
    xc.be = dev;
    int ok = 1;
    for (int pass = 0; pass < 2; pass++) { /* pass 1 accumulates onto pass 0's gradients */
        xr.param_grad_beta = xc.param_grad_beta = (float)pass;
        net_forward(ref, &xr, true);
        net_forward(cl, &xc, true);
        if (pass == 0)
            check_storage(cl, dt);
        ok &= same("output", net_output(cl), net_output(ref));
        ok &= same("loss", net_loss_value(cl), net_loss_value(ref));
        net_backward(ref, &xr, NULL, NULL);
        net_backward(cl, &xc, NULL, NULL);
        ok &= same("master gradients", &cl->grads_flat, &ref->grads_flat);
        if (ref->buffers_flat.data)
            ok &= same("buffers", &cl->buffers_flat, &ref->buffers_flat);
    }
    xr.training = xc.training = false; /* evaluation: running statistics, no dropout */
    net_forward(ref, &xr, true);
    net_forward(cl, &xc, true);
    ok &= same("eval output", net_output(cl), net_output(ref));
    float loss;
    backend_download(dev, net_loss_value(cl), &loss);
    printf("%s %s: channels-last on %s equals nchw on cpu %s: %s (eval loss %.6f)\n", name,
           dtype_name(dt), dev->ops->name, tol == 0 ? "bit for bit" : "within tolerance",
           ok ? "yes" : "NO", loss);
    CHECK(ok && isfinite(loss));
    net_destroy(ref);
    net_destroy(cl);
}

int main(int argc, char **argv)
{
    cnn_err e = {0};
    CHECK_EQ(backend_create("cpu", 1, &cpu, &e), CNN_OK);
    dev = cpu;
    if (argc > 1 && strcmp(argv[1], "cpu")) {
        if (backend_create(argv[1], 1, &dev, &e) < 0) {
            printf("skipped: %s\n", e.msg);
            return 77;
        }
    }
    const dtype dts[] = {DTYPE_F32, DTYPE_BF16};
    for (int k = 0; k < 2; k++) {
        check_model("classifier", classifier, dts[k]);
        check_model("segmenter", segmenter, dts[k]);
        check_model("denoiser", denoiser, dts[k]);
    }
    if (dev != cpu)
        backend_destroy(dev);
    backend_destroy(cpu);
    return 0;
}
