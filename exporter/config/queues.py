"""Work queues of a component class: one model per `kind`, a discriminated union on `kind`.

Each kind carries exactly its own fields, so a field of another kind is an error that
names the kinds it belongs to, and a missing one says what the kind needs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, field_validator, model_validator

from exporter.config.base import Strict


class QueueBase(Strict):
    """What every queue has: a name, its kind and the target (by name) it lives on."""

    target_kind: ClassVar[str]  # the Config field listing the targets `target` names

    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: str  # narrowed to one literal per kind; declared here so dumps keep their order
    target: str = "main"

    @model_validator(mode="before")
    @classmethod
    def _foreign_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                owners = [k for k, m in QUEUE_KINDS.items() if key in m.model_fields]
                if key not in cls.model_fields and owners:
                    raise ValueError(
                        f"{key} applies to {', '.join(owners)} queues, not {data.get('kind')}"
                    )
        return data


class RedisListQueue(QueueBase):
    """A Redis list. A plain list holds no enqueue time, so age is reported only when the
    job payload is JSON carrying one (`age_field`, a dotted path to unix seconds, unix
    milliseconds or an ISO-8601 string). `push` says where producers add jobs: lpush
    (Celery/kombu, consumers BRPOP: the oldest job is at the tail) or rpush (RQ-style,
    consumers BLPOP: the oldest is at the head)."""

    target_kind = "redis"

    kind: Literal["redis_list"]
    key: str
    age_field: Annotated[str, Field(min_length=1)] | None = None
    push: Literal["lpush", "rpush"] | None = None

    @model_validator(mode="after")
    def _push_with_age_field(self) -> RedisListQueue:
        if self.push and not self.age_field:
            raise ValueError("push only matters with age_field (which end holds the oldest job)")
        return self


class RedisZsetQueue(QueueBase):
    """A Redis sorted set scored by the time each job becomes due (in `score_unit`)."""

    target_kind = "redis"

    kind: Literal["redis_zset"]
    key: str
    score_unit: Literal["seconds", "milliseconds"] | None = None


class RedisStreamQueue(QueueBase):
    """A Redis stream read by one consumer group."""

    target_kind = "redis"

    kind: Literal["redis_stream"]
    key: str
    group: str


class PostgresQueryQueue(QueueBase):
    """A SQL query returning depth [, oldest timestamp]."""

    target_kind = "postgres"

    kind: Literal["postgres_query"]
    query: str

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a postgres_query queue needs query")
        return v


QUEUE_KINDS: dict[str, type[QueueBase]] = {
    "redis_list": RedisListQueue,
    "redis_zset": RedisZsetQueue,
    "redis_stream": RedisStreamQueue,
    "postgres_query": PostgresQueryQueue,
}

Queue = Annotated[
    RedisListQueue | RedisZsetQueue | RedisStreamQueue | PostgresQueryQueue,
    Field(discriminator="kind"),
]
QueueKind = Literal["redis_list", "redis_zset", "redis_stream", "postgres_query"]

_QUEUE = TypeAdapter(Queue)


def parse_queue(data: Any) -> QueueBase:
    """One queue from plain data; pydantic.ValidationError when it is not a valid queue."""
    return _QUEUE.validate_python(data)
