"""A fake Kubernetes API server for tests: real HTTPS on loopback, in a thread.

It answers the few endpoints the exporter uses with the real API's JSON shapes (lists
without per-item kind/apiVersion, single objects with them, errors as metav1.Status), and
checks the bearer token like kube-apiserver does. `kubeconfig()` writes a kubeconfig that
the official `kubernetes` client loads unchanged, CA and all.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import ssl
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml

from exporter.certs import issue

CREATED = "2026-01-01T00:00:00Z"


def self_signed(
    common_name: str, dns: list[str] | None = None, ip: bool = True
) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of a self-signed CA certificate for `common_name`."""
    hosts = [*(dns or []), *(["127.0.0.1"] if ip else [])]
    pair = issue(common_name, hosts=hosts, ca=True)
    return pair.cert_pem(), pair.key_pem()


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict[str, Any]:
    """A metav1.Status failure as kube-apiserver sends it."""
    out: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        out["details"] = details
    return out


def _object_meta(name: str, namespace: str, rv: int, labels: dict | None = None) -> dict:
    meta = {
        "name": name,
        "namespace": namespace,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}")),
        "resourceVersion": str(rv),
        "creationTimestamp": CREATED,
    }
    if labels:
        meta["labels"] = dict(labels)
    return meta


def auth_configmap_data(
    client_ca_pem: str,
    allowed_names: list[str] | None = None,
    username_headers: list[str] | None = None,
    group_headers: list[str] | None = None,
) -> dict[str, str]:
    """The data kube-apiserver writes into kube-system/extension-apiserver-authentication."""
    return {
        "client-ca-file": client_ca_pem,
        "requestheader-allowed-names": json.dumps(
            ["front-proxy-client"] if allowed_names is None else allowed_names
        ),
        "requestheader-client-ca-file": client_ca_pem,
        "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        "requestheader-group-headers": json.dumps(group_headers or ["X-Remote-Group"]),
        "requestheader-username-headers": json.dumps(username_headers or ["X-Remote-User"]),
    }


def _condition(kind: str, ok: bool, reason: str, message: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "lastTransitionTime": CREATED,
        "reason": reason,
        "message": message,
    }


def hpa_status(
    current: int, desired: int, able_to_scale: bool = True, scaling_active: bool = True
) -> dict[str, Any]:
    """An autoscaling/v2 HorizontalPodAutoscalerStatus, currentReplicas omitted when 0 (omitempty)."""
    out: dict[str, Any] = {"lastScaleTime": CREATED, "desiredReplicas": desired}
    if current:
        out["currentReplicas"] = current
    out["conditions"] = [
        _condition(
            "AbleToScale",
            able_to_scale,
            "ReadyForNewScale" if able_to_scale else "FailedGetScale",
            "recommended size matches current size"
            if able_to_scale
            else "the HPA controller was unable to get the target's current scale",
        ),
        _condition(
            "ScalingActive",
            scaling_active,
            "ValidMetricFound" if scaling_active else "FailedGetExternalMetric",
            "the HPA was able to successfully calculate a replica count"
            if scaling_active
            else "the HPA was unable to compute the replica count: unable to get external metric",
        ),
        _condition(
            "ScalingLimited",
            False,
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        ),
    ]
    return out


