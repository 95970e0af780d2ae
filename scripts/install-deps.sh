#!/usr/bin/env bash
# Installs the Debian 12 packages Tortuga needs to build and test.
# Does nothing when they are all present, so `make` can call it every time.
#   scripts/install-deps.sh          what `make`, `make run` and `make test` need
#   scripts/install-deps.sh fuzz     also clang and libFuzzer, for `make fuzz`
#   scripts/install-deps.sh linux    also what guest-linux-patches/build.sh needs
#   scripts/install-deps.sh porting-cost  also what `make porting-cost` needs (the Linux
#                                    source, patch and gnuplot for its chart)
set -euo pipefail

packages=(
  build-essential cmake make g++ gcc binutils
  libgtest-dev libgmock-dev googletest
  libspdlog-dev libfmt-dev libcli11-dev libboost-dev
  libprotobuf-dev protobuf-compiler
  iproute2 liburing-dev
)
if [[ "${1:-}" == "fuzz" ]]; then
  packages+=(clang libclang-rt-14-dev)
fi
if [[ "${1:-}" == "linux" ]]; then
  packages+=(linux-source-6.1 bc bison flex libelf-dev libssl-dev xz-utils cpio busybox-static patch)
fi
if [[ "${1:-}" == "porting-cost" ]]; then
  packages+=(linux-source-6.1 xz-utils patch diffutils gnuplot-nox)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
