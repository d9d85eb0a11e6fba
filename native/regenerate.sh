#!/usr/bin/env bash
# Regenerates the committed Panama bindings under bindings/src/main/java/dev/panamadiffusion/bindings/
# ({cuda,cublaslt,cudnn}) from the umbrella headers and --include-* filters in this folder.
#
#   JEXTRACT="<jextract command>" native/regenerate.sh CUDA_INCLUDE [CUBLASLT_INCLUDE [CUDNN_INCLUDE]]
#
# JEXTRACT is the command that runs jextract (a launcher script, or "java ... -m org.openjdk.jextract/...").
# The committed code was made by jextract built from openjdk/jextract master at 360bdc9 (the last revision whose
# output targets JDK 22) against libclang 15, with the CUDA 13.0 cuda.h and the cuBLASLt 12.6 / cuDNN 9.6 headers.
# Newer jextract emits code that needs JDK 23+ (SymbolLookup.findOrThrow); libclang 16+ mis-translates cuda.h.
# CUBLASLT_INCLUDE and CUDNN_INCLUDE default to CUDA_INCLUDE. Only the packages whose header is found are rewritten.
# No library is named (-l): the generated classes resolve symbols in SymbolLookup.loaderLookup(), i.e. in the
# libraries dev.panamadiffusion.cuda.CudaLibraries has System.load-ed after locating them, so that loading a
# bindings class never fails on a machine without CUDA.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
: "${JEXTRACT:?set JEXTRACT to the jextract command}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../bindings/src/main/java"
cuda_inc=$1
lt_inc=${2:-$1}
dnn_inc=${3:-$1}

generate() { # package-dir header-class include-dirs...
  local name=$1 cls=$2; shift 2
  local pkg="dev.panamadiffusion.bindings.$name" dir="$out/dev/panamadiffusion/bindings/$name"
  local incs=()
  for i in "$@"; do incs+=(-I "$i"); done
  rm -rf "$dir"
  # shellcheck disable=SC2086  # JEXTRACT may be a command with arguments
  $JEXTRACT "${incs[@]}" -t "$pkg" --header-class-name "$cls" --output "$out" \
      @"$here/$name/includes.txt" "$here/$name/headers.h" 2> >(grep -v 'warning: Skipping' >&2)
  echo "generated $pkg: $(find "$dir" -name '*.java' | wc -l) files"
}

[ -f "$cuda_inc/cuda.h" ] || { echo "no cuda.h in $cuda_inc" >&2; exit 1; }
generate cuda cuda_h "$cuda_inc"
if [ -f "$lt_inc/cublasLt.h" ]; then generate cublaslt cublasLt_h "$lt_inc" "$cuda_inc"
else echo "no cublasLt.h in $lt_inc: bindings/cublaslt left as is" >&2; fi
if [ -f "$dnn_inc/cudnn.h" ]; then generate cudnn cudnn_h "$dnn_inc" "$cuda_inc"
else echo "no cudnn.h in $dnn_inc: bindings/cudnn left as is" >&2; fi
