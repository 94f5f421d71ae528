from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RequestType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REQUEST_TYPE_UNSPECIFIED: _ClassVar[RequestType]
    REQUEST_TYPE_ADD: _ClassVar[RequestType]
    REQUEST_TYPE_RM: _ClassVar[RequestType]
    REQUEST_TYPE_REGENERATE_BUNDLE: _ClassVar[RequestType]
    REQUEST_TYPE_MERGE_INDEX_IMAGE: _ClassVar[RequestType]
    REQUEST_TYPE_CREATE_EMPTY_INDEX: _ClassVar[RequestType]
    REQUEST_TYPE_RECURSIVE_RELATED_BUNDLES: _ClassVar[RequestType]
    REQUEST_TYPE_FBC_OPERATIONS: _ClassVar[RequestType]
    REQUEST_TYPE_ADD_DEPRECATIONS: _ClassVar[RequestType]

class RequestState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REQUEST_STATE_UNSPECIFIED: _ClassVar[RequestState]
    REQUEST_STATE_IN_PROGRESS: _ClassVar[RequestState]
    REQUEST_STATE_COMPLETE: _ClassVar[RequestState]
    REQUEST_STATE_FAILED: _ClassVar[RequestState]
REQUEST_TYPE_UNSPECIFIED: RequestType
REQUEST_TYPE_ADD: RequestType
REQUEST_TYPE_RM: RequestType
REQUEST_TYPE_REGENERATE_BUNDLE: RequestType
REQUEST_TYPE_MERGE_INDEX_IMAGE: RequestType
REQUEST_TYPE_CREATE_EMPTY_INDEX: RequestType
REQUEST_TYPE_RECURSIVE_RELATED_BUNDLES: RequestType
REQUEST_TYPE_FBC_OPERATIONS: RequestType
REQUEST_TYPE_ADD_DEPRECATIONS: RequestType
REQUEST_STATE_UNSPECIFIED: RequestState
REQUEST_STATE_IN_PROGRESS: RequestState
REQUEST_STATE_COMPLETE: RequestState
REQUEST_STATE_FAILED: RequestState

class IndexImageParams(_message.Message):
    __slots__ = ("from_index", "binary_image", "add_arches", "overwrite_from_index", "distribution_scope", "build_tags")
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ADD_ARCHES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BUILD_TAGS_FIELD_NUMBER: _ClassVar[int]
    from_index: str
    binary_image: str
    add_arches: _containers.RepeatedScalarFieldContainer[str]
    overwrite_from_index: bool
    distribution_scope: str
    build_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, from_index: _Optional[str] = ..., binary_image: _Optional[str] = ..., add_arches: _Optional[_Iterable[str]] = ..., overwrite_from_index: _Optional[bool] = ..., distribution_scope: _Optional[str] = ..., build_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddParams(_message.Message):
    __slots__ = ("index", "bundles", "deprecation_list", "graph_update_mode", "check_related_images", "organization")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    DEPRECATION_LIST_FIELD_NUMBER: _ClassVar[int]
    GRAPH_UPDATE_MODE_FIELD_NUMBER: _ClassVar[int]
    CHECK_RELATED_IMAGES_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    index: IndexImageParams
    bundles: _containers.RepeatedScalarFieldContainer[str]
    deprecation_list: _containers.RepeatedScalarFieldContainer[str]
    graph_update_mode: str
    check_related_images: bool
    organization: str
    def __init__(self, index: _Optional[_Union[IndexImageParams, _Mapping]] = ..., bundles: _Optional[_Iterable[str]] = ..., deprecation_list: _Optional[_Iterable[str]] = ..., graph_update_mode: _Optional[str] = ..., check_related_images: _Optional[bool] = ..., organization: _Optional[str] = ...) -> None: ...

class RmParams(_message.Message):
    __slots__ = ("index", "operators")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    index: IndexImageParams
    operators: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[_Union[IndexImageParams, _Mapping]] = ..., operators: _Optional[_Iterable[str]] = ...) -> None: ...

