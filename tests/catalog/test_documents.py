"""Bounded decoding of catalog and manifest documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import limits
from services.catalog.documents import decode_stream, read_bounded
from services.common.errors import CatalogError


def test_json_stream_yields_concatenated_objects() -> None:
    data = b'{"schema": "a"}\n{"schema": "b"}{"schema": "c"}\n'
    assert [d["schema"] for d in decode_stream(data, name="x.json")] == ["a", "b", "c"]


def test_yaml_stream_skips_empty_documents_and_keeps_timestamps_as_text() -> None:
    data = b"---\n---\nwhen: 2025-01-21T07:15:29\ny: 1\nflag: yes\n---\nsecond: 2\n"
    docs = list(decode_stream(data, name="x.yaml"))
    assert docs == [{"when": "2025-01-21T07:15:29", True: 1, "flag": True}, {"second": 2}]


def test_broken_yaml_error_names_file_and_document() -> None:
    with pytest.raises(CatalogError, match=r"^bad\.yaml: invalid YAML in document 1"):
        list(decode_stream(b"a: [1, 2\nb: c\n", name="bad.yaml"))


def test_broken_json_error_names_file_line_and_column() -> None:
    with pytest.raises(CatalogError, match=r"^bad\.json: invalid JSON in document 2 at line 2"):
        list(decode_stream(b'{"a": 1}\n{"b": }', name="bad.json"))


def test_json_nan_literal_is_rejected() -> None:
    with pytest.raises(CatalogError, match="invalid JSON literal NaN"):
        list(decode_stream(b'{"a": NaN}', name="nan.json"))


def test_billion_laughs_yaml_is_refused_before_expansion() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    bomb = ("\n".join(lines) + "\n").encode()
    with pytest.raises(CatalogError, match="possible YAML bomb"):
        list(decode_stream(bomb, name="bomb.yaml"))


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(CatalogError, match="recursive alias"):
        list(decode_stream(b"a: &a [*a]\n", name="loop.yaml"))


def test_moderate_aliasing_is_allowed() -> None:
    docs = list(decode_stream(b"base: &b {k: v}\nother: *b\n", name="ok.yaml"))
    assert docs == [{"base": {"k": "v"}, "other": {"k": "v"}}]


def test_deeply_nested_yaml_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_NESTING_DEPTH", 50)
    nested = ("a: &x " + "[" * 60 + "]" * 60 + "\n").encode()
    with pytest.raises(CatalogError, match="nested deeper than 50 levels"):
        list(decode_stream(nested, name="deep.yaml"))


def test_deeply_nested_json_is_reported_not_crashing() -> None:
    nested = ('{"a":' + "[" * 100_000 + "]" * 100_000 + "}").encode()
    with pytest.raises(CatalogError, match="nested too deeply"):
        list(decode_stream(nested, name="deep.json"))


def test_read_bounded_refuses_oversized_file_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"x" * 2048)
    with pytest.raises(
        CatalogError, match=r"huge\.yaml: file is 2048 bytes, larger than the 1024-byte limit"
    ):
        read_bounded(path, max_bytes=1024, label="huge.yaml")
    assert read_bounded(path, max_bytes=4096) == b"x" * 2048
