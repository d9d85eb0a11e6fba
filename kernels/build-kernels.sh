#!/usr/bin/env bash
# Compiles kernels/src/*.cu into one fatbin, kernels.fatbin in OUT_DIR (a jar resource of this module, loaded by
# dev.panamadiffusion.cuda.CudaModule with cuModuleLoadData): machine code for sm_80, sm_86, sm_89 and sm_90a
# plus compute_90 PTX, which the driver compiles for newer GPUs and the CUDA emulator (emulator/) interprets. The fatbin
# is not compressed (-compress-mode=none), so that the emulator can read its PTX without a zstd library.
#
#   kernels/build-kernels.sh OUT_DIR        (run by Maven in generate-resources; NVCC=... picks the compiler)
#
# Without nvcc it warns and exits 0: the jar then has no fatbin, and the CUDA backend says so when it starts.
# The fatbin is rebuilt only when a source is newer than it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-kernels.sh OUT_DIR}
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
fatbin="$out/kernels.fatbin"
if [ ! -x "$nvcc" ]; then
  echo "[WARNING] build-kernels.sh: nvcc not found (set NVCC or put CUDA's bin on PATH): the kernels jar has no" \
       "fatbin and the CUDA backend will not start" >&2
  rm -f "$fatbin"
  exit 0
fi
mkdir -p "$out"
sources=("$here"/src/*.cu "$here"/src/*.cuh)
if [ -f "$fatbin" ]; then
  stale=0
  for s in "${sources[@]}" "$0"; do [ "$s" -nt "$fatbin" ] && stale=1; done
  [ $stale = 0 ] && { echo "kernels.fatbin is up to date"; exit 0; }
fi
# One translation unit, so that one module (one cuModuleLoadData) holds every kernel.
unity=$(mktemp -d)/kernels.cu
trap 'rm -rf "$(dirname "$unity")"' EXIT
for s in "$here"/src/*.cu; do echo "#include \"$(basename "$s")\""; done > "$unity"
"$nvcc" -fatbin -O3 -std=c++17 -I "$here/src" --threads "${PD_NVCC_THREADS:-2}" \
  -compress-mode=none \
  -gencode=arch=compute_80,code=sm_80 \
  -gencode=arch=compute_86,code=sm_86 \
  -gencode=arch=compute_89,code=sm_89 \
  -gencode=arch=compute_90a,code=sm_90a \
  -gencode=arch=compute_90,code=compute_90 \
  -o "$fatbin.tmp" "$unity"
mv "$fatbin.tmp" "$fatbin"
echo "built $fatbin ($(stat -c %s "$fatbin") bytes) with $("$nvcc" --version | tail -1)"
