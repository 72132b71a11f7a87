#include "emu_test.h"
void group_xent_soft() {}
