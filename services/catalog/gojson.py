"""JSON encodings that reproduce Go's ``encoding/json`` byte for byte (for the data we emit).

opm writes catalogs with a Go ``json.Encoder`` (4-space indent, HTML escaping off) and embeds
objects marshalled with ``json.Marshal`` (compact, keys of maps sorted, HTML escaping on).
Python's encoder matches Go's for everything we produce except three details handled here:
Go always escapes U+2028/U+2029, escapes ``<``, ``>`` and ``&`` when HTML escaping is on, and
prints integral floating-point numbers without a fraction (``1`` not ``1.0``).

Those characters can only occur inside JSON strings, so replacing them in the encoded text
is exact.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "compact",
    "go_marshal",
    "indent",
    "normalize_numbers",
]


def _escape_ls_ps(text: str) -> str:
    if "\u2028" in text:
        text = text.replace("\u2028", "\\u2028")
    if "\u2029" in text:
        text = text.replace("\u2029", "\\u2029")
    return text


def _escape_html(text: str) -> str:
    # str.replace is a C loop; str.translate with a mapping is far slower on large texts.
    if "<" in text:
        text = text.replace("<", "\\u003c")
    if ">" in text:
        text = text.replace(">", "\\u003e")
    if "&" in text:
        text = text.replace("&", "\\u0026")
    return _escape_ls_ps(text)


def indent(obj: Any) -> str:
    """Encode like Go's ``Encoder`` with ``SetIndent("", "    ")`` and HTML escaping off.

    Returns the text without the trailing newline the Go encoder appends.
    """
    return _escape_ls_ps(
        json.dumps(obj, indent=4, ensure_ascii=False, allow_nan=False, check_circular=False)
    )


def compact(obj: Any, *, sort_keys: bool = False) -> str:
    """Encode compactly with HTML escaping off (Go ``json.Compact`` of opm's raw values)."""
    return _escape_ls_ps(
        json.dumps(
            obj,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            check_circular=False,
            sort_keys=sort_keys,
        )
    )


def go_marshal(obj: Any, *, sort_keys: bool = True) -> str:
    """Encode like Go's ``json.Marshal`` of a map/unstructured object.

    Compact, map keys sorted, ``<``/``>``/``&`` escaped as ``\\u003c``/``\\u003e``/``\\u0026``.
    """
    text = json.dumps(
        obj,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        check_circular=False,
        sort_keys=sort_keys,
    )
    return _escape_html(text)


def normalize_numbers(obj: Any) -> Any:
    """Return ``obj`` with integral floats turned into ints, as Go's float64 formatting shows them.

    Kubernetes' unstructured decoding (and sigs.k8s.io/yaml) turns ``1.0`` into the integer
    ``1``; Python keeps ``1.0``. Values of 1e21 and more keep their float form, as Go does.
    """
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, (dict, list)):
                normalize_numbers(value)
            elif type(value) is float and value.is_integer() and abs(value) < 1e21:
                obj[key] = int(value)
        return obj
    if isinstance(obj, list):
        for i, value in enumerate(obj):
            if isinstance(value, (dict, list)):
                normalize_numbers(value)
            elif type(value) is float and value.is_integer() and abs(value) < 1e21:
                obj[i] = int(value)
        return obj
    if type(obj) is float and obj.is_integer() and abs(obj) < 1e21:
        return int(obj)
    return obj
