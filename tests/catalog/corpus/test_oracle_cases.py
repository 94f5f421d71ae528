"""Small hand-written bundles: the oracle's reading checked by hand, and the engine against it.

Each case is a pattern met in operator-framework/community-operators (named in the test) or a
rule of opm's code; the expected values are written out here from opm's rules, so the oracle is
checked too, not only the engine against the oracle.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from services.catalog import render_bundle

from .compare import compare_bundle
from .convert import LAYOUT_BUNDLE, CorpusBundle, convert_package, semver_key
from .oracle import OracleError, go_marshal, read_bundle

IMAGE = "quay.io/example/bundle@sha256:" + "a" * 64

CSV = """\
apiVersion: operators.coreos.com/v1alpha1
kind: ClusterServiceVersion
metadata:
  name: demo.v1.0.0
  annotations:
    olm.skipRange: '<1.0.0'
{annotations}
spec:
  version: 1.0.0
  replaces: demo.v0.9.0
  displayName: Demo
{spec}
  install:
    strategy: deployment
    spec:
      deployments:
      - name: demo
        spec:
          template:
            spec:
              initContainers:
              - name: init
                image: quay.io/example/init:1
              containers:
              - name: manager
                image: quay.io/example/operator:1
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  versions:
  - name: v1
  - name: v1beta1
