/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_max_unpool2d = {.type = "max_unpool2d"};
