import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from services.common.pb.iib.v1 import requests_pb2 as _requests_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Build(_message.Message):
    __slots__ = ("name", "id", "request_type", "state", "state_reason", "user", "batch", "batch_annotations", "create_time", "update_time", "state_history", "add", "rm", "regenerate_bundle", "merge_index_image", "create_empty_index", "recursive_related_bundles", "fbc_operations", "add_deprecations", "results", "steps")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    ADD_FIELD_NUMBER: _ClassVar[int]
    RM_FIELD_NUMBER: _ClassVar[int]
    REGENERATE_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    MERGE_INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_EMPTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_RELATED_BUNDLES_FIELD_NUMBER: _ClassVar[int]
    FBC_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    ADD_DEPRECATIONS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: int
    request_type: _requests_pb2.RequestType
    state: _requests_pb2.RequestState
    state_reason: str
    user: str
    batch: int
    batch_annotations: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    state_history: _containers.RepeatedCompositeFieldContainer[StateChange]
    add: AddParameters
    rm: RmParameters
    regenerate_bundle: RegenerateBundleParameters
    merge_index_image: MergeIndexImageParameters
    create_empty_index: CreateEmptyIndexParameters
    recursive_related_bundles: RecursiveRelatedBundlesParameters
    fbc_operations: FbcOperationsParameters
    add_deprecations: AddDeprecationsParameters
    results: BuildResults
    steps: _containers.RepeatedCompositeFieldContainer[Step]
    def __init__(self, name: _Optional[str] = ..., id: _Optional[int] = ..., request_type: _Optional[_Union[_requests_pb2.RequestType, str]] = ..., state: _Optional[_Union[_requests_pb2.RequestState, str]] = ..., state_reason: _Optional[str] = ..., user: _Optional[str] = ..., batch: _Optional[int] = ..., batch_annotations: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state_history: _Optional[_Iterable[_Union[StateChange, _Mapping]]] = ..., add: _Optional[_Union[AddParameters, _Mapping]] = ..., rm: _Optional[_Union[RmParameters, _Mapping]] = ..., regenerate_bundle: _Optional[_Union[RegenerateBundleParameters, _Mapping]] = ..., merge_index_image: _Optional[_Union[MergeIndexImageParameters, _Mapping]] = ..., create_empty_index: _Optional[_Union[CreateEmptyIndexParameters, _Mapping]] = ..., recursive_related_bundles: _Optional[_Union[RecursiveRelatedBundlesParameters, _Mapping]] = ..., fbc_operations: _Optional[_Union[FbcOperationsParameters, _Mapping]] = ..., add_deprecations: _Optional[_Union[AddDeprecationsParameters, _Mapping]] = ..., results: _Optional[_Union[BuildResults, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[Step, _Mapping]]] = ...) -> None: ...

class StateChange(_message.Message):
    __slots__ = ("state", "state_reason", "time", "duration")
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    state: _requests_pb2.RequestState
    state_reason: str
    time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    def __init__(self, state: _Optional[_Union[_requests_pb2.RequestState, str]] = ..., state_reason: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Step(_message.Message):
    __slots__ = ("name", "duration")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    duration: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class BundleList(_message.Message):
    __slots__ = ("bundles",)
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    bundles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, bundles: _Optional[_Iterable[str]] = ...) -> None: ...

