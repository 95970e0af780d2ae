#!/bin/sh
# Runs every libFuzzer binary of a TORTUGA_FUZZ=ON build for SECONDS each,
# on a scratch copy of its seed corpus (the committed seeds stay as they
# are). Crashes are written to BUILD_DIR/fuzz-artifacts/.
#
#   tests/fuzz/run-fuzzers.sh BUILD_DIR SECONDS
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
targets="kernel_image_fuzz privileged_instruction_fuzz guest_address_space_fuzz pv_mmu_fuzz control_api_fuzz block_request_fuzz net_packet_fuzz store_ring_fuzz image_reader_fuzz"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"

status=0
for t in $targets; do
    bin="$build/tests/fuzz/$t"
    [ -x "$bin" ] || bin="$build/fuzz/$t"
    if [ ! -x "$bin" ]; then
        echo "$t: no fuzzer binary in $build (configure with CC=clang CXX=clang++ -DTORTUGA_FUZZ=ON)" >&2
        exit 2
    fi
    mkdir -p "$work/$t"
    cp "$here/corpus/$t"/* "$work/$t"/
    echo "== $t: $seconds s"
    if ! "$bin" -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
            -artifact_prefix="$artifacts/$t-" "$work/$t"; then
        echo "$t: FAILED, see $artifacts" >&2
        status=1
    fi
done
exit $status