class RegenerateBundleParams(_message.Message):
    __slots__ = ("from_bundle_image", "organization", "bundle_replacements")
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
    from_bundle_image: str
    organization: str
    bundle_replacements: _containers.ScalarMap[str, str]
    def __init__(self, from_bundle_image: _Optional[str] = ..., organization: _Optional[str] = ..., bundle_replacements: _Optional[_Mapping[str, str]] = ...) -> None: ...

class MergeIndexImageParams(_message.Message):
    __slots__ = ("source_from_index", "target_index", "deprecation_list", "binary_image", "distribution_scope", "graph_update_mode", "ignore_bundle_ocp_version", "overwrite_target_index", "build_tags")
    SOURCE_FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    TARGET_INDEX_FIELD_NUMBER: _ClassVar[int]
    DEPRECATION_LIST_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    GRAPH_UPDATE_MODE_FIELD_NUMBER: _ClassVar[int]
    IGNORE_BUNDLE_OCP_VERSION_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_TARGET_INDEX_FIELD_NUMBER: _ClassVar[int]
    BUILD_TAGS_FIELD_NUMBER: _ClassVar[int]
    source_from_index: str
    target_index: str
    deprecation_list: _containers.RepeatedScalarFieldContainer[str]
    binary_image: str
    distribution_scope: str
    graph_update_mode: str
    ignore_bundle_ocp_version: bool
    overwrite_target_index: bool
    build_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, source_from_index: _Optional[str] = ..., target_index: _Optional[str] = ..., deprecation_list: _Optional[_Iterable[str]] = ..., binary_image: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., graph_update_mode: _Optional[str] = ..., ignore_bundle_ocp_version: _Optional[bool] = ..., overwrite_target_index: _Optional[bool] = ..., build_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateEmptyIndexParams(_message.Message):
    __slots__ = ("index", "labels", "output_fbc")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FBC_FIELD_NUMBER: _ClassVar[int]
    index: IndexImageParams
    labels: _containers.ScalarMap[str, str]
    output_fbc: bool
    def __init__(self, index: _Optional[_Union[IndexImageParams, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., output_fbc: _Optional[bool] = ...) -> None: ...

class RecursiveRelatedBundlesParams(_message.Message):
    __slots__ = ("parent_bundle_image", "organization")
    PARENT_BUNDLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    parent_bundle_image: str
    organization: str
    def __init__(self, parent_bundle_image: _Optional[str] = ..., organization: _Optional[str] = ...) -> None: ...

class FbcOperationsParams(_message.Message):
    __slots__ = ("index", "fbc_fragments", "used_fbc_fragment")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FBC_FRAGMENTS_FIELD_NUMBER: _ClassVar[int]
    USED_FBC_FRAGMENT_FIELD_NUMBER: _ClassVar[int]
    index: IndexImageParams
    fbc_fragments: _containers.RepeatedScalarFieldContainer[str]
    used_fbc_fragment: bool
    def __init__(self, index: _Optional[_Union[IndexImageParams, _Mapping]] = ..., fbc_fragments: _Optional[_Iterable[str]] = ..., used_fbc_fragment: _Optional[bool] = ...) -> None: ...

class AddDeprecationsParams(_message.Message):
    __slots__ = ("index", "operator_package", "deprecation_schema")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    DEPRECATION_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    index: IndexImageParams
    operator_package: str
    deprecation_schema: str
    def __init__(self, index: _Optional[_Union[IndexImageParams, _Mapping]] = ..., operator_package: _Optional[str] = ..., deprecation_schema: _Optional[str] = ...) -> None: ...

class RequestSecrets(_message.Message):
    __slots__ = ("overwrite_from_index_token", "overwrite_target_index_token", "registry_auths_json", "cnr_token")
    OVERWRITE_FROM_INDEX_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_TARGET_INDEX_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTHS_JSON_FIELD_NUMBER: _ClassVar[int]
    CNR_TOKEN_FIELD_NUMBER: _ClassVar[int]
    overwrite_from_index_token: str
    overwrite_target_index_token: str
    registry_auths_json: str
    cnr_token: str
    def __init__(self, overwrite_from_index_token: _Optional[str] = ..., overwrite_target_index_token: _Optional[str] = ..., registry_auths_json: _Optional[str] = ..., cnr_token: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "request_type", "state", "state_reason", "user", "batch", "queue", "serial", "serial_key", "binary_image_config_json", "index_to_gitlab_push_map_json", "add", "rm", "regenerate_bundle", "merge_index_image", "create_empty_index", "recursive_related_bundles", "fbc_operations", "add_deprecations", "secrets")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    SERIAL_KEY_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    INDEX_TO_GITLAB_PUSH_MAP_JSON_FIELD_NUMBER: _ClassVar[int]
    ADD_FIELD_NUMBER: _ClassVar[int]
    RM_FIELD_NUMBER: _ClassVar[int]
    REGENERATE_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    MERGE_INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_EMPTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_RELATED_BUNDLES_FIELD_NUMBER: _ClassVar[int]
    FBC_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    ADD_DEPRECATIONS_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    id: int
    request_type: RequestType
    state: RequestState
    state_reason: str
    user: str
    batch: int
    queue: str
    serial: bool
    serial_key: str
    binary_image_config_json: str
    index_to_gitlab_push_map_json: str
    add: AddParams
    rm: RmParams
    regenerate_bundle: RegenerateBundleParams
    merge_index_image: MergeIndexImageParams
    create_empty_index: CreateEmptyIndexParams
    recursive_related_bundles: RecursiveRelatedBundlesParams
    fbc_operations: FbcOperationsParams
    add_deprecations: AddDeprecationsParams
    secrets: RequestSecrets
    def __init__(self, id: _Optional[int] = ..., request_type: _Optional[_Union[RequestType, str]] = ..., state: _Optional[_Union[RequestState, str]] = ..., state_reason: _Optional[str] = ..., user: _Optional[str] = ..., batch: _Optional[int] = ..., queue: _Optional[str] = ..., serial: _Optional[bool] = ..., serial_key: _Optional[str] = ..., binary_image_config_json: _Optional[str] = ..., index_to_gitlab_push_map_json: _Optional[str] = ..., add: _Optional[_Union[AddParams, _Mapping]] = ..., rm: _Optional[_Union[RmParams, _Mapping]] = ..., regenerate_bundle: _Optional[_Union[RegenerateBundleParams, _Mapping]] = ..., merge_index_image: _Optional[_Union[MergeIndexImageParams, _Mapping]] = ..., create_empty_index: _Optional[_Union[CreateEmptyIndexParams, _Mapping]] = ..., recursive_related_bundles: _Optional[_Union[RecursiveRelatedBundlesParams, _Mapping]] = ..., fbc_operations: _Optional[_Union[FbcOperationsParams, _Mapping]] = ..., add_deprecations: _Optional[_Union[AddDeprecationsParams, _Mapping]] = ..., secrets: _Optional[_Union[RequestSecrets, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class RequestResults(_message.Message):
    __slots__ = ("arches", "binary_image", "binary_image_resolved", "distribution_scope", "from_index_resolved", "index_image", "index_image_resolved", "internal_index_image_copy", "internal_index_image_copy_resolved", "bundle_mapping", "bundle_image", "from_bundle_image_resolved", "source_from_index_resolved", "target_index_resolved", "parent_bundle_image_resolved", "fbc_fragments_resolved", "fbc_fragment_resolved")
    class BundleMappingEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: StringList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[StringList, _Mapping]] = ...) -> None: ...
    ARCHES_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    BINARY_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    INDEX_IMAGE_FIELD_NUMBER: _ClassVar[int]
    INDEX_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_INDEX_IMAGE_COPY_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_INDEX_IMAGE_COPY_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_MAPPING_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    FROM_BUNDLE_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FROM_INDEX_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    TARGET_INDEX_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    PARENT_BUNDLE_IMAGE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    FBC_FRAGMENTS_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    FBC_FRAGMENT_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    arches: _containers.RepeatedScalarFieldContainer[str]
    binary_image: str
    binary_image_resolved: str
    distribution_scope: str
    from_index_resolved: str
    index_image: str
    index_image_resolved: str
    internal_index_image_copy: str
    internal_index_image_copy_resolved: str
    bundle_mapping: _containers.MessageMap[str, StringList]
    bundle_image: str
    from_bundle_image_resolved: str
    source_from_index_resolved: str
    target_index_resolved: str
    parent_bundle_image_resolved: str
    fbc_fragments_resolved: StringList
    fbc_fragment_resolved: str
    def __init__(self, arches: _Optional[_Iterable[str]] = ..., binary_image: _Optional[str] = ..., binary_image_resolved: _Optional[str] = ..., distribution_scope: _Optional[str] = ..., from_index_resolved: _Optional[str] = ..., index_image: _Optional[str] = ..., index_image_resolved: _Optional[str] = ..., internal_index_image_copy: _Optional[str] = ..., internal_index_image_copy_resolved: _Optional[str] = ..., bundle_mapping: _Optional[_Mapping[str, StringList]] = ..., bundle_image: _Optional[str] = ..., from_bundle_image_resolved: _Optional[str] = ..., source_from_index_resolved: _Optional[str] = ..., target_index_resolved: _Optional[str] = ..., parent_bundle_image_resolved: _Optional[str] = ..., fbc_fragments_resolved: _Optional[_Union[StringList, _Mapping]] = ..., fbc_fragment_resolved: _Optional[str] = ...) -> None: ...

class ClaimJobRequest(_message.Message):
    __slots__ = ("id", "holder", "ttl_seconds", "token")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: int
    holder: str
    ttl_seconds: float
    token: int
    def __init__(self, id: _Optional[int] = ..., holder: _Optional[str] = ..., ttl_seconds: _Optional[float] = ..., token: _Optional[int] = ...) -> None: ...

class ClaimFollowersRequest(_message.Message):
    __slots__ = ("id", "holder", "ttl_seconds", "max_jobs")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_JOBS_FIELD_NUMBER: _ClassVar[int]
    id: int
    holder: str
    ttl_seconds: float
    max_jobs: int
    def __init__(self, id: _Optional[int] = ..., holder: _Optional[str] = ..., ttl_seconds: _Optional[float] = ..., max_jobs: _Optional[int] = ...) -> None: ...

class ClaimedJob(_message.Message):
    __slots__ = ("job", "lease")
    JOB_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    job: Job
    lease: Lease
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., lease: _Optional[_Union[Lease, _Mapping]] = ...) -> None: ...

class ClaimFollowersResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[ClaimedJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[ClaimedJob, _Mapping]]] = ...) -> None: ...

