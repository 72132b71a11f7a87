#!/bin/sh
# The test command of the README and of CI: installs what is missing, builds with warnings
# as errors, runs every test, then runs the unit and mpi tests again under ASan+UBSan.
# GPU tests exit 77 (skipped) without a GPU. Usage: tools/test.sh [--no-asan]
set -eu
case "${1:-}" in
'' | --no-asan) [ $# -le 1 ] || { echo "usage: tools/test.sh [--no-asan]" >&2; exit 2; } ;;
-h | --help) echo "usage: tools/test.sh [--no-asan]"; exit 0 ;;
*) echo "tools/test.sh: unknown argument '$1'; usage: tools/test.sh [--no-asan]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
tools/install-deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCNN_WERROR=ON
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${1:-}" != "--no-asan" ]; then
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan -DCNN_WERROR=ON -DCNN_TEST_TIMEOUT_MULT=4
    cmake --build build-asan -j"$jobs"
    (cd build-asan && ctest --output-on-failure -j"$jobs" -L 'unit|mpi')
fi
echo "tools/test.sh: all tests passed"
