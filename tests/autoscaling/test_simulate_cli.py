"""`python -m exporter simulate` end to end, in a subprocess: replicas.csv, the PNGs, the
summary, and exit status 2 with one line naming the row and column of a bad trace."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from tests.support.servers import REPO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "simulate", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def write(tmp_path, text: str, name: str = "trace.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


TRACE = """seconds,component_class,metric,value
0,gpu,queue_depth,0
30,gpu,queue_depth,40
0,cpu,queue_depth,5
0,cpu,cpu,50
0,memory,queue_depth,0
0,memory,memory,10
120,gpu,queue_depth,0
"""


def test_simulate_writes_csv_plots_and_summary(tmp_path):
    out = tmp_path / "out"
    r = simulate("--trace", write(tmp_path, TRACE), "--out", str(out))
    assert r.returncode == 0, r.stderr
    with open(out / "replicas.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["seconds", "component_class", "desired_replicas", "reason"]
    body = rows[1:]
    # syncs at 0, 15, ..., 120 for each of the three classes, in config order
    assert [r[0] for r in body[:3]] == ["0", "0", "0"]
    assert [r[1] for r in body[:3]] == ["cpu", "gpu", "memory"]
    assert len(body) == 9 * 3
    gpu = [(int(r[0]), int(r[2]), r[3]) for r in body if r[1] == "gpu"]
    assert gpu[2] == (30, 5, "ScaleUpLimit")  # 1 -> 5: the Pods 4 / 30 s policy
    assert gpu[4] == (60, 8, "TooManyReplicas")
    assert all(n == 8 for _, n, _ in gpu[4:])  # no scale-down inside the 300 s window
    for name in ("cpu", "gpu", "memory"):
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
        from matplotlib import image

        assert image.imread(out / f"{name}.png").shape[2] in (3, 4)
    lines = r.stdout.splitlines()
    gpu_line = next(line for line in lines if line.startswith("gpu:"))
    assert "peak 8 replicas at 60 s, 30 s after the metric first exceeded its target" in gpu_line
    assert "2 scale events (2 up, 0 down)" in gpu_line
    assert "above target" in gpu_line
    assert any(line.startswith("cpu:") for line in lines)


def test_simulate_reads_the_given_config(tmp_path):
    config = write(tmp_path, (
        "metrics_api:\n  external:\n    - {name: queue_depth, source: snapshot}\n"
        "component_classes:\n  - name: solo\n    workload: {name: solo}\n    max_replicas: 3\n"
        "    scale_on: [{metric: queue_depth, target_average_value: 1}]\n"
    ), "config.yaml")  # fmt: skip
    trace = write(
        tmp_path,
        "seconds,component_class,metric,value\n0,solo,queue_depth,100\n30,solo,queue_depth,100\n",
    )
    r = simulate(
        "--config", config, "--trace", trace, "--out", str(tmp_path / "o"), "--sync-period", "30"
    )
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "o" / "replicas.csv").read_text().splitlines()
    assert rows[1:] == ["0,solo,3,TooManyReplicas", "30,solo,3,TooManyReplicas"]
    assert r.stdout.startswith("solo: peak 3 replicas at 0 s")


BAD = [
    ("seconds,class,metric,value\n0,gpu,queue_depth,1\n", "row 1: the header must be seconds,component_class,metric,value"),
    ("", "row 1: the header must be"),
    ("seconds,component_class,metric,value\n0,gpu,queue_depth,lots\n", "row 2, column value: 'lots' is not a number"),
    ("seconds,component_class,metric,value\n0,gpu,queue_depth,1\nsoon,gpu,queue_depth,1\n", "row 3, column seconds: 'soon' is not a number"),
    ("seconds,component_class,metric,value\n0,tpu,queue_depth,1\n", "row 2, column component_class: unknown class 'tpu'"),
    ("seconds,component_class,metric,value\n0,gpu,cpu,1\n", "row 2, column metric: class 'gpu' does not scale on 'cpu'"),
    ("seconds,component_class,metric,value\n0,gpu,queue_depth\n", "row 2: expected 4 columns, got 3"),
    ("seconds,component_class,metric,value\n", "no rows after the header"),
]  # fmt: skip


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_bad_trace_exits_2_naming_row_and_column(tmp_path, text, message):
    r = simulate("--trace", write(tmp_path, text), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0], r.stderr
    assert not (tmp_path / "o" / "replicas.csv").exists()


def test_missing_trace_file_and_bad_sync_period_exit_2(tmp_path):
    r = simulate("--trace", str(tmp_path / "nope.csv"))
    assert r.returncode == 2 and "nope.csv" in r.stderr
    r = simulate("--trace", write(tmp_path, TRACE), "--sync-period", "0")
    assert r.returncode == 2 and "--sync-period" in r.stderr