class BuildResults(_message.Message):
    __slots__ = ("arches", "index_image", "index_image_resolved", "internal_index_image_copy", "internal_index_image_copy_resolved", "binary_image", "binary_image_resolved", "from_index_resolved", "distribution_scope", "bundle_mapping", "bundle_image", "from_bundle_image_resolved", "source_from_index_resolved", "target_index_resolved", "parent_bundle_image_resolved", "fbc_fragments_resolved", "related_bundles", "nested_bundles")
    class BundleMappingEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: BundleList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[BundleList, _Mapping]] = ...) -> None: ...
    ARCHES_FIELD_NUMBER: _ClassVar[int]
    INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    INDEX_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_INDEX_IMAGE_COPY_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_INDEX_IMAGE_COPY_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_MAPPING_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    FROM_BUNDLE_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FROM_INDEX_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    TARGET_INDEX_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    PARENT_BUNDLE_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    FBC_FRAGMENTS_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    RELATED_BUNDLES_FIELD_NUMBER: _ClassVar[int]
    NESTED_BUNDLES_FIELD_NUMBER: _ClassVar[int]
    arches: _containers.RepeatedScalarFieldContainer[str]
    index_image: str
    index_image_resolved: str
    internal_index_image_copy: str
    internal_index_image_copy_resolved: str
    binary_image: str
    binary_image_resolved: str
    from_index_resolved: str
    distribution_scope: str
    bundle_mapping: _containers.MessageMap[str, BundleList]
    bundle_image: str
    from_bundle_image_resolved: str
    source_from_index_resolved: str
    target_index_resolved: str
    parent_bundle_image_resolved: str
    fbc_fragments_resolved: _containers.RepeatedScalarFieldContainer[str]
    related_bundles: _containers.RepeatedScalarFieldContainer[str]
    nested_bundles: _struct_pb2.Value
    def __init__(self, arches: _Optional[_Iterable[str]] = ..., index_image: _Optional[str] = ..., index_image_resolved: _Optional[str] = ..., internal_index_image_copy: _Optional[str] = ..., internal_index_image_copy_resolved: _Optional[str] = ..., binary_image: _Optional[str] = ..., binary_image_resolved: _Optional[str] = ..., from_index_resolved: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., bundle_mapping: _Optional[_Mapping[str, BundleList]] = ..., bundle_image: _Optional[str] = ..., from_bundle_image_resolved: _Optional[str] = ..., source_from_index_resolved: _Optional[str] = ..., target_index_resolved: _Optional[str] = ..., parent_bundle_image_resolved: _Optional[str] = ..., fbc_fragments_resolved: _Optional[_Iterable[str]] = ..., related_bundles: _Optional[_Iterable[str]] = ..., nested_bundles: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class AddParameters(_message.Message):
    __slots__ = ("bundles", "from_index", "binary_image", "add_arches", "overwrite_from_index", "overwrite_from_index_token", "distribution_scope", "build_tags", "deprecation_list", "graph_update_mode", "check_related_images", "organization", "cnr_token")
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ADD_ARCHES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BUILD_TAGS_FIELD_NUMBER: _ClassVar[int]
    DEPRECATION_LIST_FIELD_NUMBER: _ClassVar[int]
    GRAPH_UPDATE_MODE_FIELD_NUMBER: _ClassVar[int]
    CHECK_RELATED_IMAGES_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    CNR_TOKEN_FIELD_NUMBER: _ClassVar[int]
    bundles: _containers.RepeatedScalarFieldContainer[str]
    from_index: str
    binary_image: str
    add_arches: _containers.RepeatedScalarFieldContainer[str]
    overwrite_from_index: bool
    overwrite_from_index_token: str
    distribution_scope: str
    build_tags: _containers.RepeatedScalarFieldContainer[str]
    deprecation_list: _containers.RepeatedScalarFieldContainer[str]
    graph_update_mode: str
    check_related_images: bool
    organization: str
    cnr_token: str
    def __init__(self, bundles: _Optional[_Iterable[str]] = ..., from_index: _Optional[str] = ..., binary_image: _Optional[str] = ..., add_arches: _Optional[_Iterable[str]] = ..., overwrite_from_index: _Optional[bool] = ..., overwrite_from_index_token: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., build_tags: _Optional[_Iterable[str]] = ..., deprecation_list: _Optional[_Iterable[str]] = ..., graph_update_mode: _Optional[str] = ..., check_related_images: _Optional[bool] = ..., organization: _Optional[str] = ..., cnr_token: _Optional[str] = ...) -> None: ...

class RmParameters(_message.Message):
    __slots__ = ("operators", "from_index", "binary_image", "add_arches", "overwrite_from_index", "overwrite_from_index_token", "distribution_scope", "build_tags")
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ADD_ARCHES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BUILD_TAGS_FIELD_NUMBER: _ClassVar[int]
    operators: _containers.RepeatedScalarFieldContainer[str]
    from_index: str
    binary_image: str
    add_arches: _containers.RepeatedScalarFieldContainer[str]
    overwrite_from_index: bool
    overwrite_from_index_token: str
    distribution_scope: str
    build_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, operators: _Optional[_Iterable[str]] = ..., from_index: _Optional[str] = ..., binary_image: _Optional[str] = ..., add_arches: _Optional[_Iterable[str]] = ..., overwrite_from_index: _Optional[bool] = ..., overwrite_from_index_token: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., build_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class RegenerateBundleParameters(_message.Message):
    __slots__ = ("from_bundle_image", "organization", "bundle_replacements", "registry_auths")
    class BundleReplacementsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FROM_BUNDLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_REPLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTHS_FIELD_NUMBER: _ClassVar[int]
    from_bundle_image: str
    organization: str
    bundle_replacements: _containers.ScalarMap[str, str]
    registry_auths: _struct_pb2.Struct
    def __init__(self, from_bundle_image: _Optional[str] = ..., organization: _Optional[str] = ..., bundle_replacements: _Optional[_Mapping[str, str]] = ..., registry_auths: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class MergeIndexImageParameters(_message.Message):
    __slots__ = ("source_from_index", "target_index", "deprecation_list", "binary_image", "distribution_scope", "graph_update_mode", "ignore_bundle_ocp_version", "build_tags", "overwrite_target_index", "overwrite_target_index_token")
    SOURCE_FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    TARGET_INDEX_FIELD_NUMBER: _ClassVar[int]
    DEPRECATION_LIST_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    GRAPH_UPDATE_MODE_FIELD_NUMBER: _ClassVar[int]
    IGNORE_BUNDLE_OCP_VERSION_FIELD_NUMBER: _ClassVar[int]
    BUILD_TAGS_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_TARGET_INDEX_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_TARGET_INDEX_TOKEN_FIELD_NUMBER: _ClassVar[int]
    source_from_index: str
    target_index: str
    deprecation_list: _containers.RepeatedScalarFieldContainer[str]
    binary_image: str
    distribution_scope: str
    graph_update_mode: str
    ignore_bundle_ocp_version: bool
    build_tags: _containers.RepeatedScalarFieldContainer[str]
    overwrite_target_index: bool
    overwrite_target_index_token: str
    def __init__(self, source_from_index: _Optional[str] = ..., target_index: _Optional[str] = ..., deprecation_list: _Optional[_Iterable[str]] = ..., binary_image: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., graph_update_mode: _Optional[str] = ..., ignore_bundle_ocp_version: _Optional[bool] = ..., build_tags: _Optional[_Iterable[str]] = ..., overwrite_target_index: _Optional[bool] = ..., overwrite_target_index_token: _Optional[str] = ...) -> None: ...

class CreateEmptyIndexParameters(_message.Message):
    __slots__ = ("from_index", "binary_image", "labels", "output_fbc", "distribution_scope")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FBC_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    from_index: str
    binary_image: str
    labels: _containers.ScalarMap[str, str]
    output_fbc: bool
    distribution_scope: str
    def __init__(self, from_index: _Optional[str] = ..., binary_image: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., output_fbc: _Optional[bool] = ..., distribution_scope: _Optional[str] = ...) -> None: ...

class RecursiveRelatedBundlesParameters(_message.Message):
    __slots__ = ("parent_bundle_image", "organization", "registry_auths")
    PARENT_BUNDLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTHS_FIELD_NUMBER: _ClassVar[int]
    parent_bundle_image: str
    organization: str
    registry_auths: _struct_pb2.Struct
    def __init__(self, parent_bundle_image: _Optional[str] = ..., organization: _Optional[str] = ..., registry_auths: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class FbcOperationsParameters(_message.Message):
    __slots__ = ("fbc_fragments", "from_index", "binary_image", "add_arches", "overwrite_from_index", "overwrite_from_index_token", "distribution_scope", "build_tags")
    FBC_FRAGMENTS_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ADD_ARCHES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BUILD_TAGS_FIELD_NUMBER: _ClassVar[int]
    fbc_fragments: _containers.RepeatedScalarFieldContainer[str]
    from_index: str
    binary_image: str
    add_arches: _containers.RepeatedScalarFieldContainer[str]
    overwrite_from_index: bool
    overwrite_from_index_token: str
    distribution_scope: str
    build_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fbc_fragments: _Optional[_Iterable[str]] = ..., from_index: _Optional[str] = ..., binary_image: _Optional[str] = ..., add_arches: _Optional[_Iterable[str]] = ..., overwrite_from_index: _Optional[bool] = ..., overwrite_from_index_token: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., build_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddDeprecationsParameters(_message.Message):
    __slots__ = ("operator_package", "deprecation_schema", "from_index", "binary_image", "add_arches", "overwrite_from_index", "overwrite_from_index_token", "distribution_scope", "build_tags")
    OPERATOR_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    DEPRECATION_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ADD_ARCHES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BUILD_TAGS_FIELD_NUMBER: _ClassVar[int]
    operator_package: str
    deprecation_schema: str
    from_index: str
    binary_image: str
    add_arches: _containers.RepeatedScalarFieldContainer[str]
    overwrite_from_index: bool
    overwrite_from_index_token: str
    distribution_scope: str
    build_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, operator_package: _Optional[str] = ..., deprecation_schema: _Optional[str] = ..., from_index: _Optional[str] = ..., binary_image: _Optional[str] = ..., add_arches: _Optional[_Iterable[str]] = ..., overwrite_from_index: _Optional[bool] = ..., overwrite_from_index_token: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., build_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class GetBuildRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListBuildsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "request_type", "user", "batch", "from_index", "from_index_startswith", "index_image")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_STARTSWITH_FIELD_NUMBER: _ClassVar[int]
    INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _requests_pb2.RequestState
    request_type: _requests_pb2.RequestType
    user: str
    batch: int
    from_index: str
    from_index_startswith: str
    index_image: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_requests_pb2.RequestState, str]] = ..., request_type: _Optional[_Union[_requests_pb2.RequestType, str]] = ..., user: _Optional[str] = ..., batch: _Optional[int] = ..., from_index: _Optional[str] = ..., from_index_startswith: _Optional[str] = ..., index_image: _Optional[str] = ...) -> None: ...

