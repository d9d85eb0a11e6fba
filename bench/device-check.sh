#!/usr/bin/env bash
# The one prepared GPU check of the CUDA path (CUDA backend, CUDA-graph UNet steps, SD 1.5 UNet timings), for a
# session that has a device machine. bench/RESULTS.md ("CUDA (pending a GPU session)") explains every number.
#
# Here, in the checkout the session was started in (JDK 25, Maven and nvcc: the kernels fatbin is built by nvcc):
#     ../shared/device/pack.sh           # builds .device/: classes, jars, a JDK, the reference data
#     bash bench/device-check.sh --slim  # drops duplicate jars from .device/ and prints what will travel
# Then ONE call of the device tool:
#     run  command: bash bench/device-check.sh        carry: [".device"]        timeout_s: 600
# and give the machine back (give_back) unless rerunning at once. A rerun of some phases only:
#     PD_PHASES="profile jmh" bash bench/device-check.sh
#
# Phases, each under its own time limit so that one hang cannot eat the device budget (about 4-6 minutes in all
# when nothing hangs, at most 8 minutes):
#     env      nvidia-smi, library locations, the backend's probe                          (limit  30 s)
#     tests    every @Tag("gpu") JUnit test (.device/run-tests.sh --include-tag gpu)        (limit 150 s)
#     verify   pdiff verify <reference>/tiny --backend cuda                                 (limit  75 s)
#     profile  CudaUNetProfile: cold start, eager vs graph steps, per-op profile, ceilings  (limit 150 s)
#     jmh      CudaUNetStepBenchmark, eager and graph, short settings                       (limit  90 s; 160 s
#              when the profile left no checkpoint and each fork generates the random weights itself)
# Output under $OUT (at most 8 files come back): summary.txt, env.txt, tests.txt, verify.txt, profile.txt,
# jmh.txt, jmh.json. The summary is printed last, so the run's output tail holds it.
set -uo pipefail
cd "$(dirname "$0")/.."

