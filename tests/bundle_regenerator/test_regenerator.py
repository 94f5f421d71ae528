"""The bundle regenerator's handler against real docker-registry processes (plain, and TLS +
htpasswd for registry_auths): states and results it records, the images it pushes, the artifact
files it writes, and the clean-up of a failed request. The request store is replaced by a
recorder of UpdateJob calls; tests/bundle_regenerator/test_e2e.py runs the whole system."""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from services.bundle_regenerator.regenerator import BundleRegenerator
from services.catalog.labels import DELIVERY_BUNDLE
from services.common.config import Settings, load_settings
from services.common.errors import CatalogError, IIBError, RegistryError
from services.common.pb.iib.v1 import requests_pb2
from services.common.processes import ManagedProcess, free_port, tcp_open
from services.common.registry.auth import Credentials
from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.images import ImageService
from services.common.worker import StoreClient, WorkContext
from services.tooling.demo.images import push_bundle_image, push_fake_binary_image
from services.tooling.servers.registry import RegistryServer, start_registry
from tests.bundle_regenerator.helpers import (
    RelatedTree,
    csv_path,
    localize_bundle,
    push_bundle_on,
    push_operands,
)

IN_PROGRESS = requests_pb2.REQUEST_STATE_IN_PROGRESS
COMPLETE = requests_pb2.REQUEST_STATE_COMPLETE
PINNED = "com.redhat.iib.pinned"
PACKAGE = "operators.operatorframework.io.bundle.package.v1"
USER, PASSWORD = "bundle-owner", "n0t-in-logs"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


class RecordingStore(StoreClient):
    """Stands in for the request store: records every UpdateJob; can refuse the final one."""

    def __init__(self, fail_on_complete: bool = False) -> None:
        self.updates: list[tuple[int | None, str | None, requests_pb2.RequestResults | None]] = []
        self.fail_on_complete = fail_on_complete

    def update(
        self,
        request_id: int,
        *,
        state: int | None = None,
        reason: str | None = None,
        results: requests_pb2.RequestResults | None = None,
        lease_token: int = 0,
    ) -> requests_pb2.UpdateJobResponse:
        if state == COMPLETE and self.fail_on_complete:
            raise IIBError("The request store is unreachable")
        self.updates.append((state, reason, results))
        return requests_pb2.UpdateJobResponse()

    @property
    def reasons(self) -> list[str | None]:
        return [reason for _, reason, _ in self.updates]


