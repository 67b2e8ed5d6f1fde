#!/usr/bin/env bash
# Checks the nvml source against a real NVIDIA driver: run from anywhere on a machine with a GPU.
#   tests/gpu/check.sh            # publish, discover, compare with nvidia-smi, 60 s XID-free health run
# Environment: OUT (publish dir, default out), HEALTH_SECONDS (default 60), METRICS (default 127.0.0.1:9410),
#              NVML_LIBRARY (default: the daemon's, libnvidia-ml.so.1).
# Exit status: 0 when every GPU nvidia-smi lists was discovered with the same PCI address and minor number (and,
# for GPUs in MIG mode, every MIG device with its UUID and profile, advertised with migStrategy mixed) and none
# turned Unhealthy; 1 otherwise; 2 when this is not a GPU machine.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out}
HEALTH_SECONDS=${HEALTH_SECONDS:-60}
METRICS=${METRICS:-127.0.0.1:9410}

command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found: not a GPU machine" >&2; exit 2; }
dotnet publish src/DevicePlugin -c Release -o "$OUT" || { echo "FAIL: publish" >&2; exit 1; }

WORK=$(mktemp -d)
LOG="$WORK/daemon.log"
mkdir -p "$WORK/kubelet"
# The kubelet emulator: prints the registration and every device list, and admits one pod asking for one GPU.
"$OUT/device-plugin" kubelet-emulator --kubelet-dir "$WORK/kubelet" --create-dir --allocate 1 >"$WORK/kubelet.log" 2>&1 &
KPID=$!
for _ in $(seq 40); do [ -S "$WORK/kubelet/kubelet.sock" ] && break; sleep 0.25; done
ARGS=(--kubelet-dir "$WORK/kubelet" --metrics-address "$METRICS")
[ -n "${NVML_LIBRARY:-}" ] && ARGS+=(--nvml-library "$NVML_LIBRARY")
# A GPU in MIG mode: advertise its MIG devices too (migStrategy mixed: nvidia.com/mig-<profile>).
MIG=0
nvidia-smi --query-gpu=mig.mode.current --format=csv,noheader 2>/dev/null | grep -q Enabled && MIG=1
if [ "$MIG" -eq 1 ]; then
  printf 'resources:\n  - name: nvidia.com/gpu\n    source: nvml\n    migStrategy: mixed\n' >"$WORK/config.yaml"
  ARGS+=(--config "$WORK/config.yaml")
fi
"$OUT/device-plugin" "${ARGS[@]}" >"$LOG" 2>&1 &
PID=$!
cleanup() { kill -TERM "$PID" "$KPID" 2>/dev/null; wait "$PID" "$KPID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

fail=0
for _ in $(seq 60); do
  curl -sf "http://$METRICS/readyz" >/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "FAIL: the daemon exited"; cat "$LOG"; exit 1; }
  sleep 0.5
done

echo "== nvidia-smi"
nvidia-smi --query-gpu=uuid,pci.bus_id,memory.total,minor_number --format=csv
echo "== the daemon's discovery log"
grep -E "NVML .* started|GPU GPU-|MIG mode|MIG device|missing from this driver|CAP_SYS_ADMIN" "$LOG"
echo "== metrics"
curl -s "http://$METRICS/metrics" | grep '^device_plugin_'

echo "== what the kubelet emulator received (registration, lists, one Allocate)"
cat "$WORK/kubelet.log"
grep -q "^registered resource=nvidia.com/gpu " "$WORK/kubelet.log" || { echo "FAIL: nvidia.com/gpu did not register"; fail=1; }
if [ "$MIG" -eq 1 ]; then
  # Every GPU may be in MIG mode (nvidia.com/gpu then lists nothing): a MIG device's Allocate carries its capability nodes.
  grep -qE "^allocation .* resource=nvidia.com/(gpu .*envs=NVIDIA_VISIBLE_DEVICES=GPU-|mig-[^ ]* .*envs=NVIDIA_VISIBLE_DEVICES=MIG-.*/dev/nvidia-caps/nvidia-cap)" "$WORK/kubelet.log" \
    || { echo "FAIL: no Allocate answer with a GPU or MIG UUID"; fail=1; }
