/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_conv2d = {.type = "conv2d"};
