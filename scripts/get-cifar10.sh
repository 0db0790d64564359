#!/usr/bin/env bash
# Downloads the official CIFAR-10 binary archive, verifies its MD5 (as published on
# https://www.cs.toronto.edu/~kriz/cifar.html) and extracts it into DIR (default: data/).
# Needs a network; then train with: scripts/train.sh --data DIR/cifar-10-batches-bin
set -euo pipefail
dir="${1:-data}"
url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
md5="c32a1d4ab5d03f1284b67883e8d87530"
mkdir -p "$dir"
archive="$dir/cifar-10-binary.tar.gz"
if [[ ! -f "$archive" ]]; then
    echo "downloading $url"
    curl -fL --retry 3 -o "$archive.part" "$url"
    mv "$archive.part" "$archive"
fi
echo "$md5  $archive" | md5sum -c -
tar -xzf "$archive" -C "$dir"
echo "CIFAR-10 is in $dir/cifar-10-batches-bin"
