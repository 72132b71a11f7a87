/* PLACEHOLDER until written */
#include "cpu_impl.h"
void cpu_install_pool(backend_ops *ops) { (void)ops; }
