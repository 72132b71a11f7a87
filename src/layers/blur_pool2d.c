/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_blur_pool2d = {.type = "blur_pool2d"};
