#!/usr/bin/env bash
# The main job on a fresh machine: install the system libraries, build the `tessera` command in
# release mode and train on CIFAR-10 (default data: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin).
#
#   scripts/train.sh                                   ResNet-20, 30 epochs, one-cycle SGD
#   scripts/train.sh --model resnet56 --epochs 50 --out runs/r56
#   scripts/train.sh --resume runs/r56                 continue an interrupted run
# Every option of `tessera train --help` is accepted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
swift build -c release --product tessera
if [[ $# -eq 0 ]]; then set -- --model resnet20 --epochs 30 --out runs/resnet20; fi
exec .build/release/tessera train "$@"
