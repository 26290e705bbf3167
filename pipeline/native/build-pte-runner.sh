#!/bin/sh
# Build edgepipe-pte-runner against the C++ headers and shared libraries of an executorch wheel.
# Usage: build-pte-runner.sh COMPILER EXECUTORCH_DIR OUTPUT RPATH
# Used by both the qemu sysroot builder (cross-compiling) and the Dockerfile (natively on arm64).
set -eu
compiler=$1 executorch=$2 output=$3 rpath=$4
here=$(dirname "$0")

# The definitions are the ones that the wheel's share/cmake/executorch-config.cmake requires of consumers.
# The backend and kernel libraries only register themselves when loaded, so the linker must keep them.
exec "$compiler" -std=c++17 -O2 -w \
  -DC10_USING_CUSTOM_GENERATED_MACROS -DET_EVENT_TRACER_ENABLED -DET_USE_THREADPOOL \
  -I"$executorch/include" -I"$executorch/include/executorch/runtime/core/portable_type/c10" \
  "$here/pte_runner.cpp" -o "$output" \
  -L"$executorch/lib" -Wl,-rpath,"$rpath" -lexecutorch \
  -Wl,--no-as-needed -lexecutorch_backend_xnnpack -lexecutorch_kernels_optimized \
  -lexecutorch_kernels_quantized -lexecutorch_threadpool -Wl,--as-needed
