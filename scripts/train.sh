#!/usr/bin/env bash
# The main job on a fresh machine: install the system libraries, build the `tessera` command in
# release mode and train on CIFAR-10 (default data: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin).
#
#   scripts/train.sh                       ResNet-20, 30 epochs, one-cycle SGD
#   scripts/train.sh --model resnet56 --epochs 50 --out runs/r56
#   scripts/train.sh --resume runs/r56     continue an interrupted run
#   scripts/train.sh --fast                the fast recipe for 94% (fastnet, 10 epochs), then evaluation with
#                                          flip + translate TTA (docs/RESULTS.md has the figures and times)
#   scripts/train.sh --fast95              the same recipe on the wider fastnet95, 15 epochs (for 95%)
#   scripts/train.sh --fast96              residual fastnet96, 40 epochs, cutout 12, translate 4 (for 96%)
# Every option of `tessera train --help` is accepted (after the recipe's name, they override it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
swift build -c release --product tessera

# The speed-run recipes (docs/RESULTS.md): whitening stem initialized from 5,000 images, its bias
# trained 3 epochs, dirac-initialized convolutions, batch 1024, the triangle schedule (lr/5 up to lr
# over the first fifth, then down to 0), Nesterov SGD with momentum 0.85, batch-norm biases at 64x the
# rate, label smoothing 0.2, alternating flip, 2-pixel translation, airbench's lookahead, then
# flip + translate test-time augmentation. --out and --data are also used for the evaluation.
recipe() {
    local model="$1" epochs="$2" default_out="$3"
    shift 3
    local out="$default_out" data=() args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[$i]}" in
            --out) out="${args[$((i + 1))]:-$out}" ;;
            --out=*) out="${args[$i]#--out=}" ;;
            --data) data=(--data "${args[$((i + 1))]:-}") ;;
            --data=*) data=(--data "${args[$i]#--data=}") ;;
        esac
    done
    .build/release/tessera train --model "$model" --epochs "$epochs" --batch-size 1024 --lr 1.3 --momentum 0.85 --nesterov \
        --weight-decay 1.53e-3 --schedule triangle --label-smoothing 0.2 --flip alternating --translate 2 \
        --norm-bias-lr-scale 64 --whitening-bias-epochs 3 --average lookahead --out "$out" "$@"
    exec .build/release/tessera eval --checkpoint "$out/last.safetensors" --tta-level 2 ${data[@]+"${data[@]}"}
}

case "${1:-}" in
    --fast) shift; recipe fastnet 10 runs/fastnet "$@" ;;
    --fast95) shift; recipe fastnet95 15 runs/fastnet95 "$@" ;;
    --fast96) shift; recipe fastnet96 40 runs/fastnet96 --translate 4 --cutout 12 --lr 1.17 --weight-decay 1.33e-3 "$@" ;;
esac
if [[ $# -eq 0 ]]; then set -- --model resnet20 --epochs 30 --out runs/resnet20; fi
exec .build/release/tessera train "$@"
