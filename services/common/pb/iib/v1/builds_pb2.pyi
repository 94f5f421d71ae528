from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListBuildsRequest(_message.Message):
    __slots__ = ("page", "per_page", "verbose", "state", "batch", "request_type", "user", "index_image", "from_index", "from_index_startswith")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    VERBOSE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_STARTSWITH_FIELD_NUMBER: _ClassVar[int]
    page: _containers.RepeatedScalarFieldContainer[str]
    per_page: _containers.RepeatedScalarFieldContainer[str]
    verbose: _containers.RepeatedScalarFieldContainer[str]
    state: _containers.RepeatedScalarFieldContainer[str]
    batch: _containers.RepeatedScalarFieldContainer[str]
    request_type: _containers.RepeatedScalarFieldContainer[str]
    user: _containers.RepeatedScalarFieldContainer[str]
    index_image: _containers.RepeatedScalarFieldContainer[str]
    from_index: _containers.RepeatedScalarFieldContainer[str]
    from_index_startswith: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, page: _Optional[_Iterable[str]] = ..., per_page: _Optional[_Iterable[str]] = ..., verbose: _Optional[_Iterable[str]] = ..., state: _Optional[_Iterable[str]] = ..., batch: _Optional[_Iterable[str]] = ..., request_type: _Optional[_Iterable[str]] = ..., user: _Optional[_Iterable[str]] = ..., index_image: _Optional[_Iterable[str]] = ..., from_index: _Optional[_Iterable[str]] = ..., from_index_startswith: _Optional[_Iterable[str]] = ...) -> None: ...

class GetBuildRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class PatchBuildRequest(_message.Message):
    __slots__ = ("id", "body")
    ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    id: str
    body: _httpbody_pb2.HttpBody
    def __init__(self, id: _Optional[str] = ..., body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetBuildArtifactRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CheckHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("body", "request_id")
    BODY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    request_id: str
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetDocsPageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetOpenApiDocumentRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRedocScriptRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