class Inputs:
    """Registries and the images every test starts from."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.plain: RegistryServer = start_registry(base / "plain")
        self.secure: RegistryServer = start_registry(
            base / "secure", tls=True, htpasswd_users={USER: PASSWORD}
        )
        self.reg = self.plain.registry
        settings = RegistrySettings(
            insecure_registries=frozenset({self.reg}),
            ca_bundles={self.secure.registry: self.secure.ca_path} if self.secure.ca_path else {},
            retry_delay=0.1,
            retry_jitter=0.1,
            retry_multiplier=0.1,
            total_attempts=2,
        )
        self.images = ImageService(RegistryClient(settings))
        self.secure_images = ImageService(
            RegistryClient(settings).with_credentials(
                {self.secure.registry: Credentials(USER, PASSWORD)}
            )
        )
        self.tree = RelatedTree(self.images, self.reg, base / "bundles")
        self.c_spec, self.b1_spec, self.b2_spec = (
            self.tree.c_spec,
            self.tree.b1_spec,
            self.tree.b2_spec,
        )
        self.parent_dir, self.parent_spec, self.parent = (
            self.tree.parent_dir,
            self.tree.parent_spec,
            self.tree.parent,
        )

    def settings(self, **extra: Any) -> Settings:
        environ = {
            "IIB_REGISTRY": self.reg,
            "IIB_INSECURE_REGISTRIES": json.dumps([self.reg]),
            "IIB_REGISTRY_CA_BUNDLE": str(self.secure.ca_path),
            "IIB_REQUEST_LOGS_DIR": str(self.base / "logs"),
            "IIB_REQUEST_RELATED_BUNDLES_DIR": str(self.base / "related"),
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(self.base / "nested"),
            "IIB_RETRY_DELAY": "0.1",
            "IIB_RETRY_JITTER": "0.1",
            "IIB_RETRY_MULTIPLIER": "0.1",
            "IIB_TOTAL_ATTEMPTS": "2",
            "IIB_WORK_DIR": str(self.base),
        }
        environ.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
        return load_settings(environ=environ)

    def close(self) -> None:
        self.plain.stop()
        self.secure.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inputs]:
    system = Inputs(tmp_path_factory.mktemp("regenerator"))
    try:
        yield system
    finally:
        system.close()


def _request(rid: int, **params: Any) -> requests_pb2.Job:
    auths = params.pop("registry_auths", None)
    request = requests_pb2.Job(id=rid, state=IN_PROGRESS)
    if "from_bundle_image" in params:
        request.request_type = requests_pb2.REQUEST_TYPE_REGENERATE_BUNDLE
        request.regenerate_bundle.CopyFrom(requests_pb2.RegenerateBundleParams(**params))
    else:
        request.request_type = requests_pb2.REQUEST_TYPE_RECURSIVE_RELATED_BUNDLES
        request.recursive_related_bundles.CopyFrom(
            requests_pb2.RecursiveRelatedBundlesParams(**params)
        )
    if auths is not None:
        request.secrets.registry_auths_json = json.dumps(auths)
    return request


def _run(
    settings: Settings, request: requests_pb2.Job, store: RecordingStore | None = None
) -> RecordingStore:
    store = store or RecordingStore()
    BundleRegenerator(settings).handle(WorkContext(request=request, store=store, delivery=1))
    return store


def _unpack(images: ImageService, spec: str, dest: Path, arch: str | None = None) -> Path:
    images.unpack(spec, dest, arch=arch, include=["manifests", "metadata"])
    return dest


def _csv(root: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(csv_path(root).read_text()))


def _tags(inputs: Inputs) -> list[str]:
    try:
        return inputs.images.list_tags(f"{inputs.reg}/iib-build:x")
    except RegistryError:
        return []


# --- regenerate-bundle -------------------------------------------------------------------------


ACME = [
    {"type": "resolve_image_pullspecs"},
    {"type": "related_bundles"},
    {"type": "image_name_from_labels", "template": "{name}-{version}"},
    {"type": "package_name_suffix", "suffix": "-acme"},
    {
        "type": "csv_annotations",
        "annotations": {"acme.io/support": "https://acme.example/{package_name}"},
    },
]


def test_regenerate_with_organization_customizations(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the worker process lowers the root level at start-up
    reg = inputs.reg
    acme = [
        *ACME,
        {"type": "registry_replacements", "replacements": {reg: "registry.acme.example/m"}},
    ]
    settings = inputs.settings(IIB_ORGANIZATION_CUSTOMIZATIONS={"acme": acme})

    store = _run(settings, _request(11, from_bundle_image=inputs.parent_spec, organization="acme"))

    output = f"{reg}/iib-build:11"
    assert store.reasons == [
        "Resolving from_bundle_image",
        "Regenerating the bundle image for the following arches: amd64",
        "Creating the manifest list",
        "The request completed successfully",
    ]
    assert [state for state, _, _ in store.updates] == [IN_PROGRESS] * 3 + [COMPLETE]
    assert store.updates[1][2] == requests_pb2.RequestResults(
        from_bundle_image_resolved=inputs.parent
    )
    assert store.updates[3][2] == requests_pb2.RequestResults(arches=["amd64"], bundle_image=output)

    # the related bundles found after pinning (related_bundles follows resolve_image_pullspecs)
    b1_pinned = inputs.images.resolve(inputs.b1_spec)
    b2_pinned = inputs.images.resolve(inputs.b2_spec)
    related = (inputs.base / "related" / "11_related_bundles.json").read_text()
    assert json.loads(related) == sorted([b1_pinned, b2_pinned])
    assert related == json.dumps(sorted([b1_pinned, b2_pinned]))  # IIB's json.dump format

    # a Docker manifest list with the per-arch image, which is tagged <tag>-amd64
    listed = inputs.images.get_manifest(output)
    assert listed.media_type == LIST
    assert [e.digest for e in listed.manifests] == [
        inputs.images.get_image_digest(f"{output}-amd64")
    ]
    config = inputs.images.get_image_config(output)
    base_config = inputs.images.get_image_config(inputs.parent)
    assert config.labels == {
        **base_config.labels,
        PINNED: "true",
        PACKAGE: "cert-utils-operator-acme",
    }
    assert config.diff_ids[:2] == base_config.diff_ids
    assert [h.get("created_by") for h in config.history if not h.get("empty_layer")][2:] == [
        "COPY ./manifests /manifests",
        "COPY ./metadata /metadata",
    ]

    root = _unpack(inputs.images, output, tmp_path / "out")
    csv = _csv(root)
    manager = inputs.images.resolve(f"{reg}/redhat-cop/cert-utils-operator:v1.0.7")
    digest = manager.rsplit("@", 1)[1]
    containers = csv["spec"]["install"]["spec"]["deployments"][0]["spec"]["template"]["spec"][
        "containers"
    ]
    # pinned, renamed from the image's labels (name-version), then moved to the acme registry
    assert containers[1]["image"] == (
        f"registry.acme.example/m/redhat-cop/cert-utils-operator-v1.0.7@{digest}"
    )
    # the CSV had relatedImages (the two related bundles): kept, and rewritten like the rest
    assert csv["spec"]["relatedImages"] == [
        {
            "name": f"related-bundle-{n}",
            "image": f"registry.acme.example/m/bundles/child-1@{pinned.rsplit('@', 1)[1]}",
        }
        for n, pinned in enumerate([b1_pinned, b2_pinned])
    ]
    assert csv["metadata"]["annotations"]["acme.io/support"] == (
        "https://acme.example/cert-utils-operator-acme"
    )
    annotations = (root / "metadata" / "annotations.yaml").read_text()
    assert f"{PACKAGE}: cert-utils-operator-acme\n" in annotations
    # the files that were not rewritten are the input's
    original = _unpack(inputs.images, inputs.parent, tmp_path / "in")
    for path in (original / "manifests").iterdir():
        if path.name != csv_path(original).name:
            assert (root / "manifests" / path.name).read_bytes() == path.read_bytes()
    # the request's log file (served by GET /builds/11/logs)
    log_text = (inputs.base / "logs" / "11.log").read_text()
    assert log_text.count("Resolving image pull specs") == 1
    assert "Applying package_name_suffix : -acme" in log_text


def test_multi_arch_bundle_with_output_registry(inputs: Inputs, tmp_path: Path) -> None:
    reg = inputs.reg
    base = push_fake_binary_image(inputs.images, f"{reg}/base:1", ["s390x", "amd64"])
    bundle_dir = localize_bundle("keepalived-operator", "1.3.3", tmp_path, reg)
    push_operands(inputs.images, bundle_dir, reg)
    bundle = push_bundle_on(inputs.images, base, bundle_dir, f"{reg}/bundles/keepalived:1.3.3")
    settings = inputs.settings(IIB_INDEX_IMAGE_OUTPUT_REGISTRY="iib.example.com")

    store = _run(settings, _request(12, from_bundle_image=f"{reg}/bundles/keepalived:1.3.3"))

    assert (
        store.reasons[1] == "Regenerating the bundle image for the following arches: amd64, s390x"
    )
    # a list resolves to the list's digest
    assert store.updates[1][2].from_bundle_image_resolved == bundle  # type: ignore[union-attr]
    assert store.updates[-1][2] == requests_pb2.RequestResults(
        arches=["amd64", "s390x"], bundle_image="iib.example.com/iib-build:12"
    )
    output = f"{reg}/iib-build:12"
    listed = inputs.images.get_manifest(output)
    assert [e.platform.architecture for e in listed.manifests if e.platform] == ["amd64", "s390x"]
    for arch in ("amd64", "s390x"):
        config = inputs.images.get_image_config(output, arch)
        assert config.architecture == arch
        assert config.labels["architecture"] == {"amd64": "x86_64"}.get(arch, arch)
        assert inputs.images.get_image_digest(f"{output}-{arch}") in [
            e.digest for e in listed.manifests
        ]
        csv = _csv(_unpack(inputs.images, output, tmp_path / arch, arch))
        assert (
            f"{reg}/redhat-cop/keepalived-operator@sha256:"
            in (csv["metadata"]["annotations"]["containerImage"])
        )


def test_already_pinned_bundle_keeps_its_manifests(inputs: Inputs, tmp_path: Path) -> None:
    reg = inputs.reg
    bundle_dir = localize_bundle(
        "opendatahub-operator", "1.1.0", tmp_path, reg, labels={PINNED: "true"}
    )
    push_operands(inputs.images, bundle_dir, reg)
    push_bundle_image(inputs.images, bundle_dir, f"{reg}/bundles/odh:1.1.0")

    store = _run(inputs.settings(), _request(13, from_bundle_image=f"{reg}/bundles/odh:1.1.0"))

    assert store.reasons[-1] == "The request completed successfully"
    root = _unpack(inputs.images, f"{reg}/iib-build:13", tmp_path / "out")
    assert csv_path(root).read_bytes() == csv_path(bundle_dir).read_bytes()
    labels = inputs.images.get_image_labels(f"{reg}/iib-build:13")
    assert labels[PINNED] == "true"  # inherited from the input image
    # the default list's related_bundles ran: an empty list is stored
    assert (inputs.base / "related" / "13_related_bundles.json").read_text() == "[]"


def test_failure_after_pushing_deletes_the_pushed_images(inputs: Inputs) -> None:
    # an earlier regeneration of the same bundle: its images must survive the clean-up below
    # (each build has its own creation time, so its manifests differ from the failed one's)
    _run(inputs.settings(), _request(18, from_bundle_image=inputs.b2_spec))
    kept = {
        tag: inputs.images.get_image_digest(f"{inputs.reg}/iib-build:{tag}")
        for tag in ("18", "18-amd64")
    }
    before = _tags(inputs)

    with pytest.raises(IIBError, match="unreachable"):
        _run(
            inputs.settings(),
            _request(14, from_bundle_image=inputs.b2_spec),
            RecordingStore(fail_on_complete=True),
        )

    tags = _tags(inputs)
    assert "14" not in tags and "14-amd64" not in tags
    assert [t for t in tags if t not in before] == []
    for tag, digest in kept.items():
        assert inputs.images.get_image_digest(f"{inputs.reg}/iib-build:{tag}") == digest


def test_not_a_bundle_image_fails_and_pushes_nothing(inputs: Inputs) -> None:
    operand = f"{inputs.reg}/redhat-cop/cert-utils-operator:v1.0.7"
    before = _tags(inputs)
    with pytest.raises(CatalogError) as error:
        _run(inputs.settings(), _request(15, from_bundle_image=operand))
    resolved = inputs.images.resolve(operand)
    assert str(error.value) == (
        f"The image {resolved} is not an operator bundle image: it has no /manifests directory"
    )
    assert _tags(inputs) == before


def test_registry_auths_are_used_and_never_logged(
    inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = f"{inputs.secure.registry}/private/cert-utils:1.0.7"
    push_bundle_image(inputs.secure_images, inputs.parent_dir, private)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    caplog.set_level(logging.DEBUG)

    with pytest.raises(RegistryError) as error:
        _run(inputs.settings(), _request(16, from_bundle_image=private))
    assert inputs.secure.registry in str(error.value)

    auths = {"auths": {inputs.secure.registry: {"auth": token}}}
    store = _run(inputs.settings(), _request(17, from_bundle_image=private, registry_auths=auths))

    assert store.reasons[-1] == "The request completed successfully"
    for text in (
        caplog.text,
        (inputs.base / "logs" / "17.log").read_text(),
        str(store.updates),
    ):
        assert PASSWORD not in text and token not in text


# --- recursive-related-bundles ----------------------------------------------------------------


def test_recursive_related_bundles(inputs: Inputs) -> None:
    store = _run(inputs.settings(), _request(21, parent_bundle_image=inputs.parent_spec))

    assert store.reasons == [
        "Resolving parent_bundle_image",
        f"Finding recursive related bundles for the bundle: {inputs.parent_spec}",
        "Writing recursive related bundles to a file",
        "The request completed successfully",
    ]
    assert store.updates[1][2] == requests_pb2.RequestResults(
        parent_bundle_image_resolved=inputs.parent
    )
    nested = json.loads((inputs.base / "nested" / "21_recursive_related_bundles.json").read_text())
    # deepest level first, the resolved parent last; children as written in the CSVs
    assert nested == [inputs.c_spec, inputs.b2_spec, inputs.b1_spec, inputs.parent]


def test_recursive_applies_the_organization_up_to_related_bundles(inputs: Inputs) -> None:
    reg = inputs.reg
    # localhost:<port> is the same registry under another name: the children are looked for
    # after the first replacement; what follows related_bundles is not applied
    alias = reg.replace("127.0.0.1", "localhost")
    customizations = [
        {"type": "registry_replacements", "replacements": {reg: alias}},
        {"type": "related_bundles"},
        {"type": "registry_replacements", "replacements": {alias: "never.example.com"}},
    ]
    settings = inputs.settings(
        IIB_ORGANIZATION_CUSTOMIZATIONS={"alias": customizations},
        IIB_INSECURE_REGISTRIES=[reg, alias],
    )

    _run(settings, _request(22, parent_bundle_image=inputs.b1_spec, organization="alias"))

    nested = json.loads((inputs.base / "nested" / "22_recursive_related_bundles.json").read_text())
    assert nested == [
        inputs.c_spec.replace(reg, alias),
        inputs.images.resolve(inputs.b1_spec),
    ]


def test_recursive_default_list_pins_before_looking(inputs: Inputs) -> None:
    """An organization without customizations gets the default list: its pull specs are
    resolved first, so the children are reported pinned."""
    _run(inputs.settings(), _request(23, parent_bundle_image=inputs.b1_spec, organization="x"))
    nested = json.loads((inputs.base / "nested" / "23_recursive_related_bundles.json").read_text())
    assert nested == [inputs.images.resolve(inputs.c_spec), inputs.images.resolve(inputs.b1_spec)]


def test_recursive_max_limit(inputs: Inputs, tmp_path: Path) -> None:
    loop = f"{inputs.reg}/bundles/loop:1"
    bundle_dir = localize_bundle(
        "redis-operator",
        "0.6.0",
        tmp_path,
        inputs.reg,
        related=[loop],
        labels={DELIVERY_BUNDLE: "true"},
    )
    push_operands(inputs.images, bundle_dir, inputs.reg, skip=[loop])
    push_bundle_image(inputs.images, bundle_dir, loop)
    settings = inputs.settings(IIB_MAX_RECURSIVE_RELATED_BUNDLES="4")

    with pytest.raises(IIBError) as error:
        _run(settings, _request(24, parent_bundle_image=loop))

    assert str(error.value) == "Max number of related bundles exceeded. Potential DOS attack!"
    assert not (inputs.base / "nested" / "24_recursive_related_bundles.json").exists()


@pytest.fixture
def s3_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto in server mode, with the environment boto3 reads."""
    port = free_port()
    proc = ManagedProcess(
        "moto",
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        tmp_path / "moto.log",
    )
    proc.start(ready=lambda: tcp_open("127.0.0.1", port), timeout=60)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3").create_bucket(Bucket="iib-artifacts")
    try:
        yield "iib-artifacts"
    finally:
        proc.stop()


