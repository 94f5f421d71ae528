"""The request store's database schema (SQLAlchemy 2). Alembic migrations live in ``migrations/``.

Compared with IIB's joined-table polymorphism, requests are one table (single-table
inheritance by ``type``) with the current state denormalised onto the row, so listing and
filtering need no joins; ``request_state`` keeps the full history. Images, operators, users and
deprecation schemas are global get-or-create tables as in IIB (the ``image.operator_id`` link is
IIB's global bundle → package mapping).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Batch",
    "DeprecationSchema",
    "IdempotencyKey",
    "Image",
    "Operator",
    "Outbox",
    "Request",
    "RequestArchitecture",
    "RequestBuildTag",
    "RequestCount",
    "RequestImage",
    "RequestOperator",
    "RequestSecret",
    "RequestStateRow",
    "User",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _image_fk() -> Mapped[int | None]:
    return mapped_column(ForeignKey("image.id"), nullable=True)


class User(Base):
    __tablename__ = "user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)


class Batch(Base):
    __tablename__ = "batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # JSON text with sorted keys, or NULL.
    annotations: Mapped[str | None] = mapped_column(Text)


class Operator(Base):
    __tablename__ = "operator"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)


class Image(Base):
    __tablename__ = "image"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pull_specification: Mapped[str] = mapped_column(Text, unique=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id"), nullable=True)


class DeprecationSchema(Base):
    __tablename__ = "deprecation_schema"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of the text: the unique key (PostgreSQL cannot index arbitrarily long text).
    sha256: Mapped[str] = mapped_column(Text, unique=True)
    schema: Mapped[str] = mapped_column(Text)


class Request(Base):
    __tablename__ = "request"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[int] = mapped_column(SmallInteger, index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    # Current state (the newest request_state row), denormalised for listing.
    state: Mapped[int] = mapped_column(SmallInteger, index=True)
    state_reason: Mapped[str] = mapped_column(Text)
    updated: Mapped[datetime] = mapped_column(DateTime)
    created: Mapped[datetime] = mapped_column(DateTime)
    # Routing computed at submission (IIB_USER_TO_QUEUE); NULL queue = default queue.
    queue: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[bool] = mapped_column(Boolean, default=False)
    serial_key: Mapped[str | None] = mapped_column(Text)
    # Inputs the worker needs that IIB does not echo, as JSON (no secrets).
    worker_args: Mapped[str | None] = mapped_column(Text)
    # The build lease: the worker holding it, until when, and its fencing token (incremented on
    # every new claim; updates carrying an older token are refused).
    lease_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_holder: Mapped[str | None] = mapped_column(Text)
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime)

    # Type-specific columns.
    organization: Mapped[str | None] = mapped_column(Text)
    omps_operator_version: Mapped[str | None] = mapped_column(Text)
    distribution_scope: Mapped[str | None] = mapped_column(Text)
    graph_update_mode: Mapped[str | None] = mapped_column(Text)
    check_related_images: Mapped[bool | None] = mapped_column(Boolean)
    ignore_bundle_ocp_version: Mapped[bool | None] = mapped_column(Boolean)
    used_fbc_fragment: Mapped[bool | None] = mapped_column(Boolean)
    bundle_replacements: Mapped[str | None] = mapped_column(Text)
    labels: Mapped[str | None] = mapped_column(Text)
    operator_package_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    deprecation_schema_id: Mapped[int | None] = mapped_column(ForeignKey("deprecation_schema.id"))

    binary_image_id: Mapped[int | None] = _image_fk()
    binary_image_resolved_id: Mapped[int | None] = _image_fk()
    from_index_id: Mapped[int | None] = mapped_column(ForeignKey("image.id"), index=True)
    from_index_resolved_id: Mapped[int | None] = _image_fk()
    index_image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id"), index=True)
    index_image_resolved_id: Mapped[int | None] = _image_fk()
    internal_index_image_copy_id: Mapped[int | None] = _image_fk()
    internal_index_image_copy_resolved_id: Mapped[int | None] = _image_fk()
    bundle_image_id: Mapped[int | None] = _image_fk()
    from_bundle_image_id: Mapped[int | None] = _image_fk()
    from_bundle_image_resolved_id: Mapped[int | None] = _image_fk()
    source_from_index_id: Mapped[int | None] = _image_fk()
    source_from_index_resolved_id: Mapped[int | None] = _image_fk()
    target_index_id: Mapped[int | None] = _image_fk()
    target_index_resolved_id: Mapped[int | None] = _image_fk()
    parent_bundle_image_id: Mapped[int | None] = _image_fk()
    parent_bundle_image_resolved_id: Mapped[int | None] = _image_fk()
    fbc_fragment_id: Mapped[int | None] = _image_fk()
    fbc_fragment_resolved_id: Mapped[int | None] = _image_fk()

    # The relay's SERIAL gate looks up earlier unfinished requests writing the same index.
    __table_args__ = (Index("ix_request_serial_key_id", "serial_key", "id"),)


class RequestStateRow(Base):
    __tablename__ = "request_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"), index=True)
    state: Mapped[int] = mapped_column(SmallInteger)
    state_reason: Mapped[str] = mapped_column(Text)
    updated: Mapped[datetime] = mapped_column(DateTime)


class RequestArchitecture(Base):
    __tablename__ = "request_architecture"
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)


class RequestBuildTag(Base):
    __tablename__ = "request_build_tag"
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)


class RequestImage(Base):
    """Ordered image lists: bundles, deprecation_list, fbc_fragments(_resolved)."""

    __tablename__ = "request_image"
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"), index=True)


class RequestOperator(Base):
    """Operators removed by an rm request, in order."""

    __tablename__ = "request_operator"
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id"))


class RequestSecret(Base):
    """Encrypted secrets of a request (Fernet tokens); deleted when the request is final."""

    __tablename__ = "request_secret"
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class IdempotencyKey(Base):
    """A client-supplied request_id: maps (user, key) to the batch it created."""

    __tablename__ = "idempotency_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(Text)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"))
    created: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_key_scope_key"),)


class Outbox(Base):
    """Messages written in the same transaction as the change they announce.

    The relay publishes unsent rows to NATS (``msg_id`` de-duplicates) and marks them sent.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    msg_id: Mapped[str] = mapped_column(Text)
    headers: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    request_id: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when the row can never be published (dead letter): it no longer blocks anything.
    dead_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)


