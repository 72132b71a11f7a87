/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_batch_norm2d = {.type = "batch_norm2d"};
