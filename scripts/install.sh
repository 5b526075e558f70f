#!/bin/sh
# The one install path, shared by `python3.11 dev.py setup` (a checkout: -e '.[dev,bench]') and the
# Dockerfile (the image: '.'), so CI's `dev.py test` runs the same pinned steps the image builds with.
#
#   scripts/install.sh PYTHON PIP-TARGET...      e.g.  scripts/install.sh /opt/venv/bin/python .
#
# Every version comes from requirements.lock, which pins the CPU build of PyTorch (torch==2.13.0+cpu).
# Where pip does not already find that wheel, give PyTorch's CPU wheel index in PIP_EXTRA_INDEX_URL
# (the Dockerfile's build argument of that name does).
set -eu
cd "$(dirname "$0")/.."
python="$1"
shift
pip() { "$python" -m pip --disable-pip-version-check install -c requirements.lock "$@"; }
# torch first and alone: resolved together with sentence-transformers, pip may take the default
# CUDA build and gigabytes of GPU libraries with it.
pip torch==2.13.0
pip "$@"