class FakeKube:
    """State (configmaps, HPAs) plus the HTTPS server answering for it."""

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.configmaps: dict[tuple[str, str], dict[str, str]] = {}
        self.hpas: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._rv = 1000
        self._lock = threading.Lock()
        self._hang = threading.Event()
        self._released = threading.Event()
        self._dir = Path(tempfile.mkdtemp(prefix="fake-kube-"))
        cert, key = self_signed("kube-apiserver", dns=["localhost"])
        (self._dir / "tls.crt").write_bytes(cert)
        (self._dir / "tls.key").write_bytes(key)
        self.ca_pem = cert
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- state -----------------------------------------------------------------------------
    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def set_configmap(self, namespace: str, name: str, data: dict[str, str]) -> None:
        with self._lock:
            self.configmaps[(namespace, name)] = dict(data)

    def set_hpa(self, manifest: dict[str, Any], status: dict[str, Any]) -> None:
        """Store an HPA from a manifest (e.g. a generated one) plus its status."""
        obj = copy.deepcopy(manifest)
        meta = obj["metadata"]
        with self._lock:
            obj["metadata"] = _object_meta(
                meta["name"], meta["namespace"], self._next_rv(), meta.get("labels")
            )
            obj["status"] = copy.deepcopy(status)
            self.hpas[(meta["namespace"], meta["name"])] = obj

    def delete_hpa(self, namespace: str, name: str) -> None:
        with self._lock:
            del self.hpas[(namespace, name)]

    def set_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        labels: dict[str, str] | None = None,
        containers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A running pod on `node`; `containers` maps container name -> runtime container ID
        (as in status.containerStatuses[].containerID, `containerd://<id>`)."""
        containers = containers or {"main": f"containerd://{uuid.uuid4().hex * 2}"}
        with self._lock:
            obj = {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": _object_meta(name, namespace, self._next_rv(), labels),
                "spec": {
                    "nodeName": node,
                    "containers": [{"name": c, "image": "example/app:1"} for c in containers],
                },
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {"name": c, "containerID": cid, "ready": True, "restartCount": 0,
                         "image": "example/app:1", "imageID": "", "started": True,
                         "state": {"running": {"startedAt": CREATED}}}
                        for c, cid in containers.items()
                    ],
                },
            }  # fmt: skip
            self.pods[(namespace, name)] = obj
            return copy.deepcopy(obj)

    def delete_pod(self, namespace: str, name: str) -> None:
        with self._lock:
            del self.pods[(namespace, name)]

    def hang(self) -> None:
        """From now on requests block (a hung API server) until `release()`."""
        self._released.clear()
        self._hang.set()

    def release(self) -> None:
        self._hang.clear()
        self._released.set()

    # --- routing ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path))
        if auth != f"Bearer {self.token}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        if method != "GET":
            return 405, status(405, "MethodNotAllowed", f"{method} is not supported by this fake")
        path, _, query = path.partition("?")
        with self._lock:
            if path == "/api/v1/pods":
                return self._pod_list(parse_qs(query).get("fieldSelector", [""])[0])
            if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)", path):
                ns, name = m.groups()
                data = self.configmaps.get((ns, name))
                if data is None:
                    return 404, _not_found("", "configmaps", name)
                return 200, {
                    "kind": "ConfigMap",
                    "apiVersion": "v1",
                    "metadata": _object_meta(name, ns, self._rv),
                    "data": data,
                }
            base = r"/apis/autoscaling/v2/namespaces/([^/]+)/horizontalpodautoscalers"
            if m := re.fullmatch(base, path):
                ns = m.group(1)
                hpas = [obj for (item_ns, _), obj in sorted(self.hpas.items()) if item_ns == ns]
                return 200, self._list("HorizontalPodAutoscalerList", "autoscaling/v2", hpas)
            if m := re.fullmatch(base + r"/([^/]+)", path):
                ns, name = m.groups()
                obj = self.hpas.get((ns, name))
                if obj is None:
                    return 404, _not_found("autoscaling", "horizontalpodautoscalers", name)
                return 200, copy.deepcopy(obj)
        return 404, status(404, "NotFound", "the server could not find the requested resource", {})

    def _pod_list(self, field_selector: str) -> tuple[int, dict[str, Any]]:
        node = None
        for term in filter(None, field_selector.split(",")):
            key, sep, value = term.partition("=")
            if key != "spec.nodeName" or not sep:  # the only field selector this fake knows
                return 400, status(400, "BadRequest", f'field label not supported: "{key}"')
            node = value
        pods = [
            obj
            for _, obj in sorted(self.pods.items())
            if node is None or obj["spec"]["nodeName"] == node
        ]
        return 200, self._list("PodList", "v1", pods)

    def _list(self, kind: str, api_version: str, objects: list[dict]) -> dict[str, Any]:
        items = []
        for obj in objects:
            item = copy.deepcopy(obj)
            del item["apiVersion"], item["kind"]  # list items carry neither
            items.append(item)
        return {
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    # --- server ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeKube:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def _answer(self, method: str) -> None:
                if fake._hang.is_set():
                    fake._released.wait(30)
                code, body = fake.handle(method, self.path, self.headers.get("Authorization"))
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self._dir / "tls.crt", self._dir / "tls.key")
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True, name="fake-kube"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def kubeconfig(self, token: str | None = None) -> str:
        """Write a kubeconfig for this server (CA embedded) and return its path."""
        path = self._dir / f"kubeconfig-{uuid.uuid4().hex[:8]}"
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(doc))
        return str(path)

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def _not_found(group: str, resource: str, name: str) -> dict[str, Any]:
    qualified = f"{resource}.{group}" if group else resource
    details = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return status(404, "NotFound", f'{qualified} "{name}" not found', details)
