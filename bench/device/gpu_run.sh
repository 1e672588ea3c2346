#!/bin/bash
# On the lent GPU machine (from the repo root, .whl and .gpu carried): install the wheels,
# then bench/gpu.py, the real-GPU tests and the GPU agent served, scraped and measured.
set -x
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
echo "import sys; sys.path.insert(0, '/tmp/site')" > "$(python3 -c "import site; print(site.getsitepackages()[0])")/zz-carried.pth"; export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p /work/shared/reference/kubelet && cp .gpu/podresources-v1-api.proto /work/shared/reference/kubelet/
nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,power.draw --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
python3 bench/gpu.py --cycles 100 2>&1 | head -20 | tee $OUT/bench_gpu.txt
timeout 300 python3 -m pytest -p no:cacheprovider -s -q -o addopts="" tests/collectors/test_gpu_real.py tests/collectors/test_gpu.py -k "real" 2>&1 | tee $OUT/pytest_gpu.txt
