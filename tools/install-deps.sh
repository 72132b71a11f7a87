#!/bin/sh
# Installs the Debian packages cnn-dist needs, only those missing.
#   tools/install-deps.sh           build + test dependencies
#   tools/install-deps.sh --peer    also PyTorch/numpy/h5py (fixtures and benchmark peers)
# Runs apt-get as root (or through sudo). Safe to run again: it does nothing when all is there.
set -eu

pkgs="build-essential cmake pkg-config libyaml-dev libdnnl-dev libopenmpi-dev openmpi-bin
      libhdf5-dev hdf5-tools libjpeg62-turbo-dev libpng-dev zlib1g-dev
      dataset-fashion-mnist libcairo2-dev fonts-dejavu-core
      python3 protobuf-compiler python3-protobuf"
# The e2e SLURM test (tests/e2e/slurm_train.sh) starts its own munged, slurmctld and slurmd
# with their files in the build folder; on a machine with systemd the packages also enable
# their services.
pkgs="$pkgs slurm-wlm munge"
if [ "${1:-}" = "--peer" ]; then
    pkgs="$pkgs python3-torch python3-torchvision python3-numpy python3-h5py python3-pil"
elif [ -n "${1:-}" ]; then
    echo "usage: $0 [--peer]" >&2
    exit 2
fi

missing=""
for p in $pkgs; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: need root (or sudo) to install:$missing" >&2
    exit 1
fi
$SUDO apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
