"""IIB's ``enforce_json_config_dir``: turn every YAML file of a catalog tree into JSON.

IIB runs this on the merge destination (§4.1.3): each ``*.yaml``/``*.yml`` file becomes
``<stem>.json`` holding ``json.dumps(doc)`` of every non-empty document, concatenated with no
separator (Python's default separators, ASCII escapes, datetimes as ISO strings); the YAML
file is then deleted. IIB parses with ruamel.yaml (YAML 1.2), so here YAML is resolved with
the YAML 1.2 core schema (``yes``/``no`` stay strings, ``0755`` is decimal). Errors use IIB's
messages. Deliberate deviation: a bare date (``2025-01-21``) is written as its ISO string,
where IIB's serializer raises.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import CatalogError

from . import limits
from .documents import check_yaml, read_bounded

__all__ = ["normalize_yaml_to_json"]

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader with YAML 1.2 core-schema scalar resolution."""


_Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    (
        "tag:yaml.org,2002:timestamp",
        r"^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}"
        r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?)$",
        list("0123456789"),
    ),
]:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_regexp), _first)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _default(obj: Any) -> str:
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    raise TypeError(f"Type {type(obj)} is not serializable.")


def _is_yaml(name: str) -> bool:
    lower = name.lower()
    return lower.endswith((".yaml", ".yml"))


def normalize_yaml_to_json(root: Path, *, max_file_bytes: int = limits.MAX_FILE_BYTES) -> list[str]:
    """Convert every YAML file under ``root`` to JSON in place; returns the files written."""
    written: list[str] = []
    for dirpath, _, filenames in os.walk(root):
        stems: dict[str, str] = {}
        for name in sorted(filenames):
            if _is_yaml(name):
                stem = Path(name).stem
                if stem in stems:
                    raise CatalogError(
                        f"Conflicting YAML files found in {dirpath}: {stems[stem]} and {name} would "
                        f"both produce {stem}.json"
                    )
                stems[stem] = name
        for name in sorted(filenames):
            if not _is_yaml(name):
                continue
            in_file = Path(dirpath) / name
            data = read_bounded(in_file, max_bytes=max_file_bytes)
            if not data:
                raise CatalogError(f"Empty YAML file found: {in_file}")
            text = data.decode("utf-8", "replace")
            chunks: list[str] = []
            try:
                check_yaml(text, name=str(in_file), syntax_errors=False)
                for document in yaml.load_all(text, Loader=_Yaml12Loader):
                    if document is None:
                        continue
                    chunks.append(json.dumps(document, default=_default))
            except (yaml.YAMLError, CatalogError, RecursionError, TypeError, ValueError) as exc:
                raise CatalogError(f"Failed to parse YAML content in {in_file}: {exc}") from None
            if not chunks:
                raise CatalogError(f"Empty YAML file found: {in_file}")
            out_file = in_file.with_name(f"{Path(name).stem}.json")
            out_file.write_text("".join(chunks), encoding="utf-8")
            in_file.unlink()
            written.append(str(out_file.relative_to(root)))
    return written
