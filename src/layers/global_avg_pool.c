/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_global_avg_pool = {.type = "global_avg_pool"};
