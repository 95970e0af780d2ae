#!/usr/bin/env bash
# Builds the Tortuga guest kernel and a busybox initramfs from Debian's
# linux-source-6.1 and the patch series in this folder.
#
#   guest-linux-patches/build.sh [OUTPUT_DIR]
#
# The extracted, patched and built tree is cached outside the repository,
# under $TORTUGA_CACHE (default /var/cache/tortuga), keyed by the hash of the
# series, the patches, the config fragment and frontend-drivers/, so that a
# rebuild with nothing changed is immediate and a changed series starts
# from a clean tree. Prints the paths of vmlinux and the initramfs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${1:-$repo/build/linux}
cache_root=${TORTUGA_CACHE:-/var/cache/tortuga}
jobs=${JOBS:-$(nproc)}

"$repo/scripts/install-deps.sh" linux

tarball=/usr/src/linux-source-6.1.tar.xz
[[ -f $tarball ]] || { echo "build.sh: $tarball is missing after installing linux-source-6.1" >&2; exit 1; }

# The patches, in series order (comments and blank lines skipped).
# (Each is `git format-patch` style; `patch -p1` applies it.)
mapfile -t patches < <(grep -v '^[[:space:]]*\(#\|$\)' "$here/series" || true)

key=$( {
  sha256sum "$tarball" | cut -d' ' -f1
  cat "$here/series" "$here/tortuga.config"
  for p in "${patches[@]}"; do cat "$here/patches/$p"; done
  find "$repo/hypercall-abi/include/tortuga" -type f -name '*.h' -print0 | sort -z | xargs -0 cat
  find "$repo/frontend-drivers" -type f -print0 | sort -z | xargs -0 -r cat
} | sha256sum | cut -c1-16)
tree=$cache_root/linux-$key
mkdir -p "$cache_root"

if [[ ! -f $tree/.tortuga-patched ]]; then
  echo "build.sh: extracting $tarball into $tree"
  # Trees of other series are 1.5 GB each and never used again.
  find "$cache_root" -maxdepth 1 -name 'linux-*' ! -name "linux-$key" -exec rm -rf {} +
  rm -rf "$tree" "$tree.tmp"
  mkdir -p "$tree.tmp"
  tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
  for p in "${patches[@]}"; do
    echo "build.sh: applying $p"
    if ! patch -d "$tree.tmp" -p1 --forward --batch --quiet < "$here/patches/$p"; then
      echo "build.sh: patch $p does not apply to linux-source-6.1 (see the rejects above)" >&2
      exit 1
    fi
  done
  # The ABI headers, one copy for the hypervisor and the kernel.
  mkdir -p "$tree.tmp/include/tortuga"
  cp -r "$repo/hypercall-abi/include/tortuga/." "$tree.tmp/include/tortuga/"
  # The frontend drivers, where frontend-drivers/kernel-paths puts them.
  while read -r src dst; do
    [[ -z $src || $src == \#* ]] && continue
    cp "$repo/frontend-drivers/$src" "$tree.tmp/$dst"
  done < "$repo/frontend-drivers/kernel-paths"
  touch "$tree.tmp/.tortuga-patched"
  mv "$tree.tmp" "$tree"
fi

echo "build.sh: configuring and building in $tree"
make -C "$tree" -s tinyconfig
"$tree/scripts/kconfig/merge_config.sh" -m -O "$tree" "$tree/.config" "$here/tortuga.config" >/dev/null
make -C "$tree" -s olddefconfig
make -C "$tree" -s -j"$jobs" vmlinux

# The initramfs (pack-initramfs.sh: busybox, /init and our static programs).
initramfs=$tree/tortuga-initramfs.cpio.gz
"$here/pack-initramfs.sh" "$initramfs"

mkdir -p "$out"
cp "$tree/vmlinux" "$out/vmlinux"
cp "$initramfs" "$out/initramfs.cpio.gz"
echo "vmlinux: $out/vmlinux"
echo "initramfs: $out/initramfs.cpio.gz"
