"""``go_marshal``: Go's ``json.Marshal`` bytes, whether orjson or ``json`` encodes the value.

Expected values come from the corpus oracle's encoder (tests/catalog/corpus/oracle.py), written
from Go's ``encoding/json`` rules without ``services.catalog``: map keys sorted by their UTF-8
bytes, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, other text as it is. Values that orjson
could print differently (floats, keys that are not strings, integers beyond 64 bits, lone
surrogates, cycles) must give what the ``json`` path gave before orjson was used.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.catalog import gojson
from tests.catalog.corpus.oracle import go_marshal as oracle_marshal

# every character but lone surrogates (which no YAML or JSON parser of valid UTF-8 produces),
# with the ones Go escapes and the lead byte they share with common punctuation made likely
_TEXT = st.text(
    st.one_of(
        st.sampled_from('<>&\u2028\u2029\u2019\u2014"\\\x00\x1f\x7f/é\U0001f600'),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)
_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | _TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_TEXT, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PLAIN)
def test_plain_values_are_encoded_as_go_does(value: Any) -> None:
    expected = oracle_marshal(value)
    assert gojson.go_marshal(value) == expected
    assert gojson.go_marshal_bytes(value) == expected.encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PLAIN)
def test_unsorted_values_keep_the_bytes_of_the_json_path(value: Any) -> None:
    # sort_keys=False models Go structs: the dict's own order, at every level as before
    before = gojson._json_marshal(value, False)
    assert gojson.go_marshal(value, sort_keys=False) == before
    assert gojson.go_marshal_bytes(value, sort_keys=False) == before.encode("utf-8")


def test_the_escapes_go_makes() -> None:
    value = {"b": "a<b>&c\u2028d\u2029e", "a": "it\u2019s \u2014 fine\n\t\x01"}
    expected = (
        '{"a":"it\u2019s \u2014 fine\\n\\t\\u0001",'
        '"b":"a\\u003cb\\u003e\\u0026c\\u2028d\\u2029e"}'
    )  # by hand from encoding/json's encodeState.string
    assert gojson.go_marshal(value) == expected == oracle_marshal(value)


@pytest.mark.parametrize(
    "value",
    [
        {"f": 1.5, "g": [1e-07, 1e16, -0.0]},  # floats: json's formatting, as before
        # the next four orjson refuses (so they would reach json without the walk too)
        {1: "int key", None: "null key"},  # json's key conversion
        {False: "bool key"},
        [2**64, -(2**63) - 1],  # beyond 64 bits
        ["lone \ud800 surrogate"],
        {"nested": {"deep": [{"x": [1.5e-07]}]}},  # orjson alone prints 1.5e-7
    ],
    ids=["floats", "keys", "bool-key", "big-ints", "surrogate", "nested-float"],
)
def test_values_orjson_could_print_differently_give_the_json_paths_bytes(value: Any) -> None:
    before = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
    assert gojson.go_marshal(value, sort_keys=False) == before


@pytest.mark.parametrize("value", [float("nan"), {"x": [float("inf")]}, -float("inf")])
def test_non_finite_floats_are_refused_as_before(value: Any) -> None:
    # Go's json.Marshal returns UnsupportedValueError; orjson alone would have written null
    with pytest.raises(ValueError, match="Out of range float values"):
        gojson.go_marshal(value)
    with pytest.raises(ValueError, match="Out of range float values"):
        gojson.go_marshal_bytes(value)


def test_a_cyclic_value_fails_as_before_instead_of_walking_forever() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(RecursionError):
        gojson.go_marshal(cyclic)


def test_values_nested_deeper_than_orjson_allows_are_still_encoded() -> None:
    value: list[Any] = []
    inner = value
    for _ in range(300):  # orjson stops at 254 levels; json (and Go) go on
        inner.append([])
        inner = inner[0]
    assert gojson.go_marshal(value) == "[" * 301 + "]" * 301
