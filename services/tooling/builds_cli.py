"""``iib builds get <id>`` and ``iib builds watch <id>``: a build through the typed API.

Both talk native gRPC to the gateway's public address (``--address``, default
``IIB_GATEWAY_LISTEN``) over TLS (``--cacert``: the gateway's certificate or its CA; default
``IIB_GATEWAY_TLS_CERT``, else ``var/tls/server.crt`` of ``iib dev``), exactly as any gRPC
client of ``iib.builds.v1.BuildService`` does. ``watch`` prints each state change as it is
stored, with how long the previous step took, and at the end the worker's step durations.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import grpc
from google.protobuf import json_format

from services.common.config import Settings
from services.common.errors import ConfigError
from services.common.pb.iib.builds.v1 import build_service_pb2 as pb
from services.common.pb.iib.builds.v1 import build_service_pb2_grpc as pb_grpc

__all__ = ["run_builds"]


def _state(value: int) -> str:
    from services.common.pb.iib.v1 import requests_pb2

    return str(requests_pb2.RequestState.Name(value)).removeprefix("REQUEST_STATE_").lower()


def _type(value: int) -> str:
    from services.common.pb.iib.v1 import requests_pb2

    name = str(requests_pb2.RequestType.Name(value)).removeprefix("REQUEST_TYPE_")
    return name.lower().replace("_", "-")


def _seconds(delta: timedelta) -> str:
    total = delta.total_seconds()
    if total < 60:
        return f"{total:.2f} s"
    return f"{int(total // 60)} min {total % 60:.0f} s"


def channel_for(settings: Settings, address: str | None, cacert: Path | None) -> grpc.Channel:
    """A channel to the gateway's public port (TLS when a certificate is known)."""
    target = address or settings.gateway_listen
    cert = cacert or settings.gateway_tls_cert
    if cert is None and (settings.var_dir / "tls" / "server.crt").is_file():
        cert = settings.var_dir / "tls" / "server.crt"
    if cert is None:
        return grpc.insecure_channel(target)
    try:
        root = Path(cert).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the gateway certificate {cert}: {exc}") from None
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(root))


def print_build(build: Any, out: TextIO) -> None:
    """A build as a person reads it."""
    kind = build.WhichOneof("parameters")
    print(
        f"Build {build.id} ({_type(build.request_type)}) by {build.user or 'anonymous'}", file=out
    )
    print(f"  state:   {_state(build.state)}: {build.state_reason}", file=out)
    if build.HasField("create_time"):
        print(f"  created: {build.create_time.ToDatetime():%Y-%m-%d %H:%M:%S} UTC", file=out)
    if kind:
        params = json_format.MessageToDict(getattr(build, kind), preserving_proto_field_name=True)
        print("  parameters:", file=out)
        for key, value in params.items():
            print(f"    {key}: {value}", file=out)
    results = json_format.MessageToDict(build.results, preserving_proto_field_name=True)
    if results:
        print("  results:", file=out)
        for key, value in results.items():
            print(f"    {key}: {value}", file=out)
    print("  state history:", file=out)
    for change in build.state_history:
        took = _seconds(change.duration.ToTimedelta()) if change.HasField("duration") else ""
        print(
            f"    {change.time.ToDatetime():%H:%M:%S}  {_state(change.state):<11}  "
            f"{change.state_reason}" + (f"  ({took})" if took else ""),
            file=out,
        )
    _print_steps(build, out)


def _print_steps(build: Any, out: TextIO) -> None:
    if build.steps:
        print("  step durations (worker):", file=out)
        for step in build.steps:
            print(f"    {step.name:<24} {_seconds(step.duration.ToTimedelta())}", file=out)


def watch_build(stub: Any, request_id: int, out: TextIO) -> int:
    """Print each state change as it is stored until the build is final; 0 when it completed,
    1 when it failed."""
    previous = None
    build = None
    for message in stub.WatchBuild(pb.WatchBuildRequest(name=f"builds/{request_id}")):
        build = message.build
        change = message.state_change
        if previous is None:
            print(
                f"Build {build.id} ({_type(build.request_type)}) by {build.user or 'anonymous'}",
                file=out,
            )
        else:
            took = change.time.ToDatetime() - previous.time.ToDatetime()
            print(f"          ↳ {_seconds(took)}", file=out)
        print(
            f"{change.time.ToDatetime():%H:%M:%S}  {_state(change.state):<11}  "
            f"{change.state_reason}",
            file=out,
            flush=True,
        )
        previous = change
    if build is None:
        return 1
    _print_steps(build, out)
    if build.results.index_image:
        print(f"index image: {build.results.index_image}", file=out)
    return 0 if _state(build.state) == "complete" else 1


def run_builds(
    settings: Settings,
    action: str,
    request_id: int,
    *,
    address: str | None = None,
    cacert: Path | None = None,
    as_json: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """``iib builds get|watch``."""
    with channel_for(settings, address, cacert) as channel:
        stub = pb_grpc.BuildServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            if action == "watch":
                return watch_build(stub, request_id, out)
            build = stub.GetBuild(pb.GetBuildRequest(name=f"builds/{request_id}"), timeout=60)
        except grpc.RpcError as exc:
            print(f"iib: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
    if as_json:
        print(json_format.MessageToJson(build, preserving_proto_field_name=True), file=out)
    else:
        print_build(build, out)
    return 0