class Lease(_message.Message):
    __slots__ = ("token", "ttl_seconds")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    token: int
    ttl_seconds: float
    def __init__(self, token: _Optional[int] = ..., ttl_seconds: _Optional[float] = ...) -> None: ...

class UpdateJobRequest(_message.Message):
    __slots__ = ("id", "state", "state_reason", "results", "lease_token")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: int
    state: RequestState
    state_reason: str
    results: RequestResults
    lease_token: int
    def __init__(self, id: _Optional[int] = ..., state: _Optional[_Union[RequestState, str]] = ..., state_reason: _Optional[str] = ..., results: _Optional[_Union[RequestResults, _Mapping]] = ..., lease_token: _Optional[int] = ...) -> None: ...

class UpdateJobResponse(_message.Message):
    __slots__ = ("job", "state_changed")
    JOB_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    job: Job
    state_changed: bool
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., state_changed: _Optional[bool] = ...) -> None: ...

class WorkItem(_message.Message):
    __slots__ = ("request_id", "request_type", "queue", "serial", "serial_key")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    SERIAL_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    request_type: RequestType
    queue: str
    serial: bool
    serial_key: str
    def __init__(self, request_id: _Optional[int] = ..., request_type: _Optional[_Union[RequestType, str]] = ..., queue: _Optional[str] = ..., serial: _Optional[bool] = ..., serial_key: _Optional[str] = ...) -> None: ...
