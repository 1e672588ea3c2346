"""`v1.ListPodResourcesResponse` from protobuf wire bytes, the fields the GPU agent reads
(pods' name and namespace, containers' name, devices' resource name and IDs); every other
field is skipped as protobuf skips unknown ones. Field numbers: podresources.proto (the
upstream kubelet API, drift-tested against the reference copy).

Failure: `WireError` for bytes that are not such a message (truncated, bad wire type,
invalid UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


class WireError(ValueError):
    pass


@dataclass(frozen=True)
class ContainerDevices:
    resource_name: str
    device_ids: tuple[str, ...]


@dataclass(frozen=True)
class ContainerResources:
    name: str
    devices: tuple[ContainerDevices, ...]


@dataclass(frozen=True)
class PodResources:
    name: str
    namespace: str
    containers: tuple[ContainerResources, ...]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(buf: bytes) -> Iterator[tuple[int, bytes | int]]:
    """(field number, value) pairs: bytes for length-delimited fields, int otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise WireError("truncated field")
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise WireError("truncated field")
            value, pos = int.from_bytes(buf[pos : pos + size], "little"), pos + size
        else:
            raise WireError(f"wire type {wire} (field {number})")
        yield number, value


def _text(value: bytes | int) -> str:
    if not isinstance(value, bytes):
        raise WireError("a string field that is not length-delimited")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("a string field that is not UTF-8") from None


def _message(value: bytes | int) -> bytes:
    if not isinstance(value, bytes):
        raise WireError("a message field that is not length-delimited")
    return value


def _devices(buf: bytes) -> ContainerDevices:
    name, ids = "", []
    for number, value in fields(buf):
        if number == 1:
            name = _text(value)
        elif number == 2:
            ids.append(_text(value))
    return ContainerDevices(name, tuple(ids))


def _container(buf: bytes) -> ContainerResources:
    name, devices = "", []
    for number, value in fields(buf):
        if number == 1:
            name = _text(value)
        elif number == 2:
            devices.append(_devices(_message(value)))
    return ContainerResources(name, tuple(devices))


def _pod(buf: bytes) -> PodResources:
    name = namespace = ""
    containers = []
    for number, value in fields(buf):
        if number == 1:
            name = _text(value)
        elif number == 2:
            namespace = _text(value)
        elif number == 3:
            containers.append(_container(_message(value)))
    return PodResources(name, namespace, tuple(containers))


def list_response(buf: bytes) -> list[PodResources]:
    """The `pod_resources` of a ListPodResourcesResponse."""
    return [_pod(_message(value)) for number, value in fields(buf) if number == 1]