budget=$((64 * 1024 * 1024))
if [ "${1:-}" = "--slim" ]; then
  [ -d .device ] || { echo "no .device/: run ../shared/device/pack.sh first" >&2; exit 2; }
  # the modules' own jars duplicate their classes folders (bench.sh needs only benchmarks.jar); the shade plugin's
  # original-benchmarks.jar is not used at all
  for m in .device/mod/*/; do
    name=$(basename "$m")
    [ -d "$m/classes" ] || continue
    find "$m" .device/lib -maxdepth 1 -name "panama-diffusion-$name-*.jar" -print -delete
  done
  find .device/mod -name 'original-*.jar' -print -delete
  [ -n "$(find .device/mod -name benchmarks.jar)" ] || echo "WARNING: no benchmarks.jar in .device/mod (build the bench module)"
  [ -n "$(find .device/mod -path '*kernels*' -name kernels.fatbin)" ] \
    || echo "WARNING: no kernels.fatbin in .device/mod: pack.sh ran without nvcc, the CUDA backend will not start"
  dev=$(du -sb .device | cut -f1)
  tree=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1) || echo 0)
  echo ".device: $((dev / 1048576)) MiB; working tree: $((tree / 1048576)) MiB; together $(((dev + tree) / 1048576)) of 64 MiB"
  [ $((dev + tree)) -lt $budget ] || { echo "over the 64 MiB the device tool carries" >&2; exit 1; }
  exit 0
fi

out=${OUT:-/tmp/pd-device-check}
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
phases=${PD_PHASES:-env tests verify profile jmh}
weights_dir=${PD_SD15_DIR:-/tmp/pd-sd15-random}

if [ -n "${PD_JAVA:-}" ]; then
  java=$PD_JAVA
else
  [ -x /tmp/pd-jdk/bin/java ] || tar -C /tmp -xJf .device/jdk.tar.xz || { echo "cannot unpack .device/jdk.tar.xz" | tee -a "$summary"; exit 2; }
  java=/tmp/pd-jdk/bin/java
fi
[ -e ../shared ] || ln -s "$PWD/.device/shared" ../shared
reference="$PWD/.device/shared/reference"
cp=$(find .device/mod -maxdepth 2 -type d -name classes | sort | tr '\n' ':')
cp="$cp$(find .device/lib -name '*.jar' ! -name 'junit-platform-console-standalone*' | sort | tr '\n' ':')"
jar=$(find .device/mod -name benchmarks.jar | head -1)
jvm="--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector"
export java cp jvm

wanted() { case " $phases " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# phase NAME LIMIT_S FILE COMMAND...: runs COMMAND under `timeout`, output to FILE, one line into the summary
phase() {
  local name=$1 limit=$2 file=$3
  shift 3
  if ! wanted "$name"; then
    printf '%-8s %-16s\n' "$name" "not run" >> "$summary"
    return 0
  fi
  echo "== $name (limit ${limit} s): $*" | tee "$file"
  local t0 rc verdict
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" >> "$file" 2>&1
  rc=$?
  case $rc in
    0) verdict=ok ;;
    124 | 137) verdict="TIMED OUT" ;;
    *) verdict="FAILED (rc $rc)" ;;
  esac
  printf '%-8s %-16s %4d s  %s\n' "$name" "$verdict" $(($(date +%s) - t0)) "$(basename "$file")" >> "$summary"
  echo "== $name: $verdict" | tee -a "$file"
}

env_report() {
  echo "--- nvidia-smi"
  nvidia-smi || echo "nvidia-smi failed or missing"
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
    --format=csv 2>/dev/null
  echo "--- libraries (ldconfig)"
  ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libcublasLt|libcudnn\.so' || echo "none in the ldconfig cache"
  echo "--- libraries (nvidia wheels, CUDA toolkit)"
  ls -d /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib /usr/local/cuda/lib64 2>/dev/null
  ls /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib/ 2>/dev/null | grep -E 'cublasLt|libcudnn\.so' | sort -u
  echo "--- nvcc"
  nvcc --version 2>/dev/null | tail -2 || echo "no nvcc on PATH"
  echo "--- java"
  "$java" -version 2>&1
  echo "--- .device"
  du -sh .device; du -sh .device/* .device/mod/* 2>/dev/null
  find .device/mod -name kernels.fatbin -exec ls -l {} \;
  echo "--- the CUDA backend's probe (CudaInfo)"
  # shellcheck disable=SC2086
  "$java" $jvm -cp "$cp" dev.panamadiffusion.bench.CudaInfo
}
export -f env_report

{
  echo "device-check $(date -u +%FT%TZ) on $(hostname); phases: $phases"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
} >> "$summary"

phase env 30 "$out/env.txt" bash -c env_report
phase tests 150 "$out/tests.txt" env JAVA_TOOL_OPTIONS="-Dpd.reference=$reference" \
  bash .device/run-tests.sh --include-tag gpu
# shellcheck disable=SC2086
phase verify 75 "$out/verify.txt" "$java" $jvm -Xmx8g -cp "$cp" dev.panamadiffusion.cli.Main \
  verify "$reference/tiny" --backend cuda
# shellcheck disable=SC2086
phase profile 150 "$out/profile.txt" "$java" $jvm -Xmx24g -cp "$jar" dev.panamadiffusion.bench.CudaUNetProfile \
  "$weights_dir" 30 5
# the profile wrote the checkpoint; without it the benchmark generates the weights itself (slower)
jmh_limit=90
if [ -f "$weights_dir/unet/diffusion_pytorch_model.fp16.safetensors" ]; then weights="$weights_dir/unet"; else weights=random jmh_limit=160; fi
# JMH exits 0 when a benchmark fails: a "<failure>" in its output fails the phase
jmh_run() {
  bash .device/bench.sh "$@"
  local rc=$?
  if grep -q '<failure>' "$out/jmh.txt"; then return 1; fi
  return $rc
}
export -f jmh_run
export out
phase jmh "$jmh_limit" "$out/jmh.txt" bash -c 'jmh_run "$@"' jmh CudaUNetStepBenchmark -f 1 -wi 1 -w 2s -i 3 -r 3s \
  -p weights="$weights" -rf json -rff "$out/jmh.json"

{
  echo
  echo "--- tests"
  grep -E 'tests (successful|failed|skipped|aborted|found)|containers failed|MethodSource|=> ' "$out/tests.txt" 2>/dev/null | head -40
  grep -E '^\[gpu\]' "$out/tests.txt" 2>/dev/null | head -20
  if grep -qE '^\[ +[1-9][0-9]* (tests|containers) aborted' "$out/tests.txt" 2>/dev/null; then
    echo "NOTE: GPU tests were aborted (skipped by their assumptions): the CUDA backend did not start here, see env.txt"
  fi
  echo "--- verify"
  grep -E 'FAIL|passed, |^error' "$out/verify.txt" 2>/dev/null | tail -15
  echo "--- profile"
  grep -E '^(CudaUNetProfile|device|checkpoint|cold start|eager|graph|ceilings|memory):' "$out/profile.txt" 2>/dev/null
  sed -n '/^SUMMARY$/,$p' "$out/profile.txt" 2>/dev/null
  grep -E 'Exception|Error' "$out/profile.txt" 2>/dev/null | head -5
  echo "--- jmh"
  grep -E '^\[cuda\]|needs an NVIDIA GPU' "$out/jmh.txt" 2>/dev/null | tail -10
  sed -n '/^Benchmark /,$p' "$out/jmh.txt" 2>/dev/null
} >> "$summary"
echo
cat "$summary"
