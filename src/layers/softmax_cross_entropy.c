/* PLACEHOLDER until written */
#include "layers.h"
const layer_ops layer_softmax_cross_entropy = {.type = "softmax_cross_entropy"};
