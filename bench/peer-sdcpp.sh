#!/usr/bin/env bash
# Panama Diffusion against stable-diffusion.cpp on the CPU, side by side (issue 14): builds sd.cpp from source in a
# scratch folder OUTSIDE the repository (never committed), makes one random-weight SD 1.5 in both layouts (a diffusers
# folder for pdiff, the same weights as one LDM .safetensors for sd.cpp, converted by diffusers' own script), then runs
# the two tools in alternating order, the same prompt, size, steps, sampler and thread count, and reports per run:
# load, text encoding, first step, later steps, VAE decode, end to end (wall clock, JVM start included) and peak RSS
# (GNU time's maximum resident set size). Ratios, not absolute times, are what to compare on a shared machine.
#
#   bash bench/peer-sdcpp.sh [--runs N] [--steps N] [--size PX] [--threads N] [--types "f32 q8_0"]
#                            [--pdiff-weights "f32 int8"] [--pdiff-opts "..."]
#
# --types: sd.cpp's weight types (f32 is the LDM file itself; others converted with sd-cli -M convert);
# --pdiff-weights: pdiff's --weights choices, run from the same diffusers folder (each packed at load).
#
# Environment: WORK (scratch folder, default /tmp/pd-peer), SDCPP_GIT / GGML_GIT (sources: a URL or a local git mirror;
#   defaults GitHub), SDCPP_REF (sd.cpp commit, default pinned below; ggml is checked out at the commit sd.cpp pins),
#   DIFFUSERS_GIT (diffusers' source for the conversion script, at v0.27.2), REFGEN_WORK (the Python environment of
#   tools/refgen: diffusers 0.27.2 / transformers 4.30.0 on Debian's python3-torch; default /tmp/refgen), PYTHON.
# Output: $WORK/results.tsv (one row per run) and a Markdown summary (medians) on standard output.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-/tmp/pd-peer}"
SDCPP_GIT="${SDCPP_GIT:-https://github.com/leejet/stable-diffusion.cpp}"
SDCPP_REF="${SDCPP_REF:-97d29908}"
GGML_GIT="${GGML_GIT:-https://github.com/ggml-org/ggml}"
DIFFUSERS_GIT="${DIFFUSERS_GIT:-https://github.com/huggingface/diffusers}"
REFGEN_WORK="${REFGEN_WORK:-/tmp/refgen}"
PYTHON="${PYTHON:-/usr/bin/python3}"
runs=3 steps=4 size=512 threads="$(nproc)" types="f32" pdiff_weights="f32" pdiff_opts=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --types) types="$2"; shift 2 ;;
    --pdiff-weights) pdiff_weights="$2"; shift 2 ;;
    --pdiff-opts) pdiff_opts="$2"; shift 2 ;;
    *) echo "peer-sdcpp: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$WORK" in "$root"|"$root"/*) echo "peer-sdcpp: WORK must be outside the repository" >&2; exit 2 ;; esac
[[ -x /usr/bin/time ]] || { echo "peer-sdcpp: needs GNU time (/usr/bin/time; apt-get install time)" >&2; exit 2; }
mkdir -p "$WORK/out"
log() { echo "peer-sdcpp: $*" >&2; }

# A partial mirror (one that lacks its largest blobs, as some offline caches do) cannot check out sd.cpp: write every
# file whose blob is there, and stand in for the missing tokenizer vocabularies of text encoders SD 1.x never loads
# (T5, UMT5, Gemma, Qwen, Mistral, GPT-OSS) with empty arrays, so that SD 1.5's code and its speed are unchanged. A
# missing file outside src/tokenizers/vocab/ that the build needs stops the build, as it should.
checkout_without_missing_blobs() {
  local dir="$1" ref="$2" mode type sha path missing="$1.missing.txt"
  log "$(basename "$dir"): the source lacks some blobs; checking out the rest (list: $missing)"
  : >"$missing"
  git -C "$dir" read-tree "$ref"
  git -C "$dir" ls-tree -r "$ref" | while read -r mode type sha path; do
    [[ "$type" == blob ]] || continue
    mkdir -p "$dir/$(dirname "$path")"
    if git -C "$dir" cat-file -e "$sha" 2>/dev/null; then git -C "$dir" cat-file blob "$sha" >"$dir/$path"
    else echo "$path" >>"$missing"; fi
  done
  local vocab="$dir/src/tokenizers/vocab" symbols first=""
  [[ -f "$vocab/vocab.cpp" ]] || return 0
  symbols="$(grep -o 'sizeof([a-z0-9_]*)' "$vocab/vocab.cpp" | sed 's/sizeof(\(.*\))/\1/' | sort -u)"
  while read -r path; do
    [[ "$path" == src/tokenizers/vocab/*.hpp ]] || continue
    if [[ -z "$first" ]]; then
      first="$path"
      for sym in $symbols; do
        grep -qs "$sym\[" "$vocab"/*.hpp || echo "static const unsigned char $sym[] = {0};"
      done >"$dir/$path"
    else
      : >"$dir/$path"
    fi
    log "stand-in for $path (a vocabulary SD 1.x does not use)"
  done <"$missing"
}

# 1. stable-diffusion.cpp, built for this CPU (GGML_NATIVE: AVX-512 where there is one)
sd="$WORK/sdcpp/build/bin/sd-cli"
if [[ ! -x "$sd" ]]; then
  log "building stable-diffusion.cpp $SDCPP_REF in $WORK/sdcpp"
  rm -rf "$WORK/sdcpp"
  git clone -q --no-checkout "$SDCPP_GIT" "$WORK/sdcpp"
  git -C "$WORK/sdcpp" checkout -q "$SDCPP_REF" 2>"$WORK/sdcpp-checkout.log" || true
  if grep -q "unable to read" "$WORK/sdcpp-checkout.log"; then checkout_without_missing_blobs "$WORK/sdcpp" "$SDCPP_REF"; fi
  ggml_ref="$(git -C "$WORK/sdcpp" ls-tree HEAD ggml | awk '{print $3}')"
  rm -rf "$WORK/sdcpp/ggml"
  git clone -q --no-checkout "$GGML_GIT" "$WORK/sdcpp/ggml"
  git -C "$WORK/sdcpp/ggml" checkout -q "$ggml_ref" 2>"$WORK/ggml-checkout.log" || true
  if grep -q "unable to read" "$WORK/ggml-checkout.log"; then checkout_without_missing_blobs "$WORK/sdcpp/ggml" "$ggml_ref"; fi
  cmake -S "$WORK/sdcpp" -B "$WORK/sdcpp/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DSD_BUILD_EXAMPLES=ON \
    -DSD_SERVER_BUILD_FRONTEND=OFF >"$WORK/sdcpp-cmake.log" 2>&1
  cmake --build "$WORK/sdcpp/build" --target sd-cli -j "$(nproc)" >"$WORK/sdcpp-build.log" 2>&1
fi

# 2. one random-weight SD 1.5, as a diffusers folder and as one LDM file
model="$WORK/sd15" single="$WORK/sd15.safetensors"
if [[ ! -f "$single" ]]; then
  log "making the random-weight SD 1.5 in $model and $single"
  PYTHONPATH="$REFGEN_WORK/pp" OPENBLAS_CORETYPE=Haswell "$PYTHON" "$root/bench/peer/make_sd15.py" --out "$model" \
    --tokenizer "$root/../shared/reference/tokenizer/hf_clip_tokenizer" >"$WORK/make_sd15.log" 2>&1
  if [[ -d "$DIFFUSERS_GIT" ]]; then
    git -C "$DIFFUSERS_GIT" show v0.27.2:scripts/convert_diffusers_to_original_stable_diffusion.py >"$WORK/convert.py"
  else
    rm -rf "$WORK/diffusers" && git clone -q --depth 1 --branch v0.27.2 "$DIFFUSERS_GIT" "$WORK/diffusers"
    cp "$WORK/diffusers/scripts/convert_diffusers_to_original_stable_diffusion.py" "$WORK/convert.py"
  fi
  PYTHONPATH="$REFGEN_WORK/pp" "$PYTHON" "$WORK/convert.py" --model_path "$model" --checkpoint_path "$single" \
    --use_safetensors >"$WORK/convert.log" 2>&1
fi
for t in $types; do
  if [[ "$t" != f32 && ! -f "$WORK/sd15-$t.gguf" ]]; then
    log "converting to $t with sd-cli -M convert"
    "$sd" -M convert -m "$single" -o "$WORK/sd15-$t.gguf" --type "$t" >"$WORK/convert-$t.log" 2>&1
  fi
done

# 3. alternating runs
prompt="a photograph of an astronaut riding a horse"
tsv="$WORK/results.tsv"
echo -e "tool\tweights\trun\tload_s\ttext_s\tfirst_step_s\tstep_s\tvae_s\ttotal_s\tpeak_rss_gb" >"$tsv"
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2" | tail -n 1; }
rss_gb() { awk -F': ' '/Maximum resident set size/ {printf "%.2f", $2 / 1048576}' "$1"; }
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s}' "$1"; }
run_pdiff() {
  local i="$1" w="$2" err="$WORK/out/pdiff-$2-$1.err"
  PDIFF_NO_BUILD=1 PDIFF_JAVA_OPTS="-XX:ActiveProcessorCount=$threads $pdiff_opts" /usr/bin/time -v "$root/pdiff" generate \
    --model "$model" --prompt "$prompt" --steps "$steps" --guidance 7 --scheduler Euler --seed 42 -W "$size" -H "$size" \
    --backend cpu --weights "$w" --timings --out "$WORK/out/pdiff-$w-$i.png" >/dev/null 2>"$err"
  local load begin first mean decode
  load="$(field load "$err")" begin="$(field begin "$err")" first="$(field first_step "$err")"
  mean="$(field step_mean "$err")" decode="$(field decode "$err")"
  echo -e "pdiff\t$w\t$i\t$load\t$begin\t$first\t${mean:-$first}\t$decode\t$(wall_s "$err")\t$(rss_gb "$err")" >>"$tsv"
}
# sd.cpp loads each model's weights lazily at its first use by default (at the pinned commit), inside the text, sampling
# and decode timers; --eager-load, where this sd-cli has it, loads them all before generating, as pdiff does, so that
# its load column is the load and its step and VAE columns are compute only (end to end is the same either way).
sd_eager=()
"$sd" --help 2>&1 | grep -q -- --eager-load && sd_eager=(--eager-load)
run_sdcpp() {
  local i="$1" t="$2" err="$WORK/out/sdcpp-$t-$i.err" m="$single"
  [[ "$t" != f32 ]] && m="$WORK/sd15-$t.gguf"
  /usr/bin/time -v "$sd" -m "$m" -p "$prompt" --steps "$steps" --cfg-scale 7 --sampling-method euler -s 42 \
    -W "$size" -H "$size" -t "$threads" --rng cpu "${sd_eager[@]}" -o "$WORK/out/sdcpp-$t-$i.png" >"$err.log" 2>"$err"
  cat "$err.log" >>"$err"
  local text sampling vae total load
  text="$(sed -n 's/.*get_learned_condition completed, taking \([0-9.]*\)s.*/\1/p' "$err" | tail -n 1)"
  sampling="$(sed -n 's/.*sampling completed, taking \([0-9.]*\)s.*/\1/p' "$err" | tail -n 1)"
  vae="$(sed -n 's/.*decode_first_stage completed, taking \([0-9.]*\)s.*/\1/p' "$err" | tail -n 1)"
  total="$(wall_s "$err")"
  load="$(awk -v t="$total" -v a="${text:-0}" -v b="${sampling:-0}" -v c="${vae:-0}" 'BEGIN {printf "%.1f", t - a - b - c}')"
  echo -e "sd.cpp\t$t\t$i\t$load\t$text\t-\t$(awk -v s="${sampling:-0}" -v n="$steps" 'BEGIN {printf "%.2f", s / n}')\t$vae\t$total\t$(rss_gb "$err")" >>"$tsv"
}
for i in $(seq 1 "$runs"); do
  if (( i % 2 == 1 )); then
    log "run $i: pdiff, then sd.cpp"; for w in $pdiff_weights; do run_pdiff "$i" "$w"; done; for t in $types; do run_sdcpp "$i" "$t"; done
  else
    log "run $i: sd.cpp, then pdiff"; for t in $types; do run_sdcpp "$i" "$t"; done; for w in $pdiff_weights; do run_pdiff "$i" "$w"; done
  fi
done

# 4. medians per tool and weights
echo "SD 1.5 (random weights), ${size}x${size}, CFG 7, $steps Euler steps, $threads threads, $runs alternating runs; $(date -u +%F), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "| tool | weights | load s | text s | first step s | step s | VAE s | end to end s | peak RSS GB |"
echo "|---|---|---|---|---|---|---|---|---|"
"$PYTHON" - "$tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for r in rows: groups.setdefault((r["tool"], r["weights"]), []).append(r)
def med(rs, k):
    v = [float(r[k]) for r in rs if r[k] not in ("", "-")]
    return f"{statistics.median(v):.2f}" if v else "-"
for (tool, w), rs in groups.items():
    cols = [med(rs, k) for k in ("load_s", "text_s", "first_step_s", "step_s", "vae_s", "total_s", "peak_rss_gb")]
    print(f"| {tool} | {w} | " + " | ".join(cols) + " |")
PY
