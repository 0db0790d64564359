#!/usr/bin/env bash
# The main job on a fresh machine: install the system libraries, build the `tessera` command in
# release mode and train on CIFAR-10 (default data: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin).
#
#   scripts/train.sh                                   ResNet-20, 30 epochs, one-cycle SGD
#   scripts/train.sh --model resnet56 --epochs 50 --out runs/r56
#   scripts/train.sh --resume runs/r56                 continue an interrupted run
#   scripts/train.sh --fast                            the fast recipe (fastnet, 12 epochs, about 46 minutes on
#                                                      2 cores), then evaluation with flip + translate TTA
# Every option of `tessera train --help` is accepted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
swift build -c release --product tessera
if [[ "${1:-}" == "--fast" ]]; then
    # docs/RESULTS.md: the speed-run recipe (whitening stem, dirac init, batch 1024, triangle LR,
    # 64x batch-norm bias rate, label smoothing 0.2, alternating flip, 2-pixel translation).
    # Further options go to `tessera train`; --out and --data are also used for the evaluation.
    shift
    out=runs/fastnet
    data=()
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[$i]}" in
            --out) out="${args[$((i + 1))]:-$out}" ;;
            --out=*) out="${args[$i]#--out=}" ;;
            --data) data=(--data "${args[$((i + 1))]:-}") ;;
            --data=*) data=(--data "${args[$i]#--data=}") ;;
        esac
    done
    .build/release/tessera train --model fastnet --epochs 12 --batch-size 1024 --lr 1.3 --momentum 0.85 --nesterov \
        --weight-decay 1.53e-3 --schedule triangle --label-smoothing 0.2 --flip alternating --translate 2 \
        --norm-bias-lr-scale 64 --out "$out" "$@"
    exec .build/release/tessera eval --checkpoint "$out/last.safetensors" --tta-level 2 ${data[@]+"${data[@]}"}
fi
if [[ $# -eq 0 ]]; then set -- --model resnet20 --epochs 30 --out runs/resnet20; fi
exec .build/release/tessera train "$@"
