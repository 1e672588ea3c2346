"""`exporter serve` with the NVML double in place of libnvidia-ml (no GPU here).

    python tests/support/gpu_agent.py STATE.json serve --config agent.yaml

STATE.json holds the node's GPUs as FakeGpu fields ({"gpus": [{"uuid": ..., ...}]}) and
`"hang": true|false`; the file is re-read every 0.1 s, so a test changes utilisation or hangs
the driver (every utilisation read blocks) by rewriting it. Everything past the NVML
boundary is the real exporter: CLI, config, runtime, kubelet client, /metrics.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from exporter.cli import main  # noqa: E402
from tests.support.nvml_fake import FakeGpu, FakeNvml  # noqa: E402

HUNG_CALL = "nvmlDeviceGetUtilizationRates"


class _Patch:
    """The one monkeypatch method FakeNvml.install uses, for a whole process."""

    @staticmethod
    def setattr(target: object, name: str, value: object) -> None:
        setattr(target, name, value)


def follow(path: Path, fake: FakeNvml) -> None:
    hung = threading.Event()  # never set: a hung driver call
    while True:
        time.sleep(0.1)
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being rewritten
        for gpu, wanted in zip(fake.gpus, state["gpus"], strict=False):
            gpu.utilization_percent = wanted.get("utilization_percent", 0)
            if state.get("hang"):
                gpu.blocks[HUNG_CALL] = hung


if __name__ == "__main__":
    state_path = Path(sys.argv[1])
    gpus = json.loads(state_path.read_text())["gpus"]
    nvml = FakeNvml([FakeGpu(**g) for g in gpus]).install(_Patch())
    threading.Thread(target=follow, args=(state_path, nvml), daemon=True).start()
    sys.exit(main(sys.argv[2:]))
