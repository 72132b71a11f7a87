/* NaN passes through the activations as in PyTorch (torch.relu(nan) is nan): a net whose
 * weights went NaN (divergence, a corrupt checkpoint) must show NaN in its loss, not train
 * on as if healthy. Forward: every activation maps NaN to NaN and keeps its value
 * elsewhere (relu(-0) = +0, relu(-1) = 0); backward: relu and leaky relu at a NaN input pass
 * dy times the positive slope (PyTorch's threshold_backward), in f32 and emulated bf16. */
#include <math.h>

#include "../../src/core/core.h"
#include "../check.h"

enum { N = 6 };
static const float xs[N] = {NAN, -1.0f, -0.0f, 0.0f, 2.0f, -INFINITY};

static tensor host(void *p, dtype dt) { return tensor_view(p, SHAPE(N), dt, DEVICE_CPU); }

/* x in dt (rounded), act forward and relu-family backward with dy = 3, read back as f32. */
static void run(backend *be, dtype dt, act_kind k, float *y, float *dx)
{
    uint16_t x16[N], y16[N], dy16[N], dx16[N];
    float x32[N], dy32[N];
    for (int i = 0; i < N; i++) {
        x32[i] = xs[i];
        dy32[i] = 3.0f;
    }
    bool lowp = dt != DTYPE_F32;
    if (lowp) {
        dtype_convert_host(dt, x16, DTYPE_F32, x32, N);
        dtype_convert_host(dt, dy16, DTYPE_F32, dy32, N);
    }
    tensor x = host(lowp ? (void *)x16 : x32, dt), ty = host(lowp ? (void *)y16 : y, dt);
    tensor dy = host(lowp ? (void *)dy16 : dy32, dt), tdx = host(lowp ? (void *)dx16 : dx, dt);
    be->ops->act_fwd(be, k, 0.1f, &x, &ty);
    if (k == ACT_RELU || k == ACT_LEAKY_RELU)
        be->ops->act_bwd(be, k, 0.1f, &x, &ty, &dy, &tdx);
    if (lowp) {
        dtype_convert_host(DTYPE_F32, y, dt, y16, N);
        dtype_convert_host(DTYPE_F32, dx, dt, dx16, N);
    }
}

int main(void)
{
    backend *be;
    cnn_err e = {0};
    if (backend_create("cpu", 1, &be, &e) < 0) {
        fprintf(stderr, "backend: %s\n", e.msg);
        return 1;
    }
    const dtype dts[] = {DTYPE_F32, DTYPE_BF16};
    for (int d = 0; d < 2; d++) {
        for (int k = ACT_RELU; k <= ACT_SIGMOID; k++) {
            float y[N], dx[N];
            run(be, dts[d], (act_kind)k, y, dx);
            CHECK(isnan(y[0]));
            if (k == ACT_RELU) {
                CHECK(y[1] == 0.0f && y[4] == 2.0f && y[5] == 0.0f);
                CHECK(y[2] == 0.0f && !signbit(y[2]));
                CHECK(dx[0] == 3.0f && dx[1] == 0.0f && dx[4] == 3.0f);
            } else if (k == ACT_LEAKY_RELU) {
                CHECK_NEAR(y[1], -0.1f, 1e-3);
                CHECK(y[4] == 2.0f && y[5] == -INFINITY);
                CHECK(dx[0] == 3.0f && dx[4] == 3.0f);
                CHECK_NEAR(dx[1], 0.3f, 2e-3);
            } else if (k == ACT_TANH) {
                CHECK(y[5] == -1.0f && y[3] == 0.0f);
            } else {
                CHECK(y[5] >= 0.0f && y[5] < 1e-38f && y[3] == 0.5f); /* e^x clamps at -87.3 */
            }
        }
        printf("  %s: NaN passes relu, leaky relu, tanh, sigmoid; relu backward at NaN "
               "passes dy\n", dtype_name(dts[d]));
    }
    backend_destroy(be);
    printf("act_nan: ok\n");
    return 0;
}
