"""The request store's enums are the protos' enums (one source: protos/iib/v1/requests.proto)."""

from __future__ import annotations

from services.common.pb.iib.v1 import requests_pb2
from services.request_store.domain import RequestState, RequestType


def test_every_proto_request_type_is_a_domain_request_type() -> None:
    proto = {
        name.removeprefix("REQUEST_TYPE_"): value
        for name, value in requests_pb2.RequestType.items()
    }
    proto["GENERIC"] = proto.pop("UNSPECIFIED")
    assert {t.name: t.value for t in RequestType} == proto


def test_every_proto_state_is_a_domain_state() -> None:
    proto = {
        name.removeprefix("REQUEST_STATE_"): v for name, v in requests_pb2.RequestState.items()
    }
    del proto["UNSPECIFIED"]
    assert {s.name: s.value for s in RequestState} == proto


def test_api_names_are_iibs() -> None:
    # IIB's REST names (contract §1): hyphenated lower-case type names
    assert RequestType.MERGE_INDEX_IMAGE.api_name == "merge-index-image"
    assert RequestType.ADD_DEPRECATIONS.api_name == "add-deprecations"
    assert RequestState.IN_PROGRESS.api_name == "in_progress"
