/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_conv_transpose2d = {.type = "conv_transpose2d"};
