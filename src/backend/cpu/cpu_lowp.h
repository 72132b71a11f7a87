/* Private to the CPU backend's f16/bf16 emulation (cpu_lowp*.c): one call's state, the f32
 * views of its tensors in the backend's scratch slots, and the wrapper tables. */
#ifndef CNN_BACKEND_CPU_LOWP_H
#define CNN_BACKEND_CPU_LOWP_H

#include "cpu_impl.h"

/* One low-precision call: its op name, its dtype and the f32 views handed out so far. */
typedef struct lowp {
    backend *be;
    const char *op;
    dtype dt;
    int next;
    tensor v[CPU_SCRATCH_SLOTS];
} lowp;

/* Starts a call whose float tensors have primary's dtype; false for f32 (no emulation). */
bool lowp_begin(lowp *c, backend *be, const char *op, const tensor *primary);
/* t (NULL passes) converted to f32 in the next scratch slot. same: t must have the call's
 * dtype; otherwise any float dtype is taken and an f32 t is returned as it is. */
tensor *lowp_view(lowp *c, const tensor *t, const char *name, bool same);
/* Rounds an output's f32 view back into it (NULL or t itself: nothing to do). */
void lowp_done(tensor *t, const tensor *v);

#define IN(t) lowp_view(&c, (t), #t, true)
#define OUT(t) lowp_view(&c, (t), #t, true) /* converted in too: beta and unwritten elements */
#define ANY(t) lowp_view(&c, (t), #t, false)
#define F32 (&cpu_of(be)->f32)

void cpu_lowp_install_ops(backend_ops *o);  /* elementwise, act, dropout, bias, conv, pool */
void cpu_lowp_install_norm(backend_ops *o); /* norm, losses, argmax */

#endif
