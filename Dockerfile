# syntax=docker/dockerfile:1
# The exporter service (`pip install 'exporter[server]'`) on Python 3.11, run as uid 1000 on a
# read-only root filesystem. Built and run by tests/packaging/test_image.py (podman):
#
#   podman build --format docker --network host -t exporter .
#   podman build --build-arg BASE=localhost/my-bookworm-python3.11 ...   # another base
#
# BASE: any Debian/Ubuntu-like image whose `python` is CPython >= 3.11 with `venv`; both
# stages use it (the venv's interpreter is the base's). Behind a TLS-intercepting proxy or a
# private index, hand pip its configuration at build time only, e.g.
#   podman build -v /etc/pip.conf:/etc/pip.conf:ro -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro ...
# (make image does that from this host's pip settings); nothing of them lands in a layer.
ARG BASE=python:3.11-slim-bookworm

# Build stage: the venv. Every dependency ships manylinux wheels for cp311 (x86_64, aarch64),
# so no compiler is installed even here.
FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# pip's cache is a build cache mount (kept by the builder between builds, never in a layer).
# pip, setuptools and wheel leave the venv once it is built: the runtime installs nothing.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --disable-pip-version-check '.[server]' \
    && /opt/venv/bin/python -m pip uninstall -y -q pip setuptools wheel \
    && rm -f /opt/venv/bin/pip* /opt/venv/bin/wheel

# Runtime stage: the venv, no build files, no pip, uid 1000, nothing written outside /tmp.
FROM ${BASE}
# The base's own pip and setuptools go too (python:3.11-slim ships both; a Debian python3
# base has neither).
RUN if python -c "import pip" 2>/dev/null; then python -m pip uninstall -y -q pip setuptools wheel; fi \
    && rm -f /usr/local/bin/pip* /usr/local/bin/wheel \
    && groupadd --gid 1000 exporter \
    && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin exporter
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 1000:1000
# Works with --read-only: the only writes (a self-signed serving certificate) go to /tmp,
# which Kubernetes mounts as an emptyDir (podman/docker: --read-only --tmpfs /tmp).
# Every port the embedded default opens: /metrics and the metrics APIs. The KEDA scaler
# (listen.grpc, 0.0.0.0:9465 under autoscaling.engine keda) is not among them.
EXPOSE 9464 6443
# /healthz on listen.http's port (EXPORTER_LISTEN__HTTP when that moves it, else 9464).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('EXPORTER_LISTEN__HTTP', ':9464').rpartition(':')[2]; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["exporter"]
CMD ["serve"]
