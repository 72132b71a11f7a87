/* The CPU backend's layout-agnostic kernels (elementwise, activations, channel_copy) read
 * memory in order, so two 4-D operands stored in different layouts would mix elements of
 * different (c, h, w) without a word. The backend contract (backend.h) forbids the mix; the
 * CPU backend must fault on it, naming the op and both tensors, as the CUDA one does, in f32
 * and in emulated bf16. Operands of one layout run, NHWC as NCHW. */
#include <string.h>

#include "../../src/core/core.h"
#include "../check.h"
#include "../support/child.h"

enum { N = 2, C = 3, H = 2, W = 5, NUMEL = N * C * H * W };

typedef enum op_case { OP_ADD, OP_AXPBY, OP_ACT_FWD, OP_ACT_BWD, OP_CHANNEL_COPY } op_case;
static const char *const op_fn[] = {"cpu_add", "cpu_axpby", "cpu_act_fwd", "cpu_act_bwd",
                                    "cpu_channel_copy"};

static backend *be;
static float buf[3][NUMEL];
static uint16_t buf16[3][NUMEL];

static tensor operand(int i, dtype dt, layout lay)
{
    tensor t = tensor_view(dt == DTYPE_F32 ? (void *)buf[i] : (void *)buf16[i],
                           SHAPE(N, C, H, W), dt, DEVICE_CPU);
    t.lay = lay;
    return t;
}

/* The op with its last operand (the output) in out_lay and the others in NCHW. */
static void run_op(op_case op, dtype dt, layout out_lay)
{
    tensor a = operand(0, dt, LAYOUT_NCHW), b = operand(1, dt, LAYOUT_NCHW);
    tensor y = operand(2, dt, out_lay);
    switch (op) {
    case OP_ADD: be->ops->add(be, &a, &b, &y); break;
    case OP_AXPBY: be->ops->axpby(be, 2.0f, &a, 1.0f, &y); break;
    case OP_ACT_FWD: be->ops->act_fwd(be, ACT_RELU, 0.0f, &a, &y); break;
    case OP_ACT_BWD: be->ops->act_bwd(be, ACT_RELU, 0.0f, &a, NULL, &b, &y); break;
    case OP_CHANNEL_COPY: be->ops->channel_copy(be, &a, 0, &y, 0, C, 0.0f); break;
    }
}

typedef struct mix_case {
    op_case op;
    dtype dt;
} mix_case;

static void run_mixed(void *arg)
{
    const mix_case *m = arg;
    run_op(m->op, m->dt, LAYOUT_NHWC);
}

/* Runs the mixed call in a child; it must die with the layout message. */
static void check_mix_is_fatal(op_case op, dtype dt)
{
    char msg[2048];
    mix_case m = {op, dt};
    CHECK(child_fails(run_mixed, &m, msg, sizeof msg));
    CHECK_STR_CONTAINS(msg, "differ in layout");
    CHECK_STR_CONTAINS(msg, op_fn[op]);
    CHECK_STR_CONTAINS(msg, "(nchw)");
    CHECK_STR_CONTAINS(msg, "(nhwc)");
    printf("  %s %s, mixed layouts: fatal\n", op_fn[op], dtype_name(dt));
}

/* The same op with every operand NHWC gives what it gives with every operand NCHW, element
 * for element in memory order (these kernels are layout-agnostic). */
static void check_same_layout_runs(op_case op)
{
    float out[2][NUMEL];
    for (int l = 0; l < 2; l++) {
        layout lay = l ? LAYOUT_NHWC : LAYOUT_NCHW;
        for (int i = 0; i < NUMEL; i++) {
            buf[0][i] = (float)(i % 7) - 3.0f;
            buf[1][i] = (float)(i % 5) * 0.5f;
            buf[2][i] = 1.0f;
        }
        tensor a = operand(0, DTYPE_F32, lay), b = operand(1, DTYPE_F32, lay);
        tensor y = operand(2, DTYPE_F32, lay);
        if (op == OP_ADD)
            be->ops->add(be, &a, &b, &y);
        else
            be->ops->act_bwd(be, ACT_RELU, 0.0f, &a, NULL, &b, &y);
        memcpy(out[l], buf[2], sizeof out[l]);
    }
    CHECK(!memcmp(out[0], out[1], sizeof out[0]));
    printf("  %s with every operand nhwc: as nchw\n", op_fn[op]);
}

int main(void)
{
    cnn_err e = {0};
    if (backend_create("cpu", 1, &be, &e) < 0) {
        fprintf(stderr, "backend: %s\n", e.msg);
        return 1;
    }
    /* every fork first, before the parent's kernels start an OpenMP team */
    for (int op = OP_ADD; op <= OP_CHANNEL_COPY; op++) {
        check_mix_is_fatal((op_case)op, DTYPE_F32);
        if (op != OP_CHANNEL_COPY) /* channel_copy has no emulation wrapper */
            check_mix_is_fatal((op_case)op, DTYPE_BF16);
    }
    check_same_layout_runs(OP_ADD);
    check_same_layout_runs(OP_ACT_BWD);
    backend_destroy(be);
    printf("layout_mix: ok\n");
    return 0;
}