else
  grep -q "^allocation .* resource=nvidia.com/gpu .*envs=NVIDIA_VISIBLE_DEVICES=GPU-" "$WORK/kubelet.log" || { echo "FAIL: no Allocate answer with a GPU UUID"; fail=1; }
fi

echo "== comparison"
while IFS=', ' read -r uuid bus minor; do
  # nvidia-smi prints 00000000:3B:00.0; the plugin uses the sysfs form 0000:3b:00.0.
  pci=$(echo "${bus: -12}" | tr 'A-F' 'a-f')
  line=$(grep -F "GPU $uuid (" "$LOG" | head -1)
  if [ -z "$line" ]; then
    if grep -qF "GPU $uuid at" "$LOG"; then echo "ok   $uuid is in MIG mode and not advertised"; continue; fi
    echo "FAIL $uuid was not discovered"; fail=1
  elif [[ "$line" != *"pci $pci minor $minor "* ]]; then
    echo "FAIL $uuid: expected pci $pci minor $minor, the daemon logged: $line"; fail=1
  else
    echo "ok   $uuid pci $pci minor $minor"
  fi
done < <(nvidia-smi --query-gpu=uuid,pci.bus_id,minor_number --format=csv,noheader)

if [ "$MIG" -eq 1 ]; then
  echo "== MIG devices (nvidia-smi -L, then the daemon's view)"
  nvidia-smi -L
  # nvidia-smi -L prints "  MIG 3g.71gb      Device  0: (UUID: MIG-…)"; NVIDIA's +me/+gfx/-me suffixes are not derived.
  while read -r mig profile; do
    line=$(grep -F "MIG device $mig profile " "$LOG" | head -1)
    ours=$(echo "$line" | sed -n 's/.* profile \([^ ]*\) on GPU .*/\1/p')
    if [ -z "$line" ]; then
      echo "FAIL $mig ($profile) was not discovered"; fail=1
    elif [ "$ours" != "${profile%%[+-]*}" ]; then
      if grep -q CAP_SYS_ADMIN "$LOG"; then echo "note $mig: nvidia-smi says $profile, the daemon $ours (no CAP_SYS_ADMIN)";
      else echo "FAIL $mig: nvidia-smi says $profile, the daemon $ours"; fail=1; fi
    elif ! grep -q "^registered nvidia.com/mig-$ours" "$WORK/kubelet.log"; then
      echo "FAIL nvidia.com/mig-$ours did not register"; fail=1
    else
      echo "ok   $mig $ours, $(echo "$line" | sed -n 's/.*\(GPU instance [0-9]*, compute instance [0-9]*\).*/\1/p')"
    fi
  done < <(nvidia-smi -L | sed -n 's/.*MIG \([^ ]*\) *Device *[0-9]*: (UUID: \(MIG-[^)]*\)).*/\2 \1/p')
fi

echo "== health run: ${HEALTH_SECONDS}s"
sleep "$HEALTH_SECONDS"
kill -0 "$PID" 2>/dev/null || { echo "FAIL: the daemon exited during the health run"; fail=1; }
if grep -E "is now Unhealthy|every GPU is marked unhealthy|critical XID|double-bit ECC" "$LOG"; then
  echo "FAIL: a GPU turned unhealthy during an XID-free run"; fail=1
fi
curl -s "http://$METRICS/metrics" | grep -E '^device_plugin_device_health'

kill -TERM "$PID"
wait "$PID"; rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: exit status $rc after SIGTERM"; fail=1; }
[ "$fail" -eq 0 ] && echo "PASS" || { echo "== full daemon log"; cat "$LOG"; }
exit "$fail"