class RequestCount(Base):
    """How many requests are stored: the sum of ``n`` over the rows. Kept by triggers on
    ``request`` (migration 0003), so every path that writes requests keeps it exact, in the
    same transaction as the rows it counts. The unfiltered list reads it for IIB's
    ``meta.total`` instead of counting every request.

    PostgreSQL has 16 rows and each session bumps the row of its backend PID modulo 16, so
    concurrent submissions rarely wait for each other's row lock; SQLite (one writer) has one.
    A migration that rebuilds ``request`` on SQLite (Alembic's batch mode copies the table)
    drops its triggers and must create them again (tests/request_store/test_request_count.py
    fails if it does not)."""

    __tablename__ = "request_count"
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# Core table handles for the query code (typed as Table for SQLAlchemy's insert/update/delete).
USER = _table(User)
BATCH = _table(Batch)
OPERATOR = _table(Operator)
IMAGE = _table(Image)
DEPRECATION_SCHEMA = _table(DeprecationSchema)
REQUEST = _table(Request)
REQUEST_STATE = _table(RequestStateRow)
REQUEST_ARCHITECTURE = _table(RequestArchitecture)
REQUEST_BUILD_TAG = _table(RequestBuildTag)
REQUEST_IMAGE = _table(RequestImage)
REQUEST_OPERATOR = _table(RequestOperator)
REQUEST_SECRET = _table(RequestSecret)
IDEMPOTENCY_KEY = _table(IdempotencyKey)
OUTBOX = _table(Outbox)
REQUEST_COUNT = _table(RequestCount)
