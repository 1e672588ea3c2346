"""Every config failure is exit 2 and exactly one line naming the field (or the line and
column) with secrets masked: undecodable bytes, YAML syntax, nesting, duplicate keys,
`EXPORTER_*` values, numbers beyond what Kubernetes can hold, and every DSN/URL form."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from exporter.config.secrets import redact_url
from exporter.runtime import Collector, Runtime
from exporter.snapshot import Snapshot
from tests.support.cli_run import run_cli
from tests.support.servers import REPO

SECRET = "hunter2"
CLASS = "component_classes: [{name: cpu, workload: {name: w}, %s}]\n"
METRIC = "metrics_api: {external: [{name: queue_depth, source: snapshot%s}]}\n"


def _check(tmp_path, content: bytes | str, env: dict[str, str] | None = None):
    path = tmp_path / "config.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return run_cli("check-config", "--config", str(path), env=env)


def _one_line_failure(result, *fragments: str) -> str:
    assert result.code == 2, result
    assert result.stdout == ""
    assert len(result.err_lines) == 1, result.stderr
    line = result.err_lines[0]
    assert SECRET not in line
    for fragment in fragments:
        assert fragment in line, line
    return line


CASES = {
    "binary garbage": (bytes(range(256)) * 4, ["not UTF-8 text", "offset"]),
    "latin-1 bytes": ("namespace: caf\xe9\n".encode("latin-1"), ["not UTF-8 text (byte 0xe9"]),
    "deep nesting": (b"a: " + b"[" * 10000 + b"]" * 10000, ["nested deeper than"]),
    "deep mappings": (b"a: " + b"{b: " * 3000 + b"1" + b"}" * 3000, ["nested deeper than"]),
    "yaml syntax": (
        "namespace: platform\ncollection: {interval_seconds: 5\n",
        ["line 3, column 1"],
    ),
    "yaml tab": ("namespace: platform\n\tgpu: on\n", ["not valid YAML: line 2"]),
    "duplicate keys": (
        "namespace: a\nnamespace: b\n",
        ["line 2, column 1: duplicate key 'namespace'"],
    ),
    "duplicate nested": (
        "collection: {interval_seconds: 5, interval_seconds: 6}\n",
        ["duplicate key"],
    ),
    "top level list": ("- a\n- b\n", ["top level must be a mapping"]),
    "max_replicas 10**30": (
        CLASS % f"max_replicas: {10**30}",
        ["component_classes[0].max_replicas"],
    ),
    "min_replicas 2**31": (CLASS % f"min_replicas: {2**31}", ["component_classes[0].min_replicas"]),
    "target .inf": (
        CLASS % "scale_on: [{metric: queue_depth, target_average_value: .inf}]",
        ["target_average_value", "finite"],
    ),
    "target 1e300": (
        CLASS % "scale_on: [{metric: queue_depth, target_average_value: 1e300}]",
        ["target_average_value"],
    ),
    "interval .nan": ("collection: {interval_seconds: .nan}\n", ["collection.interval_seconds"]),
    "fallback 1e300": (
        METRIC % ", fallback: 1e300",
        ["fallback must be a finite number >= 0 and <="],
    ),
    "policy pods 2**31": (
        CLASS % f"behavior: {{scale_up: {{pods: {2**31}}}}}",
        ["behavior.scale_up.pods"],
    ),
    "unknown key": ("colection: {}\n", ["colection: unknown key"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_is_one_line_exit_2(tmp_path, case):
    content, fragments = CASES[case]
    _one_line_failure(_check(tmp_path, content), *fragments)


@pytest.mark.parametrize(
    "env, fragments",
    [
        (
            {"EXPORTER_COLLECTION__INTERVAL_SECONDS": "[unclosed"},
            ["EXPORTER_COLLECTION__INTERVAL_SECONDS", "line 1"],
        ),
        ({"EXPORTER_COLLECTION__INTERVAL_SECONDS": "{a: 1, a: 2}"}, ["duplicate key"]),
        ({"EXPORTER_COLLECTION__INTERVAL_SECONDS": "-3"}, ["collection.interval_seconds"]),
        ({"EXPORTER_NAMESPACE__X": "1"}, ["EXPORTER_NAMESPACE__X", "not a mapping"]),
        ({"EXPORTER_POSTGRES__0__DSN": "x"}, ["EXPORTER_POSTGRES__0__DSN", "has no item"]),
        ({"EXPORTER_COMPONENT_CLASSES": "[" * 5000}, ["EXPORTER_COMPONENT_CLASSES"]),
    ],
)
def test_bad_environment_value_is_one_line_exit_2(tmp_path, env, fragments):
    _one_line_failure(_check(tmp_path, "namespace: platform\n", env), *fragments)


# --- secrets -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dsn",
    [
        f"mysql://u:{SECRET} 2@h/db",  # bad scheme, a space in the password
        f"host=db user=app password={SECRET}",  # libpq key=value
        f"host=db password='a {SECRET}' user=x",
        f"postgresql://u:{SECRET}@ter2@db:99999/app",  # '@' in the password, bad port
        f"postgresql://u:p%40{SECRET}:/#x@:5432/app",  # no host
        f"ftp://db/app?sslmode=require&password={SECRET}",
    ],
)
def test_dsn_in_an_error_is_masked(tmp_path, dsn):
    line = _one_line_failure(_check(tmp_path, f'postgres: [{{name: main, dsn: "{dsn}"}}]\n'))
    assert "postgres[0].dsn" in line and "***" in line


@pytest.mark.parametrize(
    "field, address",
    [
        ("postgres", f"postgresql://db/app?sslmode=require&password={SECRET}"),
        ("postgres", f"postgresql://u:{SECRET}@ter2@db:5432/app"),
        ("redis", f"redis://cache:6379/0?password={SECRET}"),
        ("redis", f"redis://:{SECRET}@te#r/2@cache:6379/0"),
    ],
)
def test_check_config_and_generated_files_mask_every_form(tmp_path, field, address):
    key = "dsn" if field == "postgres" else "url"
    path = tmp_path / "c.yaml"
    path.write_text(f'{field}: [{{name: main, {key}: "{address}"}}]\ngpu: off\n')
    result = run_cli("check-config", "--serve-only", "--config", str(path))
    assert result.code == 0, result
    assert SECRET not in result.stdout and "***" in result.stdout
    # an inline secret would land in a ConfigMap: manifests refuse it, in one masked line,
    # and so does check-config (what it accepts, every generator accepts)
    result = run_cli("generate", "manifests", "--config", str(path), "--out", str(tmp_path / "k8s"))
    line = _one_line_failure(result, f"{field}[0]")
    assert "password_file" in line
    line = _one_line_failure(run_cli("check-config", "--config", str(path)), f"{field}[0]")
    assert "password_file" in line
    for what in ("dashboards", "alerts"):
        out = tmp_path / what
        assert run_cli("generate", what, "--config", str(path), "--out", str(out)).code == 0
        assert not any(SECRET in f.read_text() for f in out.rglob("*") if f.is_file())


def test_prometheus_url_password_is_masked_in_check_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"prometheus: {{url: 'http://reader:{SECRET}@prom:9090'}}\n")
    result = run_cli("check-config", "--serve-only", "--config", str(path))
    assert result.code == 0 and SECRET not in result.stdout
    assert "http://reader:***@prom:9090" in result.stdout
    result = run_cli("generate", "manifests", "--config", str(path), "--out", str(tmp_path / "k"))
    _one_line_failure(result, "prometheus.url", "bearer_token_file")
    _one_line_failure(run_cli("check-config", "--config", str(path)), "prometheus.url")


def test_redaction_is_one_function_for_every_form():
    cases = {
        f"mysql://u:{SECRET} 2@h/db": "mysql://u:***@h/db",
        f"redis://u:{SECRET}@ter2@h:6379/0": "redis://u:***@h:6379/0",
        f"postgresql://u:a:b/c#d%40{SECRET}@db/app": "postgresql://u:***@db/app",
        f"postgresql://db/app?password={SECRET}&x=1": "postgresql://db/app?password=***&x=1",
        f"host=db password='a b {SECRET}' user=x": "host=db password=*** user=x",
        f"host=db PASSWORD={SECRET}": "host=db PASSWORD=***",
        "postgresql://u@h:5432/db": "postgresql://u@h:5432/db",
    }
    for text, masked in cases.items():
        assert redact_url(text) == masked


class _Leaky(Collector):
    name, target = "postgres", "main"

    async def collect(self):
        raise OSError(f"could not connect to postgresql://app:{SECRET}@db:5432/app")


async def test_collector_errors_are_masked_in_logs(caplog):
    runtime = Runtime(Snapshot(), [_Leaky(1, 1)])
    with caplog.at_level(logging.WARNING):
        await runtime.run_once(runtime.collectors[0])
    assert caplog.records and all(SECRET not in r.getMessage() for r in caplog.records)
    assert "postgresql://app:***@db" in caplog.text


# --- a couple of real subprocess runs ------------------------------------------------------
@pytest.mark.parametrize(
    "content, env",
    [(bytes(range(256)), {}), (b"namespace: platform\n", {"EXPORTER_GPU": "{[}"})],
    ids=["binary", "env"],
)
def test_subprocess_check_config_is_one_line_exit_2(tmp_path, content, env):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "check-config", "--config", str(path)],
        capture_output=True, text=True, cwd=REPO, env={"PATH": "/usr/bin:/bin", **env}, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


# --- alias bombs: cost linear in the document ------------------------------------------------
def _laughs(levels: int) -> bytes:
    """The classic "billion laughs": each level a list of nine aliases of the one before."""
    lines = ["a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("levels", [7, 9, 30])
def test_alias_bomb_exits_2_at_once(tmp_path, levels):
    """9 levels (306 bytes on the issue) took ~7 min of check-config; the expansion is now
    measured with each shared node once, and a document that expands past the budget is one
    line and exit 2. 30 levels would be 9^30 values: still the same one line."""
    import time

    started = time.perf_counter()
    line = _one_line_failure(_check(tmp_path, _laughs(levels)), "through aliases")
    assert time.perf_counter() - started < 2.0
    assert "lol" not in line


def test_shared_aliases_in_a_real_config_are_fine(tmp_path):
    """Aliases used the ordinary way (one anchored block reused by every class) still load,
    and a node shared along many paths is not counted as deeper than it is."""
    classes = "\n".join(
        f"  - {{name: c{i}, workload: {{name: w{i}}}, scale_on: *scale}}" for i in range(1, 40)
    )
    text = (
        "component_classes:\n"
        "  - {name: c0, workload: {name: w0}, scale_on: &scale [{metric: queue_depth, target_average_value: 5}]}\n"
        f"{classes}\n"
    )
    result = _check(tmp_path, text)
    assert result.code == 0, result.stderr


def test_oversized_document_is_refused_before_parsing(tmp_path):
    from exporter.config.yaml_source import MAX_BYTES

    _one_line_failure(_check(tmp_path, b"#" * (MAX_BYTES + 1)), "byte limit")


def test_recursive_alias_is_one_line(tmp_path):
    _one_line_failure(_check(tmp_path, b"a: &a [*a]\n"), "nested deeper than")