def test_artifacts_go_to_s3_when_configured(
    inputs: Inputs, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = inputs.settings(
        IIB_AWS_S3_BUCKET_NAME=s3_bucket,
        IIB_REQUEST_LOGS_DIR="",
        IIB_REQUEST_RELATED_BUNDLES_DIR="",
        IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR="",
    )

    _run(settings, _request(25, parent_bundle_image=inputs.b1_spec))
    _run(settings, _request(26, from_bundle_image=inputs.b1_spec))

    client = boto3.client("s3")

    def body(key: str) -> str:
        return client.get_object(Bucket=s3_bucket, Key=key)["Body"].read().decode()

    assert json.loads(body("recursive_related_bundles/25_recursive_related_bundles.json")) == [
        inputs.c_spec,
        inputs.images.resolve(inputs.b1_spec),
    ]
    assert json.loads(body("related_bundles/26_related_bundles.json")) == [
        inputs.images.resolve(inputs.c_spec)
    ]
    assert "Writing recursive related bundles to a file" in body("request_logs/25.log")


def test_unknown_request_type_is_refused(inputs: Inputs) -> None:
    request = requests_pb2.Job(id=30, request_type=requests_pb2.REQUEST_TYPE_RM)
    request.rm.operators.append("x")
    with pytest.raises(IIBError, match="cannot handle rm requests"):
        _run(inputs.settings(), request)


def test_a_failing_log_upload_keeps_the_requests_own_error(
    inputs: Inputs, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = inputs.settings(
        IIB_AWS_S3_BUCKET_NAME=f"{s3_bucket}-missing",
        IIB_REQUEST_LOGS_DIR="",
        IIB_REQUEST_RELATED_BUNDLES_DIR="",
        IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR="",
    )
    request = requests_pb2.Job(id=31, request_type=requests_pb2.REQUEST_TYPE_RM)
    request.rm.operators.append("x")
    with pytest.raises(IIBError, match="cannot handle rm requests"):
        _run(settings, request)
    assert "could not upload the log of request 31 to S3" in caplog.text
