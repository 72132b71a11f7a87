/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_instance_norm2d = {.type = "instance_norm2d"};
