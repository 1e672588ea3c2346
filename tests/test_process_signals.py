"""The process as an operator meets it: SIGHUP reloads what can be reloaded and is never
fatal; every port is bound before any listener serves, so a clash (gRPC's too) exits 1 with
one line of ours. Real `exporter serve` subprocesses.

Issue 20 on `dd0d2a1`: SIGHUP killed the exporter (default action, no drain); a gRPC port
clash printed gRPC's own line before ours, after HTTP had served for 1.2 s.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import bcrypt
import httpx

from tests.support.servers import REPO, exporter_process, free_port, wait_for


def _config(http: int, extra: str = "") -> str:
    return f"""
environment: dev
listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{free_port()}"{extra}}}
gpu: "off"
kubernetes: {{enabled: off}}
metrics_api: {{enabled: false}}
postgres: []
redis: []
"""


def _users(path, **users: bytes) -> None:
    hashed = {u: bcrypt.hashpw(p, bcrypt.gensalt(rounds=4)).decode() for u, p in users.items()}
    path.write_text("basic_auth_users:\n" + "".join(f'  {u}: "{h}"\n' for u, h in hashed.items()))


def test_sighup_reloads_the_web_config_and_is_never_fatal(tmp_path):
    web = tmp_path / "web.yml"
    _users(web, alice=b"alice-pw")
    http = free_port()
    url = f"http://127.0.0.1:{http}/metrics"
    with exporter_process(_config(http, f', web_config_file: "{web}"')) as proc:
        wait_for(lambda: httpx.get(url, auth=("alice", "alice-pw")).status_code == 200,
                 what="alice served")  # fmt: skip
        _users(web, bob=b"bob-pw")
        proc.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP: web-config reloaded (1 users)" in proc.extra["log"].read_text(),
                 what="the SIGHUP line")  # fmt: skip
        assert httpx.get(url, auth=("bob", "bob-pw")).status_code == 200
        assert httpx.get(url, auth=("alice", "alice-pw")).status_code == 401
        web.write_text("basic_auth_users: {bob: not-a-hash}\n")  # a bad edit, then SIGHUP
        for n in (2, 3, 4):  # one at a time: signals sent together may arrive as one
            proc.proc.send_signal(signal.SIGHUP)
            wait_for(lambda n=n: proc.extra["log"].read_text().count("SIGHUP:") == n,
                     what=f"{n} SIGHUP lines")  # fmt: skip
        assert proc.proc.poll() is None
        assert httpx.get(url, auth=("bob", "bob-pw")).status_code == 200  # last good users
        log = proc.extra["log"].read_text()
        assert "web-config not reloaded" in log and "bob-pw" not in log


def test_sighup_without_a_web_config_is_one_line(tmp_path):
    http = free_port()
    with exporter_process(_config(http)) as proc:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{http}/healthz").status_code == 200,
                 what="exporter up")  # fmt: skip
        proc.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP: no listen.web_config_file" in proc.extra["log"].read_text(),
                 what="the SIGHUP line")  # fmt: skip
        assert httpx.get(f"http://127.0.0.1:{http}/healthz").status_code == 200
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(10) == 0


def test_a_grpc_port_clash_exits_1_before_anything_serves(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    http = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(_config(http, f', grpc: "127.0.0.1:{port}"'))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "exporter", "serve", "--config", str(config)],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )  # fmt: skip
    finally:
        taken.close()
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"exporter: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert proc.stdout == ""  # no "serving on" line: nothing served before the clash