class ListBuildsResponse(_message.Message):
    __slots__ = ("builds", "next_page_token", "total_size")
    BUILDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    builds: _containers.RepeatedCompositeFieldContainer[Build]
    next_page_token: str
    total_size: int
    def __init__(self, builds: _Optional[_Iterable[_Union[Build, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class WatchBuildRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchBuildResponse(_message.Message):
    __slots__ = ("state_change", "build")
    STATE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    BUILD_FIELD_NUMBER: _ClassVar[int]
    state_change: StateChange
    build: Build
    def __init__(self, state_change: _Optional[_Union[StateChange, _Mapping]] = ..., build: _Optional[_Union[Build, _Mapping]] = ...) -> None: ...

class WatchBuildsRequest(_message.Message):
    __slots__ = ("state", "request_type", "user", "batch", "from_index", "from_index_startswith", "index_image")
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_STARTSWITH_FIELD_NUMBER: _ClassVar[int]
    INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    state: _requests_pb2.RequestState
    request_type: _requests_pb2.RequestType
    user: str
    batch: int
    from_index: str
    from_index_startswith: str
    index_image: str
    def __init__(self, state: _Optional[_Union[_requests_pb2.RequestState, str]] = ..., request_type: _Optional[_Union[_requests_pb2.RequestType, str]] = ..., user: _Optional[str] = ..., batch: _Optional[int] = ..., from_index: _Optional[str] = ..., from_index_startswith: _Optional[str] = ..., index_image: _Optional[str] = ...) -> None: ...

class WatchBuildsResponse(_message.Message):
    __slots__ = ("builds",)
    BUILDS_FIELD_NUMBER: _ClassVar[int]
    builds: _containers.RepeatedCompositeFieldContainer[Build]
    def __init__(self, builds: _Optional[_Iterable[_Union[Build, _Mapping]]] = ...) -> None: ...

class GetCatalogDiffRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CatalogDiff(_message.Message):
    __slots__ = ("name", "packages_added", "packages_removed", "channels_added", "channels_removed", "bundles_added", "bundles_removed", "channel_heads_moved", "default_channels_moved", "deprecations_added")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_ADDED_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_ADDED_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_ADDED_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_HEADS_MOVED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CHANNELS_MOVED_FIELD_NUMBER: _ClassVar[int]
    DEPRECATIONS_ADDED_FIELD_NUMBER: _ClassVar[int]
    name: str
    packages_added: _containers.RepeatedScalarFieldContainer[str]
    packages_removed: _containers.RepeatedScalarFieldContainer[str]
    channels_added: _containers.RepeatedCompositeFieldContainer[ChannelRef]
    channels_removed: _containers.RepeatedCompositeFieldContainer[ChannelRef]
    bundles_added: _containers.RepeatedCompositeFieldContainer[BundleRef]
    bundles_removed: _containers.RepeatedCompositeFieldContainer[BundleRef]
    channel_heads_moved: _containers.RepeatedCompositeFieldContainer[HeadMove]
    default_channels_moved: _containers.RepeatedCompositeFieldContainer[DefaultChannelMove]
    deprecations_added: _containers.RepeatedCompositeFieldContainer[DeprecationRef]
    def __init__(self, name: _Optional[str] = ..., packages_added: _Optional[_Iterable[str]] = ..., packages_removed: _Optional[_Iterable[str]] = ..., channels_added: _Optional[_Iterable[_Union[ChannelRef, _Mapping]]] = ..., channels_removed: _Optional[_Iterable[_Union[ChannelRef, _Mapping]]] = ..., bundles_added: _Optional[_Iterable[_Union[BundleRef, _Mapping]]] = ..., bundles_removed: _Optional[_Iterable[_Union[BundleRef, _Mapping]]] = ..., channel_heads_moved: _Optional[_Iterable[_Union[HeadMove, _Mapping]]] = ..., default_channels_moved: _Optional[_Iterable[_Union[DefaultChannelMove, _Mapping]]] = ..., deprecations_added: _Optional[_Iterable[_Union[DeprecationRef, _Mapping]]] = ...) -> None: ...

class ChannelRef(_message.Message):
    __slots__ = ("package", "channel", "head")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    package: str
    channel: str
    head: str
    def __init__(self, package: _Optional[str] = ..., channel: _Optional[str] = ..., head: _Optional[str] = ...) -> None: ...

class BundleRef(_message.Message):
    __slots__ = ("package", "name", "image", "version")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    package: str
    name: str
    image: str
    version: str
    def __init__(self, package: _Optional[str] = ..., name: _Optional[str] = ..., image: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class HeadMove(_message.Message):
    __slots__ = ("package", "channel", "from_head", "to_head")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    FROM_HEAD_FIELD_NUMBER: _ClassVar[int]
    TO_HEAD_FIELD_NUMBER: _ClassVar[int]
    package: str
    channel: str
    from_head: str
    to_head: str
    def __init__(self, package: _Optional[str] = ..., channel: _Optional[str] = ..., from_head: _Optional[str] = ..., to_head: _Optional[str] = ...) -> None: ...

class DefaultChannelMove(_message.Message):
    __slots__ = ("package", "from_channel", "to_channel")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    FROM_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TO_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    package: str
    from_channel: str
    to_channel: str
    def __init__(self, package: _Optional[str] = ..., from_channel: _Optional[str] = ..., to_channel: _Optional[str] = ...) -> None: ...

class DeprecationRef(_message.Message):
    __slots__ = ("package", "schema", "name", "message")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    package: str
    schema: str
    name: str
    message: str
    def __init__(self, package: _Optional[str] = ..., schema: _Optional[str] = ..., name: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CreateAddBuildRequest(_message.Message):
    __slots__ = ("add", "request_id")
    ADD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    add: AddParameters
    request_id: str
    def __init__(self, add: _Optional[_Union[AddParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRmBuildRequest(_message.Message):
    __slots__ = ("rm", "request_id")
    RM_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    rm: RmParameters
    request_id: str
    def __init__(self, rm: _Optional[_Union[RmParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRegenerateBundleBuildRequest(_message.Message):
    __slots__ = ("regenerate_bundle", "request_id")
    REGENERATE_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    regenerate_bundle: RegenerateBundleParameters
    request_id: str
    def __init__(self, regenerate_bundle: _Optional[_Union[RegenerateBundleParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMergeIndexImageBuildRequest(_message.Message):
    __slots__ = ("merge_index_image", "request_id")
    MERGE_INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    merge_index_image: MergeIndexImageParameters
    request_id: str
    def __init__(self, merge_index_image: _Optional[_Union[MergeIndexImageParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateCreateEmptyIndexBuildRequest(_message.Message):
    __slots__ = ("create_empty_index", "request_id")
    CREATE_EMPTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    create_empty_index: CreateEmptyIndexParameters
    request_id: str
    def __init__(self, create_empty_index: _Optional[_Union[CreateEmptyIndexParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRecursiveRelatedBundlesBuildRequest(_message.Message):
    __slots__ = ("recursive_related_bundles", "request_id")
    RECURSIVE_RELATED_BUNDLES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    recursive_related_bundles: RecursiveRelatedBundlesParameters
    request_id: str
    def __init__(self, recursive_related_bundles: _Optional[_Union[RecursiveRelatedBundlesParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateFbcOperationsBuildRequest(_message.Message):
    __slots__ = ("fbc_operations", "request_id")
    FBC_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    fbc_operations: FbcOperationsParameters
    request_id: str
    def __init__(self, fbc_operations: _Optional[_Union[FbcOperationsParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateAddDeprecationsBuildRequest(_message.Message):
    __slots__ = ("add_deprecations", "request_id")
    ADD_DEPRECATIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    add_deprecations: AddDeprecationsParameters
    request_id: str
    def __init__(self, add_deprecations: _Optional[_Union[AddDeprecationsParameters, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetDashboardFileRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...
