# syntax=docker/dockerfile:1
# Build stage: compile wheels for the package and its dependencies.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .

# Runtime stage: no compiler, no build files, uid 1000, nothing written outside /tmp.
FROM python:3.11-slim-bookworm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --gid 1000 exporter && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin exporter
USER 1000:1000
# Works with --read-only: the only writes (a self-signed serving certificate) go to /tmp,
# which Kubernetes mounts as an emptyDir (docker: --read-only --tmpfs /tmp).
EXPOSE 9464 6443
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["exporter"]
CMD ["serve"]
