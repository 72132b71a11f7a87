# Build-time copy of a CUDA kernel file for the host emulator (tests/emu/emu.h):
#   cmake -DIN=src/backend/cuda/cuda_x.cu -DOUT=build/.../cuda_x.emu.cpp -P emu_rewrite.cmake
# Every launch `kernel<targs><<<grid, block, shmem, stream>>>(args)` becomes
# `::emu::launch(kernel<targs>, grid, block, shmem, stream)(args)`; nothing else changes (a
# #line directive keeps diagnostics and sanitizer reports on the real file's lines). The
# kernel is an identifier with at most one level of template arguments, the configuration
# has no '>' and the launch sits on one line: a launch of another shape is left behind, and
# the check below then fails the build with the line to look at.
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "emu_rewrite.cmake: pass -DIN=<file.cu> -DOUT=<copy.cpp>")
endif()
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z0-9_]*(<[^<>();]*>)?)<<<([^<>]*)>>>\\("
       "::emu::launch(\\1, \\3)(" out "${src}")
string(FIND "${out}" "<<<" left)
if(NOT left EQUAL -1)
  string(SUBSTRING "${out}" ${left} 80 bad)
  message(FATAL_ERROR "emu_rewrite.cmake: ${IN}: a launch the rewrite does not understand "
          "near: ${bad}")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${out}")
# Only a changed copy touches OUT, so an unchanged .cu does not recompile.
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
