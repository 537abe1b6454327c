#!/usr/bin/env bash
# Install everything, then find, train, test and export a model for Fashion-MNIST
# in a 4-minute budget (`nasforge auto`: search with a SQLite study in runs/quickstart/,
# final training until the deadline, one test evaluation, PyTorch + ONNX export),
# then list the search's best trials and draw the chosen architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
set -x
rm -rf runs/quickstart
nasforge auto --dataset fashion-mnist --time-budget 240 --out runs/quickstart --seed 0
nasforge show --study runs/quickstart/study.db --limit 5
nasforge draw runs/quickstart/arch.json --out runs/quickstart/arch.png
