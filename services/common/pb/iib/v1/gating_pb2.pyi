from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GatedBundle(_message.Message):
    __slots__ = ("pull_spec", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PULL_SPEC_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    pull_spec: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, pull_spec: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DecideBundlesRequest(_message.Message):
    __slots__ = ("queue", "bundles", "request_id")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    queue: str
    bundles: _containers.RepeatedCompositeFieldContainer[GatedBundle]
    request_id: int
    def __init__(self, queue: _Optional[str] = ..., bundles: _Optional[_Iterable[_Union[GatedBundle, _Mapping]]] = ..., request_id: _Optional[int] = ...) -> None: ...

class BundleDecision(_message.Message):
    __slots__ = ("pull_spec", "subject_identifier", "policies_satisfied", "unsatisfied_testcases", "summary")
    PULL_SPEC_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    POLICIES_SATISFIED_FIELD_NUMBER: _ClassVar[int]
    UNSATISFIED_TESTCASES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    pull_spec: str
    subject_identifier: str
    policies_satisfied: bool
    unsatisfied_testcases: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    def __init__(self, pull_spec: _Optional[str] = ..., subject_identifier: _Optional[str] = ..., policies_satisfied: _Optional[bool] = ..., unsatisfied_testcases: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ...) -> None: ...

class DecideBundlesResponse(_message.Message):
    __slots__ = ("gated", "satisfied", "decisions", "reason")
    GATED_FIELD_NUMBER: _ClassVar[int]
    SATISFIED_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    gated: bool
    satisfied: bool
    decisions: _containers.RepeatedCompositeFieldContainer[BundleDecision]
    reason: str
    def __init__(self, gated: _Optional[bool] = ..., satisfied: _Optional[bool] = ..., decisions: _Optional[_Iterable[_Union[BundleDecision, _Mapping]]] = ..., reason: _Optional[str] = ...) -> None: ...
