"""Command line: `exporter serve | check-config | generate | simulate | explain`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys

# Before the first pydantic model exists: pydantic would otherwise scan every installed
# distribution's entry points for plugins at start (~25 ms of the start-up budget); the
# exporter uses none. Set the variable to "" to let plugins load.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from exporter import __version__  # noqa: E402
from exporter.extras import server_missing_line  # noqa: E402

EXIT_CONFIG = 2
GENERATORS = {
    "dashboards": ("exporter.generators.dashboards", "dashboards"),
    "alerts": ("exporter.generators.alerts", "alerts"),
    "manifests": ("exporter.generators.k8s", "k8s"),
    "chart": ("exporter.generators.chart", "chart/exporter"),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="exporter", description=__doc__)
    p.add_argument("--version", action="version", version=f"exporter {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run collectors and serve /metrics and the metrics APIs")
    check = sub.add_parser("check-config", help="validate and print the effective config")
    check.add_argument(
        "--serve-only",
        action="store_true",
        help="validate for `exporter serve` alone: skip the rules of the generated manifests "
        "(secrets only as files under deployment.secrets)",
    )
    gen = sub.add_parser("generate", help="write dashboards, alert rules or k8s manifests")
    gen.add_argument("what", choices=sorted(GENERATORS))
    gen.add_argument(
        "--out", help="output folder (default: dashboards/, alerts/, k8s/ or chart/exporter/)"
    )
    sim = sub.add_parser("simulate", help="replay a metric trace through the HPA algorithm")
    sim.add_argument("--trace", required=True, help="CSV: seconds,component_class,metric,value")
    sim.add_argument("--out", default="simulation", help="output folder (default: simulation/)")
    sim.add_argument("--sync-period", type=float, default=15.0, help="HPA sync period, seconds")
    explain = sub.add_parser("explain", help="why each class scales, from a running exporter")
    explain.add_argument("--url", default="http://127.0.0.1:9464", help="the exporter's HTTP URL")
    explain.add_argument("--class", dest="component_class", help="one component class only")
    for cmd in (serve, check, gen, sim):
        cmd.add_argument("--config", help="YAML config file (default: the embedded default)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Every command needs the `server` extra: on a bare install (the service library alone)
    # one line naming the install command, before the first import that would fail.
    missing = server_missing_line(args.command)
    if missing is not None:
        print(missing, file=sys.stderr)
        return EXIT_CONFIG
    import yaml

    from exporter.config import ConfigError, load_config, redacted_dump

    logging.basicConfig(
        level=getattr(args, "log_level", "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "explain":  # reads a running exporter; needs no config
        from exporter.status.explain import main as explain_main

        return explain_main(args.url, args.component_class)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return config_failure(str(exc))

    if args.command == "check-config" or getattr(args, "what", None) == "manifests":
        from exporter.generators.k8s.apiservice import collision_warnings

        for line in collision_warnings(config):  # KEDA owns external.metrics.k8s.io
            print(f"exporter: {line}", file=sys.stderr)
    if args.command == "check-config":
        # Whatever check-config accepts, every `generate` target accepts: the manifests'
        # rules (secrets reach pods only as mounted files) are checked here too.
        if not args.serve_only:
            from exporter.generators.k8s.names import ManifestError
            from exporter.generators.k8s.pod_config import check_cluster_secrets

            try:
                check_cluster_secrets(config)
            except ManifestError as exc:
                return config_failure(f"{exc} (check-config --serve-only skips this rule)")
        yaml.safe_dump(redacted_dump(config), sys.stdout, sort_keys=False)
        return 0
    if args.command == "generate":
        module_name, default_out = GENERATORS[args.what]
        module = importlib.import_module(module_name)
        from exporter.generators.k8s.names import ManifestError as GeneratorConfigError

        try:
            written = module.generate(config, args.out or default_out)
        except GeneratorConfigError as exc:  # a rule of that target (e.g. secrets in pods)
            return config_failure(f"generate {args.what}: {exc}")
        for path in written:
            print(path)
        return 0

    if args.command == "simulate":
        return _simulate(config, args)

    from exporter.service import serve

    try:
        asyncio.run(serve(config))
    except ConfigError as exc:  # the web-config file, read at start
        return config_failure(str(exc))
    except OSError as exc:
        print(f"exporter: {exc}", file=sys.stderr)
        return 1
    return 0


def config_failure(message: str) -> int:
    """Print a config problem as one masked line on stderr; the exit status for it."""
    from exporter.config.loading import one_line
    from exporter.config.secrets import redact_url

    print(f"exporter: {one_line(redact_url(message))}", file=sys.stderr)
    return EXIT_CONFIG


def _simulate(config, args: argparse.Namespace) -> int:
    from exporter.simulate import TraceError, run_simulation

    if not args.sync_period > 0:
        print("exporter: --sync-period: must be a number of seconds > 0", file=sys.stderr)
        return EXIT_CONFIG
    try:
        lines = run_simulation(config, args.trace, args.out, args.sync_period)
    except TraceError as exc:
        print(f"exporter: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ModuleNotFoundError as exc:  # matplotlib is the optional `simulate` extra
        print(
            f"exporter: simulate needs {exc.name}: pip install 'exporter[simulate]'",
            file=sys.stderr,
        )
        return 1
    for line in lines:
        print(line)
    print(f"wrote {args.out}/replicas.csv and one PNG per class")
    return 0
