#!/usr/bin/env bash
# Packs the guest initramfs: static busybox, our /init, the end-to-end check
# and the small static programs in initramfs/*.c. build.sh calls it after the
# kernel; on its own it repacks the initramfs without touching the kernel:
#
#   guest-linux-patches/pack-initramfs.sh OUTPUT.cpio.gz
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: pack-initramfs.sh OUTPUT.cpio.gz}
[[ -x /bin/busybox ]] || { echo "pack-initramfs.sh: /bin/busybox is missing (scripts/install-deps.sh linux)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 755 "$here/initramfs/init" "$root/init"
install -m 755 "$here/initramfs/tortuga-test.sh" "$root/tortuga-test.sh"
for src in "$here"/initramfs/*.c; do
  gcc -O2 -Wall -Werror -static -o "$root/bin/$(basename "$src" .c)" "$src"
done
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out_abs"
