/* The optimizer and the learning-rate schedule. The update runs on the net's backend over
 * the flat parameter arena, one call per run of parameters that share a weight-decay
 * setting, with the step's gradient multiplier (clipping, loss scale) kept on the device:
 * no host round trip in a step. Update rules and schedules are PyTorch's (torch.optim.SGD,
 * AdamW; lr_scheduler StepLR, MultiStepLR, CosineAnnealingLR, PolynomialLR with a linear
 * warmup), so the same run in PyTorch follows the same weights. */
#ifndef CNN_TRAIN_OPTIM_H
#define CNN_TRAIN_OPTIM_H

#include "../config/config.h"
#include "train.h"

typedef struct optim optim;

/* State (momentum, or AdamW's m and v) allocated on n's backend, zero. The weight-decay
 * exemption (optim.decay_norm_and_bias false) follows layer_slot.no_decay. */
int optim_create(const run_config *rc, net *n, optim **out, cnn_err *e);
/* One update of n->params_flat from n->grads_flat (already averaged over ranks): the
 * gradient multiplier is computed on device from the gradient norm (train.grad_clip) and
 * the loss scale; a step whose gradients are not finite changes nothing. With precision
 * fp16 the loss scale is dynamic (amp.*, PyTorch's GradScaler): lowered after such a step,
 * raised after amp.growth_interval finite ones, all on device. step counts updates from 1
 * (AdamW's bias correction; a skipped step still counts, unlike PyTorch, to keep the step
 * free of host round trips). */
void optim_step(optim *o, double lr, int64_t step);
/* The loss scale for exec.loss_scale (device, f32), or NULL when the run uses none (fp32,
 * bf16). */
const tensor *optim_loss_scale(const optim *o);
/* Its current value, downloaded (a host round trip: logging steps only); 1 without one. */
double optim_loss_scale_value(optim *o);
/* The last step's gradient L2 norm (before clipping, after unscaling), downloaded: a host
 * round trip, so only for logging steps. NaN when not finite. */
double optim_last_grad_norm(optim *o);
/* The state as checkpoint tensors ("momentum"/"adam_m"/"adam_v" groups, keyed by
 * parameter, and "amp"/"loss_scale" with fp16); valid while o lives. *n_out entries. After
 * ckpt_load, call optim_loaded. */
ckpt_tensor *optim_state(optim *o, int *n_out);
/* Tells o which of its state ckpt_load found (momentum absent = empty, as PyTorch). */
void optim_loaded(optim *o);
void optim_destroy(optim *o);

/* The learning rate for optimizer step `step` (0-based) of a run with steps_per_epoch steps
 * per epoch: linear warmup over sched.warmup_epochs (per step), then the schedule evaluated
 * per epoch as PyTorch steps its schedulers per epoch (cosine and poly over train.epochs
 * after warmup, down to sched.min_lr); optim.lr_scaling linear multiplies by
 * data.batch_size / optim.ref_batch. */
double sched_lr(const run_config *rc, int64_t step, int64_t steps_per_epoch);

/* An exponential moving average of the weights and buffers (train.ema; timm's ModelEmaV2):
 * ema = d*ema + (1-d)*w after every step; swapped in for evaluation and saved beside the
 * weights in checkpoints (group "ema"). */
typedef struct ema ema;
int ema_create(net *n, double decay, ema **out, cnn_err *e);
void ema_update(ema *m);
/* Exchanges the net's parameters and buffers with the average (call twice to go back). */
void ema_swap(ema *m);
ckpt_tensor *ema_state(ema *m, int *n_out);
void ema_destroy(ema *m);

#endif
