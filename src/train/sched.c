/* The learning-rate schedule, a pure function of (config, step). Its definition, which
 * tools/fixtures/make_optim_fixtures.py reproduces with PyTorch's schedulers:
 *   W = round(sched.warmup_epochs * steps_per_epoch) warmup steps (half away from zero);
 *   step s < W:  lr * (s+1) / W      (LambdaLR stepped per step: lr/W at step 0, lr at W-1)
 *   step s >= W: the schedule at epoch e = s / steps_per_epoch, as PyTorch's scheduler gives
 *     it after being stepped once per epoch:
 *     constant   lr
 *     step       StepLR(step_size, gamma) after e steps: milestones count from epoch 0
 *     multistep  MultiStepLR(milestones, gamma) after e steps: absolute epochs (Goyal et al.)
 *     cosine     CosineAnnealingLR(T_max = T, eta_min = min_lr) after k steps
 *     poly       min_lr + PolynomialLR(total_iters = T, power) of (lr - min_lr) after k steps
 *     where k = e - floor(W / steps_per_epoch) counts epochs after warmup and
 *     T = max(1, train.epochs - floor(W / steps_per_epoch)); k is clamped to T (past the end
 *     the rate stays at min_lr instead of PyTorch's periodic cosine).
 *   optim.lr_scaling linear multiplies the result by data.batch_size / optim.ref_batch. */
#include "optim.h"

#include <math.h>

#define SCHED_PI 3.14159265358979323846 /* M_PI is POSIX, not C11 */

static int64_t warmup_steps(const run_config *rc, int64_t steps_per_epoch)
{
    return (int64_t)floor(rc->sched.warmup_epochs * (double)steps_per_epoch + 0.5);
}

/* The multiplier of the schedule (without warmup) at epoch e, warmup ending in epoch we. */
static double after_warmup(const run_config *rc, int64_t e, int64_t we)
{
    double lr = rc->optim.lr, min_lr = rc->sched.min_lr;
    int64_t t_max = rc->train.epochs - we, k = e - we;
    if (t_max < 1)
        t_max = 1;
    if (k > t_max)
        k = t_max;
    switch (rc->sched.name) {
    case RUN_SCHED_CONSTANT:
        return lr;
    case RUN_SCHED_STEP:
        return lr * pow(rc->sched.gamma, (double)(e / rc->sched.step_size));
    case RUN_SCHED_MULTISTEP: {
        int passed = 0;
        for (int i = 0; i < rc->sched.milestones.n; i++)
            passed += rc->sched.milestones.v[i] <= e;
        return lr * pow(rc->sched.gamma, passed);
    }
    case RUN_SCHED_COSINE:
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(SCHED_PI * (double)k / (double)t_max));
    case RUN_SCHED_POLY:
        return min_lr + (lr - min_lr) * pow(1.0 - (double)k / (double)t_max, rc->sched.power);
    }
    cnn_fatal("sched_lr: unknown schedule %d", (int)rc->sched.name);
}

double sched_lr(const run_config *rc, int64_t step, int64_t steps_per_epoch)
{
    CNN_ASSERT(step >= 0 && steps_per_epoch >= 1);
    double scale = 1.0;
    if (rc->optim.lr_scaling == RUN_LR_SCALING_LINEAR)
        scale = (double)rc->data.batch_size / (double)rc->optim.ref_batch;
    int64_t w = warmup_steps(rc, steps_per_epoch);
    if (step < w)
        return scale * rc->optim.lr * (double)(step + 1) / (double)w;
    return scale * after_warmup(rc, step / steps_per_epoch, w / steps_per_epoch);
}
