/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_max_pool2d = {.type = "max_pool2d"};
