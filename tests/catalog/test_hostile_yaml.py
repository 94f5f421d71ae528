"""Hostile YAML is refused before a parser builds it: nesting that would overflow libyaml's
recursive composer, node counts that would exhaust memory, alias chains that operator-manifest
would walk for minutes. Each case comes from issue 12's measurements (a 60 KB ``[[[[`` document
killed the worker; a 3.8 MiB document took 742 MiB; a 1.1 KB alias chain took 6.8 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.catalog import limits
from services.catalog.documents import (
    check_yaml,
    check_yaml_files,
    decode_stream,
    loads_bounded,
    too_many_json_values,
)
from services.catalog.yaml_to_json import normalize_yaml_to_json
from services.common.errors import CatalogError
from tests.conftest import REPO


def deep(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


def alias_chain(levels: int) -> str:
    """Each anchor is a list of two aliases of the one before: 2**levels nodes once expanded,
    in ~30 bytes a level."""
    lines = ["a0: &a0 {k: v}"]
    lines += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_50000_levels_of_nesting_are_refused_without_crashing_the_process() -> None:
    # in a child process: without the bound, libyaml's C composer overflows the stack (SIGSEGV)
    code = (
        "from services.catalog.documents import decode_stream\n"
        "from services.common.errors import CatalogError\n"
        "try:\n"
        "    list(decode_stream(b'[' * 50000 + b']' * 50000, name='csv.yaml'))\n"
        "except CatalogError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "csv.yaml: YAML document 1 is nested deeper than 512 levels"


def test_nesting_without_any_alias_is_bounded() -> None:
    with pytest.raises(CatalogError, match="nested deeper than 512 levels"):
        list(decode_stream(deep(513), name="deep.yaml"))
    assert list(decode_stream(deep(512), name="ok.yaml"))


def test_nesting_is_counted_through_aliases() -> None:
    text = "a: &a " + "[" * 300 + "]" * 300 + "\nb: " + "[" * 300 + "*a" + "]" * 300 + "\n"
    with pytest.raises(CatalogError, match="nested deeper than 512 levels"):
        check_yaml(text, name="x.yaml")


def test_a_document_with_too_many_nodes_is_refused_before_it_is_built() -> None:
    flat = ("[" + ",".join(["1"] * (limits.MAX_YAML_NODES + 1)) + "]").encode()
    with pytest.raises(CatalogError, match=r"^flat\.yaml: YAML document 1 has more than 500000"):
        list(decode_stream(flat, name="flat.yaml"))


def test_the_node_bound_is_per_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_YAML_NODES", 100)
    docs = "---\n" + ("---\n".join("[" + ",".join(["1"] * 90) + "]\n" for _ in range(5)))
    assert len(list(decode_stream(docs.encode(), name="many.yaml"))) == 5


def test_yaml_to_json_refuses_deep_nesting(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_bytes(deep(2000))
    with pytest.raises(CatalogError, match="nested deeper than 512 levels"):
        normalize_yaml_to_json(tmp_path)


def test_round_trip_files_bound_nodes_after_alias_expansion(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "csv.yaml").write_text(alias_chain(20))  # ~650 bytes, 2**20 nodes expanded
    with pytest.raises(CatalogError, match=r"^manifests/csv\.yaml: .*possible YAML bomb"):
        check_yaml_files(manifests)
    # the libyaml bound lets it through (aliases are shared, never copied, there)
    check_yaml(alias_chain(16), name="ok.yaml")


def test_round_trip_files_refuse_deep_nesting_and_bad_syntax(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    (manifests / "sub").mkdir(parents=True)
    (manifests / "sub" / "crd.yml").write_bytes(deep(600))
    with pytest.raises(CatalogError, match=r"^manifests/sub/crd\.yml: .*deeper than 512"):
        check_yaml_files(manifests)
    (manifests / "sub" / "crd.yml").write_text("a: [unclosed\n")
    with pytest.raises(CatalogError, match=r"^manifests/sub/crd\.yml: invalid YAML"):
        check_yaml_files(manifests)
    (manifests / "sub" / "crd.yml").write_text("kind: CustomResourceDefinition\n")
    (manifests / "notes.txt").write_bytes(deep(600))  # not read by operator-manifest
    check_yaml_files(manifests)


def test_a_json_file_with_too_many_values_is_refused_before_decoding() -> None:
    # 12 MB of [1,1,...]; 66 MiB of [{},{},...] took 1.7 GiB to decode
    flat = b'{"a": [' + b"1," * (limits.MAX_JSON_VALUES + 1) + b"1]}"
    with pytest.raises(CatalogError, match=r"^flat\.json: more than 5000000 JSON values"):
        list(decode_stream(flat, name="flat.json"))
    ok = b'{"a": [' + b"1," * 1_000_000 + b"1]}"
    assert len(next(iter(decode_stream(ok, name="ok.json")))["a"]) == 1_000_001


def test_the_value_bound_counts_commas_and_opening_brackets_up_to_the_limit() -> None:
    # the rule: commas + "{" + "[" > MAX_JSON_VALUES; a shorter text cannot have more of them,
    # so it is not counted (the boundary is the same either way)
    limit = limits.MAX_JSON_VALUES
    at = ",{[" * (limit // 3) + ",," * (limit % 3 == 2) + "," * (limit % 3 == 1)
    assert len(at) == limit
    for text in (at, "[" * limit, b"," * limit, "x" * (limit + 1), at + " "):
        assert not too_many_json_values(text)
    for text in (at + "[", "[" * (limit + 1), b"{" * (limit + 1)):
        assert too_many_json_values(text)


def test_json_inside_documents_is_bounded_too() -> None:
    # annotations (olm.properties), bundle objects, index.db columns
    with pytest.raises(ValueError, match="more than 5000000 JSON values"):
        loads_bounded("[" + "{}," * limits.MAX_JSON_VALUES + "{}]")
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_bounded("[" * 100_000 + "]" * 100_000)
    assert loads_bounded('[{"type": "olm.maxOpenShiftVersion", "value": "4.8"}]')
