#include "emu_test.h"
void group_pool() {}