"""

ANNOTATIONS = """\
annotations:
  operators.operatorframework.io.bundle.package.v1: demo
  operators.operatorframework.io.bundle.channels.v1: stable,fast
  operators.operatorframework.io.bundle.channel.default.v1: stable
{extra}
"""


def _indent(text: str, spaces: int) -> str:
    return textwrap.indent(textwrap.dedent(text), " " * spaces) if text else ""


def make_bundle(
    root: Path,
    *,
    annotations: str = "",
    spec: str = "",
    extra_annotations: str = "",
    files: dict[str, str] | None = None,
    metadata_files: dict[str, str] | None = None,
) -> CorpusBundle:
    """A bundle directory with a CSV, one CRD and annotations (plus extra files)."""
    (root / "manifests").mkdir(parents=True)
    (root / "metadata").mkdir()
    csv = CSV.format(annotations=_indent(annotations, 4), spec=_indent(spec, 2))
    (root / "manifests" / "demo.clusterserviceversion.yaml").write_text(csv)
    (root / "manifests" / "widgets.crd.yaml").write_text(CRD)
    for name, text in (files or {}).items():
        (root / "manifests" / name).write_text(text)
    (root / "metadata" / "annotations.yaml").write_text(
        ANNOTATIONS.format(extra=_indent(extra_annotations, 2))
    )
    for name, text in (metadata_files or {}).items():
        (root / "metadata" / name).write_text(text)
    return CorpusBundle("demo", f"demo/{root.name}", root, LAYOUT_BUNDLE)


def test_oracle_reads_the_fields_opm_derives(tmp_path: Path) -> None:
    bundle = make_bundle(
        tmp_path / "b",
        annotations="""\
            olm.properties: '[{"type": "olm.maxOpenShiftVersion", "value": "4.8"}]'
        """,
        spec="""\
            skips: [demo.v0.8.0]
            customresourcedefinitions:
              owned:
              - {name: widgets.example.com, version: v1, kind: Widget}
              required:
              - {name: gadgets.other.io, version: v2, kind: Gadget}
            apiservicedefinitions:
              owned:
              - {name: things, group: api.example.com, version: v1alpha1, kind: Thing}
              required:
              - {name: metrics, group: metrics.k8s.io, version: v1beta1, kind: PodMetrics}
            relatedImages:
            - {name: operator, image: quay.io/example/operator:1}
        """,
        metadata_files={
            "dependencies.yaml": textwrap.dedent("""\
                dependencies:
                - type: olm.package
                  value: {packageName: etcd, version: ">=0.9.0"}
                - type: olm.gvk
                  value: {group: etcd.database.coreos.com, kind: EtcdCluster, version: v1beta2}
                - type: olm.constraint
                  value:
                    failureMessage: needs a widget
                    cel: {rule: 'properties.exists(p, p.type == "olm.gvk")'}
            """)
        },
    )
    oracle = read_bundle(bundle.root, IMAGE)
    assert oracle.name == "demo.v1.0.0"
    assert oracle.package == "demo"
    assert oracle.channels == ("stable", "fast")
    assert oracle.default_channel == "stable"
    assert (oracle.version, oracle.replaces, oracle.skips) == (
        "1.0.0",
        "demo.v0.9.0",
        ("demo.v0.8.0",),
    )
    assert oracle.skip_range == "<1.0.0"
    assert oracle.package_property == {"packageName": "demo", "version": "1.0.0"}
    assert oracle.provided_gvks == {
        ("example.com", "Widget", "v1"),
        ("example.com", "Widget", "v1beta1"),
        ("api.example.com", "Thing", "v1alpha1"),
    }
    assert oracle.required_gvks == {
        ("other.io", "Gadget", "v2"),
        ("metrics.k8s.io", "PodMetrics", "v1beta1"),
        ("etcd.database.coreos.com", "EtcdCluster", "v1beta2"),
    }
    assert oracle.required_packages == (("etcd", ">=0.9.0"),)
    assert [t for t, _ in oracle.other_properties] == ["olm.constraint", "olm.maxOpenShiftVersion"]
    assert oracle.related_images == (
        ("quay.io/example/bundle@sha256:" + "a" * 64, ""),
        ("quay.io/example/init:1", ""),
        ("quay.io/example/operator:1", "operator"),
    )
    # The properties in opm's order: sorted by type, then value bytes; objects last.
    types = [t for t, _ in oracle.properties]
    assert types == [
        "olm.constraint",
        "olm.gvk",
        "olm.gvk",
        "olm.gvk",
        "olm.gvk.required",
        "olm.gvk.required",
        "olm.gvk.required",
        "olm.maxOpenShiftVersion",
        "olm.package",
        "olm.package.required",
        "olm.bundle.object",
        "olm.bundle.object",
    ]
    required = [json.loads(v) for t, v in oracle.properties if t == "olm.gvk.required"]
    assert [list(v) for v in required] == [["group", "kind", "version"]] * 3
    assert [v["group"] for v in required] == [
        "etcd.database.coreos.com",
        "metrics.k8s.io",
        "other.io",
    ]
    assert oracle.csv_metadata is not None
    assert list(oracle.csv_metadata) == [
        "annotations",
        "apiServiceDefinitions",
        "crdDescriptions",
        "displayName",
        "provider",
    ]


def test_oracle_refuses_a_bundle_missing_an_owned_crd(tmp_path: Path) -> None:
    bundle = make_bundle(
        tmp_path / "b",
        spec="""\
            customresourcedefinitions:
              owned:
              - {name: gizmos.example.com, version: v1, kind: Gizmo}
        """,
    )
    with pytest.raises(OracleError, match="error checking provided apis in bundle demo.v1.0.0"):
        read_bundle(bundle.root, IMAGE)
    assert compare_bundle(bundle).both_failed


def test_go_marshal_matches_go_encoding_json() -> None:
    # Values from Go's encoding/json (json.Marshal): sorted keys, <>& escaped, float forms.
    assert go_marshal({"b": 1, "a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e","b":1}'
    assert go_marshal([1e21, 1e-7, 0.1, 100.5, -0.0]) == "[1e+21,1e-7,0.1,100.5,-0]"
    assert go_marshal("\u2028") == '"\\u2028"'


def test_null_csv_annotation_is_an_empty_string(tmp_path: Path) -> None:
    # hazelcast-operator 0.3.x and nfd-operator 0.x carry `createdAt:` with no value.
    bundle = make_bundle(tmp_path / "b", annotations="createdAt:\ncontainerImage:\n")
    outcome = compare_bundle(bundle)
    assert outcome.mismatches == []
    assert outcome.rendered is not None
    metadata = next(p for p in outcome.rendered.bundle.properties if p.type == "olm.csv.metadata")
    assert metadata.value["annotations"]["createdAt"] == ""


def test_csv_fields_match_case_insensitively_as_go_decodes_them(tmp_path: Path) -> None:
    # banzaicloud-kafka-operator 0.3.1 and kubestone 0.4.0 spell `MinKubeVersion:`.
    bundle = make_bundle(tmp_path / "b", spec="MinKubeVersion: 1.12.0\nMaturity: beta\n")
    outcome = compare_bundle(bundle)
    assert outcome.mismatches == []
    assert outcome.rendered is not None
    metadata = next(p for p in outcome.rendered.bundle.properties if p.type == "olm.csv.metadata")
    assert (metadata.value["minKubeVersion"], metadata.value["maturity"]) == ("1.12.0", "beta")


def test_null_extra_annotation_in_annotations_file_is_accepted(tmp_path: Path) -> None:
    # pmem-csi-operator 0.7.0-0.9.1: `operators.operatorframework.io.metrics.project_layout:`.
    bundle = make_bundle(
        tmp_path / "b", extra_annotations="operators.operatorframework.io.metrics.project_layout:\n"
    )
    assert compare_bundle(bundle).mismatches == []
    rendered = render_bundle(bundle.root, IMAGE)
    assert rendered.annotations["operators.operatorframework.io.metrics.project_layout"] == ""


def test_package_manifest_conversion_follows_opm_bundle_generate(tmp_path: Path) -> None:
    package = tmp_path / "demo"
    for version, replaces, skips in (
        ("0.1.0", "", ""),
        ("0.2.0", "demo.v0.1.0", ""),
        ("0.3.0", "demo.v0.2.0", "demo.v0.2.5"),
        ("0.2.5", "", ""),
        ("9.9.9", "", ""),
    ):
        (package / version).mkdir(parents=True)
        spec: dict[str, object] = {"version": version}
        if replaces:
            spec["replaces"] = replaces
        if skips:
            spec["skips"] = [skips]
        csv = {
            "apiVersion": "operators.coreos.com/v1alpha1",
            "kind": "ClusterServiceVersion",
            "metadata": {"name": f"demo.v{version}"},
            "spec": spec,
        }
        (package / version / "demo.clusterserviceversion.yaml").write_text(json.dumps(csv))
    (package / "ci.yaml").write_text("reviewers: [someone]\n")
    (package / "demo.package.yaml").write_text(
        "packageName: demo\ndefaultChannel: stable\nchannels:\n"
        "- {name: stable, currentCSV: demo.v0.3.0}\n- {name: alpha, currentCSV: demo.v0.2.0}\n"
    )
    bundles, problems = convert_package(package, tmp_path / "out")
    channels = {}
    for bundle in bundles:
        oracle = read_bundle(bundle.root, IMAGE)
        channels[oracle.version] = (oracle.channels, oracle.default_channel)
    # stable reaches 0.3.0 -> 0.2.0 -> 0.1.0 and the skipped 0.2.5; alpha reaches 0.2.0, 0.1.0.
    assert channels == {
        "0.1.0": (("alpha", "stable"), "stable"),
        "0.2.0": (("alpha", "stable"), "stable"),
        "0.2.5": (("stable",), "stable"),
        "0.3.0": (("stable",), "stable"),
    }
    assert [(p.source, p.reason.split(" (")[0]) for p in problems] == [
        ("demo/9.9.9", "error interpreting channels")
    ]


def test_semver_key_orders_prereleases_first() -> None:
    versions = ["1.0.0", "1.0.0-rc.1", "0.9.10", "1.0.0-alpha", "0.9.9", "not-a-version"]
    assert sorted(versions, key=semver_key) == [
        "0.9.9",
        "0.9.10",
        "1.0.0-alpha",
        "1.0.0-rc.1",
        "1.0.0",
        "not-a-version",
    ]


def test_descriptor_values_are_go_raw_messages(tmp_path: Path) -> None:
    # olm.csv.metadata decodes descriptor values as json.RawMessage from the CSV's Go JSON: a
    # null is kept as the text "null" (non-empty, so written), objects have sorted keys.
    bundle = make_bundle(
        tmp_path / "b",
        spec="""\
            customresourcedefinitions:
              owned:
              - name: widgets.example.com
                version: v1
                kind: Widget
                specDescriptors:
                - path: size
                  value:
                - path: mode
                  value: {b: 1, a: 2}
        """,
    )
    outcome = compare_bundle(bundle)
    assert outcome.mismatches == []
    assert outcome.rendered is not None
    metadata = next(p for p in outcome.rendered.bundle.properties if p.type == "olm.csv.metadata")
    descriptors = metadata.value["crdDescriptions"]["owned"][0]["specDescriptors"]
    assert json.dumps(descriptors) == json.dumps(
        [{"path": "size", "value": None}, {"path": "mode", "value": {"a": 2, "b": 1}}]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # go-yaml v2 resolve.go, as sigs.k8s.io/yaml uses it: no YAML 1.1 sexagesimal numbers,
        ("12:30", "12:30"),
        ("190:20:30", "190:20:30"),
        ("1:30.5", "1:30.5"),
        # integers are strconv.ParseInt(text without "_", base 0),
        ("0o17", 15),
        ("017", 15),
        ("1_000", 1000),
        # a leading-zero non-octal falls through to yamlStyleFloat (8.0, written as 8),
        ("08", 8),
        ("+.5", 0.5),
        ("1e3", 1000),
        # "=" is plain text, y is a bool, timestamps stay text.
        ("=", "="),
        ("y", True),
        ("2019-05-30T00:00:00Z", "2019-05-30T00:00:00Z"),
    ],
)
def test_yaml_scalars_resolve_as_go_yaml_v2(tmp_path: Path, text: str, expected: object) -> None:
    config_map = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: {text}\n"
    bundle = make_bundle(tmp_path / "b", files={"config.yaml": config_map})
    assert compare_bundle(bundle).mismatches == []
    oracle = read_bundle(bundle.root, IMAGE)
    value = next(json.loads(o) for o in oracle.objects if '"ConfigMap"' in o)["data"]["k"]
    assert (value, type(value)) == (expected, type(expected))


def test_yaml_map_keys_become_json_keys_as_sigs_yaml_writes_them(tmp_path: Path) -> None:
    # `y:` next to `x:` is the bool key true in go-yaml v2; sigs.k8s.io/yaml writes it "true",
    # int keys as decimals and float keys with float32 %g digits (FormatFloat(k, 'g', -1, 32)).
    config_map = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
        "data:\n  x: a\n  y: b\n  10: c\n  9: d\n  3.14159265: e\n  1000000.0: f\n"
    )
    bundle = make_bundle(tmp_path / "b", files={"config.yaml": config_map})
    assert compare_bundle(bundle).mismatches == []
    oracle = read_bundle(bundle.root, IMAGE)
    data = next(json.loads(o) for o in oracle.objects if '"ConfigMap"' in o)["data"]
    assert list(data) == ["10", "1e+06", "3.1415927", "9", "true", "x"]


@pytest.mark.parametrize(
    ("value_text", "expected"),
    [
        # Kubernetes' YAMLReader ends every line it reads with "\n", also a file's unterminated
        # last line (apimachinery pkg/util/yaml LineReader.Read), so a literal block scalar there
        # keeps a final "\n" (opm's alpha/declcfg/load_test.go TestLoadFS expects the same of
        # its deprecations.yaml), a folded one too,
        ("|\n    last line", "last line\n"),
        (">\n    last line", "last line\n"),
        # while a plain scalar has no line break to keep.
        ("last line", "last line"),
    ],
)
def test_unterminated_last_line_ends_with_a_newline_as_yamlreader_reads_it(
    tmp_path: Path, value_text: str, expected: str
) -> None:
    config_map = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: {value_text}"
    assert not config_map.endswith("\n")
    bundle = make_bundle(tmp_path / "b", files={"config.yaml": config_map})
    assert compare_bundle(bundle).mismatches == []
    oracle = read_bundle(bundle.root, IMAGE)
    config = next(json.loads(o) for o in oracle.objects if '"ConfigMap"' in o)
    assert config["data"]["k"] == expected
