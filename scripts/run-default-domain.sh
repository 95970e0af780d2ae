#!/usr/bin/env bash
# `make run`: boots the default domain (the test guest, 32 MiB, one vCPU)
# the way an operator would, through tortugad and tortuga: start a daemon
# in a temporary state directory, create the domain with its console
# attached, wait for the guest to end, show how it ended and its counters,
# then stop the daemon and remove the directory.
#
#   scripts/run-default-domain.sh BUILD_DIR
set -euo pipefail

build=${1:-build}
which=${2:-linux}
tortugad="$build/toolstack/tortugad"
tortuga="$build/toolstack/tortuga"
build_abs="$(cd "$build" && pwd)"
case "$which" in
  linux)  # the patched Linux 6.1 and its busybox initramfs (make linux)
    kernel="$build_abs/linux/vmlinux" initramfs="$build_abs/linux/initramfs.cpio.gz"
    cmdline="console=hvc0" memory=128 ;;
  test-guest)
    kernel="$build_abs/tests/guest/tortuga-test-guest" initramfs="" cmdline="" memory=32 ;;
  *) echo "run-default-domain.sh: the default domain is 'linux' or 'test-guest', not '$which'" >&2; exit 1 ;;
esac
[[ -f "$kernel" ]] || { echo "run-default-domain.sh: $kernel is missing (make linux?)" >&2; exit 1; }

state=$(mktemp -d /tmp/tortuga-run-XXXXXX)
export TORTUGA_SOCKET="$state/tortugad.sock"
daemon_pid=""
cleanup() {
  local status=$?
  if [[ -n "$daemon_pid" ]]; then
    "$tortuga" destroy default >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -f "$state/tortugad.log" ]]; then
    echo "== tortugad's log" >&2
    cat "$state/tortugad.log" >&2
  fi
  rm -rf "$state"
}
trap cleanup EXIT INT TERM

# A daemon of its own for this one domain; it takes no live migrations.
"$tortugad" --state-dir "$state" --socket "$TORTUGA_SOCKET" --migrate-listen=off --vmm "$build/hypervisor/tortuga-vmm" \
  2>"$state/tortugad.log" &
daemon_pid=$!
for _ in $(seq 100); do
  "$tortuga" list >/dev/null 2>&1 && break
  sleep 0.05
done

{
  echo "{"
  echo "  \"name\": \"default\","
  echo "  \"kernel\": \"$kernel\","
  [[ -n "$initramfs" ]] && echo "  \"initramfs\": \"$initramfs\","
  [[ -n "$cmdline" ]] && echo "  \"cmdline\": \"$cmdline\","
  echo "  \"memory_mib\": $memory,"
  echo "  \"vcpus\": 1,"
  echo "  \"on_crash\": \"preserve\""
  echo "}"
} >"$state/default.json"
cat "$state/default.json"

echo "== tortuga create -c $state/default.json"
"$tortuga" create --console "$state/default.json"
echo "== tortuga list"
"$tortuga" list
echo "== tortuga info default"
"$tortuga" info default
echo "== tortuga stats default"
"$tortuga" stats default

# The exit status says how the guest ended, as tortuga-vmm's would.
status=$("$tortuga" info default --json | sed -n 's/.*"exit_code": \(-\?[0-9]*\).*/\1/p')
state_word=$("$tortuga" info default --json | sed -n 's/.*"state": "\([A-Z]*\)".*/\1/p')
echo "== domain 'default' is ${state_word,,} (exit status $status)"
[[ "$state_word" == "SHUTOFF" && "$status" == "0" ]]
