#!/bin/bash
# Here (no GPU): the wheels a lent GPU machine (Python 3.12, no registry) needs to run the
# GPU collector, the agent and tests/collectors/test_gpu_real.py; they go to .whl/ (ignore
# it in .git/info/exclude), the upstream kubelet proto to .gpu/. Then carry both and run
# `bash bench/device/gpu_run.sh` there (see docs/gpu.md, "On a real GPU").
set -e
cd "$(dirname "$0")/../.."
mkdir -p .whl .gpu
cp ../shared/reference/kubelet/podresources-v1-api.proto .gpu/
v() { .venv/bin/pip show "$1" 2>/dev/null | awk '/^Version/{print $2}'; }
pkgs=""
for p in pydantic pydantic_core annotated-types typing-inspection typing_extensions asyncpg \
         redis hiredis httptools cryptography cffi pycparser starlette pytest-asyncio bcrypt \
         grpcio grpcio-tools protobuf nvidia-ml-py prometheus-client; do
  pkgs="$pkgs $p==$(v $p)"
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d .whl $pkgs
du -sh .whl
