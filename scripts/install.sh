#!/usr/bin/env bash
# Install nasforge and everything its tests and demo need, on a fresh machine.
#  - Fashion-MNIST from the Debian package `dataset-fashion-mnist` when it is missing
#  - Chromium + chromedriver (Debian packages) for the dashboard's browser tests
#  - nasforge with all extras, PyTorch pinned to the CPU build (constraints.txt)
# Installs into the active Python environment (a virtualenv if one is active).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${NASFORGE_FASHION_MNIST_DIR:-}" ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
        echo "Installing Fashion-MNIST (Debian package dataset-fashion-mnist)…"
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "warning: Fashion-MNIST is missing and apt-get is not available;" \
             "set NASFORGE_FASHION_MNIST_DIR to a folder with its four IDX .gz files" >&2
    fi
fi

# The dashboard's browser tests drive headless Chromium (Debian packages; they install offline).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
        echo "Installing Chromium and its driver for the dashboard's browser tests…"
        $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null || \
            echo "warning: chromium could not be installed; the browser tests will be skipped" >&2
    fi
fi

echo "Installing nasforge with all extras (PyTorch pinned to the CPU build)…"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,dev]"
"$PYTHON" -c "import torch, nasforge; print(f'nasforge {nasforge.__version__} with torch {torch.__version__} is installed')"
