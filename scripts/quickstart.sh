#!/usr/bin/env bash
# Install everything, then run a real search end to end on Fashion-MNIST:
# search (SQLite study in runs/), show, retrain the best on train+val, test it, export to ONNX.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
set -x
nasforge search --space macro-cnn --dataset fashion-mnist --strategy evolution \
    --trials 10 --time-budget 120 --epochs 1 --subset 0.1 --study runs/quickstart.db --seed 0
nasforge show --study runs/quickstart.db --limit 5
nasforge train --study runs/quickstart.db --trial best --epochs 1 --out runs/quickstart-best
nasforge export --study runs/quickstart.db --trial best --format onnx --out runs/quickstart-best/model.onnx
