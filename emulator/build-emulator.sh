#!/usr/bin/env bash
# Builds the CUDA emulator (libpdemu.so) with cmake and copies it to OUT_DIR (a jar resource of this module, found by
# dev.panamadiffusion.cuda.CudaDriver), or runs its own tests.
#
#   emulator/build-emulator.sh build OUT_DIR     (Maven, generate-resources)
#   emulator/build-emulator.sh test              (Maven, test; skipped with -DskipTests)
#
# The build folder is emulator/target/cmake; cmake rebuilds only what changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build="$here/target/cmake"
jobs=${PD_EMULATOR_JOBS:-$(nproc 2>/dev/null || echo 2)}
case "${1:?usage: build-emulator.sh build OUT_DIR | test}" in
  build)
    out=${2:?usage: build-emulator.sh build OUT_DIR}
    for tool in cmake g++; do
      command -v "$tool" >/dev/null || { echo "build-emulator.sh: $tool not found (apt-get install cmake g++)" >&2; exit 1; }
    done
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j "$jobs"
    mkdir -p "$out"
    cp "$build/libpdemu.so" "$out/libpdemu.so"
    ;;
  test)
    if [ ! -f "$build/CTestTestfile.cmake" ]; then
      echo "[WARNING] build-emulator.sh: the emulator was not built (-Dpd.emulator.skip=true): its tests do not run" >&2
      exit 0
    fi
    ctest --test-dir "$build" --output-on-failure -j "$jobs"
    ;;
  *) echo "usage: build-emulator.sh build OUT_DIR | test" >&2; exit 2 ;;
esac
