/* The list of layer types: one line per type. */
#include "layers.h"

#include <stdio.h>
#include <string.h>

#define LAYER_TYPES(X)                                                                   \
    X(conv2d) X(conv_transpose2d) X(linear) X(flatten) X(max_pool2d) X(avg_pool2d)       \
    X(global_avg_pool) X(blur_pool2d) X(max_unpool2d) X(upsample) X(batch_norm2d)        \
    X(instance_norm2d) X(relu) X(leaky_relu) X(tanh) X(sigmoid) X(dropout) X(add)        \
    X(concat) X(softmax_cross_entropy) X(mse_loss)                                       \
    X(adaptive_avg_pool2d)

#define DECLARE(t) extern const layer_ops layer_##t;
LAYER_TYPES(DECLARE)
#undef DECLARE

#define ENTRY(t) &layer_##t,
static const layer_ops *const table[] = {LAYER_TYPES(ENTRY)};
#undef ENTRY

const layer_ops *layer_ops_find(const char *type)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i]->type, type))
            return table[i];
    return NULL;
}

static const char *list(char *buf, size_t n, bool losses_only)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof table / sizeof table[0] && off < n; i++)
        if (!losses_only || table[i]->loss)
            off += (size_t)snprintf(buf + off, n - off, "%s%s", off ? ", " : "",
                                    table[i]->type);
    return buf;
}

const char *layer_types_list(char *buf, size_t n) { return list(buf, n, false); }

const char *layer_loss_types_list(char *buf, size_t n) { return list(buf, n, true); }
