/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_avg_pool2d = {.type = "avg_pool2d"};
