/* The public face of src/core: tensors, errors, logging, keyed RNG, the configuration tree
 * and the backend interface. Other modules include only this header; the topic headers it
 * pulls in are part of the same public surface (split so each stays short). */
#ifndef CNN_CORE_H
#define CNN_CORE_H

#include "backend.h"
#include "cfg.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "rng.h"
#include "tensor.h"

#endif
