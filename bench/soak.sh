#!/usr/bin/env bash
# RSS of `pdiff serve` under repeated identical small requests (not a unit test): starts the server on the demo model
# (64x64, CPU), sends N requests one after another, and prints the server's resident set size (VmRSS) and the Java
# heap's committed size every STEP requests.
#   bench/soak.sh [N=1000] [STEP=100]          # PDIFF_JAVA_OPTS (e.g. -Xmx512m) is passed to the server
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-1000}"
step="${2:-100}"
port="${SOAK_PORT:-7871}"
jdk="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
body='{"prompt": "a red circle in the center", "steps": 2, "seed": 1, "width": 64, "height": 64}'

"$root/pdiff" serve --backend cpu --port "$port" --request-timeout 0 >/tmp/pd-soak-$port.log 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.5
done
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status"; }
heap() { "$jdk/bin/jcmd" "$pid" GC.heap_info 2>/dev/null | sed -n 's/.*committed \([0-9]*\)K.*/\1/p' | head -n 1 | awk '{print int($1 / 1024)}'; }
echo "requests rss_mib heap_committed_mib seconds"
start=$(date +%s)
echo "0 $(rss) $(heap) 0"
for i in $(seq 1 "$n"); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/sdapi/v1/txt2img")
  [[ "$code" == 200 ]] || { echo "request $i: HTTP $code" >&2; exit 1; }
  if (( i % step == 0 )); then echo "$i $(rss) $(heap) $(( $(date +%s) - start ))"; fi
done
kill -TERM "$pid"
wait "$pid" && echo "server exit code 0 after SIGTERM" || echo "server exit code $?"
trap - EXIT
