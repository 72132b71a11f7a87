/* Shim of the CUDA runtime header for the host emulator (tests/emu/emu.h): searched before
 * any system include directory, so the kernel files compile with g++. */
#ifndef CNN_TESTS_EMU_CUDA_RUNTIME_H
#define CNN_TESTS_EMU_CUDA_RUNTIME_H
#include "../emu.h"
#endif
