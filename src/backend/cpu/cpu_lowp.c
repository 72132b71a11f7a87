/* f16, bf16 and channels-last on the CPU backend, an honest emulation of what a GPU
 * computes: tensors hold 16-bit values, math runs in f32, and each output element is rounded
 * once (nearest even) to its dtype; an NHWC tensor reaches a kernel that reads NCHW
 * transposed, so a channels-last net computes exactly what the NCHW net does. Each op with
 * float tensors gets a wrapper in front of its f32 kernel (fill, convert, scale_by and
 * channel_copy handle 16 bits and layouts themselves; the optimizer ops are f32 and 1-D):
 * f32 NCHW calls go straight through; otherwise every such tensor is converted into its own
 * scratch slot, the f32 kernel runs on those, and the outputs are written back. Outputs are
 * converted in as well, so beta accumulates onto their old values and an element a kernel
 * forgot to write keeps its (poisoned) value, as in f32. The slots grow only and belong to
 * the backend; ops run one at a time on the caller's thread (comm's thread never calls ops
 * on the CPU backend), so they need no lock. Tensors the contract keeps f32 (statistics,
 * probabilities, losses, targets) reach the f32 kernel in f32, which checks them. */
#include <stdlib.h>

#include "cpu_lowp.h"

static float *slot(backend *be, int i, int64_t n)
{
    cpu_scratch *s = &cpu_of(be)->scratch[i];
    if ((size_t)n > s->n) {
        free(s->p);
        size_t bytes = ((size_t)n * sizeof(float) + 63) & ~(size_t)63;
        s->p = aligned_alloc(64, bytes);
        if (!s->p)
            cnn_fatal("cpu backend: out of memory for a %.1f MiB f16/bf16 scratch buffer",
                      (double)bytes / (1 << 20));
        s->n = bytes / sizeof(float);
    }
    return s->p;
}

void cpu_lowp_free(cpu_state *st)
{
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++)
        free(st->scratch[i].p);
}

static bool begin(lowp *c, backend *be, const char *op, const tensor *primary, bool nchw)
{
    c->be = be;
    c->op = op;
    c->dt = primary->dt;
    c->nchw = nchw;
    c->next = 0;
    if (!dtype_is_float(c->dt))
        cnn_fatal("cpu backend: %s of dtype %s is not supported", op, dtype_name(c->dt));
    return c->dt != DTYPE_F32 || (nchw && tensor_is_nhwc(primary));
}

bool lowp_begin(lowp *c, backend *be, const char *op, const tensor *primary)
{
    return begin(c, be, op, primary, false);
}

bool lowp_begin_nchw(lowp *c, backend *be, const char *op, const tensor *primary)
{
    return begin(c, be, op, primary, true);
}

tensor *lowp_view(lowp *c, const tensor *t, const char *name, lowp_kind kind)
{
    if (!t)
        return NULL;
    bool ok = kind == LOWP_SAME ? t->dt == c->dt : kind == LOWP_RAW || dtype_is_float(t->dt);
    if (t->dev != DEVICE_CPU || !t->data || !ok)
        cnn_fatal("cpu backend: %s: tensor '%s' is %s/%s%s, expected cpu/%s", c->op, name,
                  device_name(t->dev), dtype_name(t->dt), t->data ? "" : " (unbound)",
                  kind == LOWP_SAME ? dtype_name(c->dt) : "float");
    bool cast = kind != LOWP_RAW && t->dt != DTYPE_F32, relay = c->nchw && tensor_is_nhwc(t);
    if (!cast && !relay)
        return (tensor *)t;
    CNN_ASSERT(c->next < CPU_SCRATCH_SLOTS);
    tensor *v = &c->v[c->next];
    *v = *t;
    if (cast)
        v->dt = DTYPE_F32;
    if (relay)
        v->lay = LAYOUT_NCHW;
    v->data = slot(c->be, c->next++, tensor_numel(t));
    cpu_move(v, t, 0.0f);
    return v;
}

void lowp_done(tensor *t, const tensor *v)
{
    if (t && v != t)
        cpu_move(t, v, 0.0f);
}

/* ---- dense algebra ---- */

/* A row-major (rows x cols) matrix with leading dimension ld, as dense f32 in slot i. */
static float *pack(backend *be, int i, dtype dt, const void *a, int64_t rows, int64_t cols,
                   int64_t ld)
{
    float *p = slot(be, i, rows * cols);
    size_t es = dtype_size(dt);
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; r++)
        dtype_convert_host(DTYPE_F32, p + r * cols, dt, (const char *)a + (size_t)(r * ld) * es,
                           cols);
    return p;
}

static void w_gemm(backend *be, dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                   float alpha, const void *a, int64_t lda, const void *b, int64_t ldb,
                   float beta, void *cm, int64_t ldc)
{
    lowp c;
    tensor probe = {.dt = dt};
    if (!lowp_begin(&c, be, "gemm", &probe)) {
        F32->gemm(be, dt, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
        return;
    }
    if (m <= 0 || n <= 0)
        return;
    int64_t kk = k > 0 ? k : 0;
    int64_t ar = ta ? kk : m, ac = ta ? m : kk, br = tb ? n : kk, bc = tb ? kk : n;
    const float *a32 = pack(be, 0, dt, a, ar, ac, lda), *b32 = pack(be, 1, dt, b, br, bc, ldb);
    float *c32 = pack(be, 2, dt, cm, m, n, ldc);
    F32->gemm(be, DTYPE_F32, ta, tb, m, n, k, alpha, a32, ac > 0 ? ac : 1, b32,
              bc > 0 ? bc : 1, beta, c32, n);
    size_t es = dtype_size(dt);
#pragma omp parallel for schedule(static) if (m * n > 65536)
    for (int64_t r = 0; r < m; r++)
        dtype_convert_host(dt, (char *)cm + (size_t)(r * ldc) * es, DTYPE_F32, c32 + r * n, n);
}

void cpu_install_lowp(cpu_state *st)
{
    st->f32 = st->ops;
    st->ops.gemm = w_gemm;
    cpu_lowp_install_ops(&st->ops);
    cpu_lowp_install_norm(&st->ops);
}
