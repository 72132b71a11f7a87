/* PLACEHOLDER until written */
#include "cpu_impl.h"
void cpu_install_conv(backend_ops *ops) { (void)ops; }
void cpu_conv_cache_destroy(cpu_conv_cache *c) { (void)c; }
