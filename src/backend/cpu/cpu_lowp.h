/* Private to the CPU backend's f16/bf16 and channels-last emulation (cpu_lowp*.c): one
 * call's state, the f32 NCHW views of its tensors in the backend's scratch slots, and the
 * wrapper tables. */
#ifndef CNN_BACKEND_CPU_LOWP_H
#define CNN_BACKEND_CPU_LOWP_H

#include "cpu_impl.h"

/* One emulated call: its op name, its float dtype, whether its f32 kernel reads NCHW only,
 * and the views handed out so far. */
typedef struct lowp {
    backend *be;
    const char *op;
    dtype dt;
    bool nchw;
    int next;
    tensor v[CPU_SCRATCH_SLOTS];
} lowp;

/* Starts a call whose float tensors have primary's dtype; false for f32 (no emulation).
 * For layout-agnostic ops (elementwise) an NHWC tensor is converted in memory order. */
bool lowp_begin(lowp *c, backend *be, const char *op, const tensor *primary);
/* An op whose f32 kernel reads NCHW: also true for an f32 call on NHWC tensors, whose views
 * are then transposed to NCHW (and outputs back). */
bool lowp_begin_nchw(lowp *c, backend *be, const char *op, const tensor *primary);

typedef enum lowp_kind {
    LOWP_SAME,  /* a float tensor of the call's dtype, seen as f32 */
    LOWP_FLOAT, /* any float dtype, seen as f32 */
    LOWP_RAW,   /* any dtype (indices, masks, f32 probabilities), kept: only transposed */
} lowp_kind;
/* t (NULL passes) as the f32 kernel wants it (f32, and NCHW for an NCHW call), in the next
 * scratch slot, or t itself when it already is. */
tensor *lowp_view(lowp *c, const tensor *t, const char *name, lowp_kind kind);
/* Writes an output's view back into it (NULL or t itself: nothing to do). */
void lowp_done(tensor *t, const tensor *v);

#define IN(t) lowp_view(&c, (t), #t, LOWP_SAME)
#define OUT(t) lowp_view(&c, (t), #t, LOWP_SAME) /* converted in too: beta, unwritten elements */
#define ANY(t) lowp_view(&c, (t), #t, LOWP_FLOAT)
#define RAW(t) lowp_view(&c, (t), #t, LOWP_RAW)
#define F32 (&cpu_of(be)->f32)

void cpu_lowp_install_ops(backend_ops *o);  /* elementwise, act, dropout, bias, conv, pool */
void cpu_lowp_install_norm(backend_ops *o); /* norm, losses, argmax */

#endif
