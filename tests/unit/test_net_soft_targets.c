/* net_create_opts with soft_targets: a classifier's target becomes f32 (N, classes) and its
 * loss the soft-target cross-entropy (checked against the same definition computed here in
 * double, label_smoothing of the loss not applied: mix_batch folds it into the targets);
 * net_create keeps i32 labels; a per-pixel model or an mse_loss model asked for soft targets
 * is an error that names the config position and what to do. */
#include <math.h>

#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

#define CLS "model:\n  input: [4]\n  loss: {type: softmax_cross_entropy, label_smoothing: 0.1}\n" \
            "  layers:\n    - {type: linear, name: fc, out: 3}\n"

static net *make(const char *yaml, bool soft, cnn_err *e, int *rc)
{
    cfg_node *root;
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "m.yaml", &root, e), CNN_OK);
    net_opts o = {.soft_targets = soft};
    net *n = NULL;
    *rc = net_create_opts(cfg_get(root, "model"), 2, &o, &n, e);
    cfg_free(root);
    return n;
}

static void classifier(void)
{
    cnn_err e = {0};
    int rc;
    net *n = make(CLS, true, &e, &rc);
    CHECK_EQ(rc, CNN_OK);
    CHECK_EQ(n->target_dt, DTYPE_F32);
    shape want_f = SHAPE(2, 3), want_i = SHAPE(2);
    CHECK(shape_eq(&n->target_shape, &want_f));
    backend *be;
    CHECK_EQ(backend_create("cpu", 1, &be, &e), CNN_OK);
    CHECK_EQ(net_alloc(n, be, &e), CNN_OK);
    net_init(n, rng_key_from_seed(3));
    float in[8] = {0.5f, -1, 2, 0.25f, 1, 1, -0.5f, 0}, tgt[6] = {0.7f, 0.3f, 0, 0, 0, 0};
    backend_upload(be, &n->input, in);
    backend_upload(be, &n->target, tgt); /* row 1 is padding */
    exec x = {.be = be, .training = true, .key = rng_key_from_seed(1)};
    net_forward(n, &x, true);
    float logits[6], loss;
    backend_download(be, net_output(n), logits);
    backend_download(be, net_loss_value(n), &loss);
    double m = fmax(logits[0], fmax(logits[1], logits[2]));
    double lse = m + log(exp(logits[0] - m) + exp(logits[1] - m) + exp(logits[2] - m));
    double want = 0.7 * (lse - logits[0]) + 0.3 * (lse - logits[1]);
    printf("soft classifier: loss %.7f, by hand %.7f (row 1 padding)\n", loss, want);
    CHECK_NEAR(loss, want, 1e-6 * want);
    net_backward(n, &x, NULL, NULL);
    net_destroy(n);
    backend_destroy(be);
    n = make(CLS, false, &e, &rc);
    CHECK(rc == CNN_OK && n->target_dt == DTYPE_I32 && shape_eq(&n->target_shape, &want_i));
    net_destroy(n);
}

static void expect_error(const char *yaml, const char *const *frag)
{
    cnn_err e = {0};
    int rc;
    net *n = make(yaml, true, &e, &rc);
    CHECK(rc == CNN_EINVAL && n == NULL);
    printf("  %s\n", e.msg);
    for (int i = 0; frag[i]; i++)
        CHECK_STR_CONTAINS(e.msg, frag[i]);
}
#define EXPECT(yaml, ...) expect_error((yaml), (const char *const[]){__VA_ARGS__, NULL})

int main(void)
{
    classifier();
    EXPECT("model:\n  input: [3, 4, 4]\n  layers:\n    - {type: conv2d, name: seg, out: 2, "
           "kernel: 1}\n", "m.yaml:4:7:", "output 'seg' is (2, 2, 4, 4)", "per-pixel",
           "train.mixup", "set both to 0");
    EXPECT("model:\n  input: [4]\n  loss: mse_loss\n  layers:\n    - {type: linear, out: 4}\n",
           "m.yaml:3:9:", "loss is mse_loss", "train.cutmix");
    printf("net soft targets: ok\n");
    return 0;
}
