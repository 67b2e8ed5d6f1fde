#!/usr/bin/env bash
# Whole-process benchmark of the published native executable:
#   - start-to-registration: from exec of device-plugin to the kubelet emulator accepting its Register
#     (the emulator has dialled back, called GetDevicePluginOptions and opened ListAndWatch by then);
#   - idle RSS after registration (without and with the metrics endpoint), and the executable's size.
# Usage: tests/bench/process-bench.sh [RUNS]     (OUT=dir to reuse a publish; default: publish to out/)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-20}
OUT=${OUT:-out}
[ -x "$OUT/device-plugin" ] || dotnet publish src/DevicePlugin -c Release -o "$OUT" >/dev/null
BIN="$OUT/device-plugin"

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
cat >"$WORK/config.yaml" <<'YAML'
resources:
  - name: example.com/gpu
    source: simulated
    devices: [{id: g0, numa: 0}, {id: g1, numa: 0}, {id: g2, numa: 1}, {id: g3, numa: 1}]
YAML

"$BIN" kubelet-emulator --kubelet-dir "$WORK/k" --create-dir >"$WORK/kubelet.log" 2>&1 &
for _ in $(seq 200); do [ -S "$WORK/k/kubelet.sock" ] && break; sleep 0.01; done

ms=()
for i in $(seq "$RUNS"); do
  before=$(grep -c '^registered' "$WORK/kubelet.log" || true)
  start=$(date +%s%N)
  "$BIN" --kubelet-dir "$WORK/k" --config "$WORK/config.yaml" --metrics-address= 2>"$WORK/daemon.log" &
  pid=$!
  while [ "$(grep -c '^registered' "$WORK/kubelet.log" || true)" -le "$before" ]; do sleep 0.001; done
  end=$(date +%s%N)
  ms+=($(( (end - start) / 1000000 )))
  if [ "$i" -eq "$RUNS" ]; then
    sleep 5
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  fi
  kill -TERM "$pid"; wait "$pid"
done

# Idle RSS once more with the metrics endpoint on (its default is on).
"$BIN" --kubelet-dir "$WORK/k" --config "$WORK/config.yaml" --metrics-address=127.0.0.1:0 2>"$WORK/daemon.log" &
pid=$!
sleep 5
rss_metrics=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid"

sorted=($(printf '%s\n' "${ms[@]}" | sort -n))
n=${#sorted[@]}
echo "runs: $n"
echo "start-to-registration ms: min ${sorted[0]}  median ${sorted[$((n / 2))]}  max ${sorted[$((n - 1))]}"
echo "idle RSS after registration: $((rss / 1024)) MiB ($rss KiB) without metrics, $((rss_metrics / 1024)) MiB ($rss_metrics KiB) with /metrics on"
echo "executable: $(du -h "$BIN" | cut -f1)"
