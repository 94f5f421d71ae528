"""Semantic versions and ranges as blang/semver v4 (used by opm) parses and orders them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "SemverError",
    "Version",
    "build_id_compare",
    "parse",
    "parse_prerelease",
    "parse_range",
]

_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")


class SemverError(ValueError):
    """A version or range string blang/semver would reject (message as blang words it)."""


def _only(text: str, allowed: frozenset[str]) -> bool:
    return all(ch in allowed for ch in text)


def _parse_uint(text: str) -> int:
    if not text or not _only(text, _DIGITS):
        raise SemverError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value >= 1 << 64:
        raise SemverError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class _Pre:
    text: str
    number: int | None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Pre):
            return NotImplemented
        if self.number is not None and other.number is not None:
            return self.number < other.number
        if self.number is not None:
            return True
        if other.number is not None:
            return False
        return self.text < other.text


def _pre(text: str) -> _Pre:
    if not text:
        raise SemverError("Prerelease is empty")
    if _only(text, _DIGITS):
        if len(text) > 1 and text[0] == "0":
            raise SemverError(
                f'Numeric PreRelease version must not contain leading zeroes "{text}"'
            )
        return _Pre(text, _parse_uint(text))
    if _only(text, _ALNUM):
        return _Pre(text, None)
    raise SemverError(f'Invalid character(s) found in prerelease "{text}"')


def parse_prerelease(text: str) -> str:
    """blang's ``NewPRVersion``: one prerelease identifier, returned as blang prints it."""
    return _pre(text).text


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A parsed semantic version; ordering ignores build metadata (semver precedence)."""

    major: int
    minor: int
    patch: int
    pre: tuple[_Pre, ...] = ()
    build: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(p.text for p in self.pre)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def _key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 by semver precedence (build metadata ignored)."""
        if self._key() != other._key():
            return -1 if self._key() < other._key() else 1
        if not self.pre and not other.pre:
            return 0
        if not self.pre:
            return 1
        if not other.pre:
            return -1
        for mine, theirs in zip(self.pre, other.pre, strict=False):
            if mine != theirs:
                return -1 if mine < theirs else 1
        if len(self.pre) == len(other.pre):
            return 0
        return -1 if len(self.pre) < len(other.pre) else 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) == 0

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) < 0

    def __hash__(self) -> int:
        return hash((self._key(), self.pre))


def parse(text: str) -> Version:
    """Parse strictly (``MAJOR.MINOR.PATCH[-pre][+build]``), like blang's ``semver.Parse``."""
    if not text:
        raise SemverError("Version string empty")
    parts = text.split(".", 2)
    if len(parts) != 3:
        raise SemverError("No Major.Minor.Patch elements found")
    numbers: list[int] = []
    for label, part in (("major", parts[0]), ("minor", parts[1])):
        if not _only(part, _DIGITS):
            raise SemverError(f'Invalid character(s) found in {label} number "{part}"')
        if len(part) > 1 and part[0] == "0":
            raise SemverError(
                f'{label.capitalize()} number must not contain leading zeroes "{part}"'
            )
        numbers.append(_parse_uint(part))
    rest = parts[2]
    build: list[str] = []
    pre: list[str] = []
    if "+" in rest:
        rest, _, build_text = rest.partition("+")
        build = build_text.split(".")
    if "-" in rest:
        rest, _, pre_text = rest.partition("-")
        pre = pre_text.split(".")
    if not _only(rest, _DIGITS):
        raise SemverError(f'Invalid character(s) found in patch number "{rest}"')
    if len(rest) > 1 and rest[0] == "0":
        raise SemverError(f'Patch number must not contain leading zeroes "{rest}"')
    patch = _parse_uint(rest)
    pres = tuple(_pre(p) for p in pre)
    for item in build:
        if not item:
            raise SemverError("Build meta data is empty")
        if not _only(item, _ALNUM):
            raise SemverError(f'Invalid character(s) found in build meta data "{item}"')
    return Version(numbers[0], numbers[1], patch, pres, tuple(build))


def build_id_compare(a: Version, b: Version) -> int:
    """opm's ``BuildIdCompare``: semver order, then build ids compared as prerelease ids.

    A version without build metadata sorts before the same version with some.
    """
    result = a.compare(b)
    if result:
        return result

    def as_pre(v: Version) -> Version:
        pres = tuple(_pre(item) for item in v.build)
        return Version(1 if pres else 0, 0, 0, pres)

    return as_pre(a).compare(as_pre(b))


Range = Callable[[Version], bool]


def _split_and_trim(text: str) -> list[str]:
    result: list[str] = []
    last = 0
    last_char = ""
    for i, ch in enumerate(text):
        if ch == " " and last_char not in (">", "<", "="):
            if last < i - 1:
                result.append(text[last:i])
            last = i + 1
        elif ch != " ":
            last_char = ch
    if last < len(text) - 1:
        result.append(text[last:])
    return [part.replace(" ", "") for part in result]


def _split_comparator(text: str) -> tuple[str, str]:
    for i, ch in enumerate(text):
        if ch.isdigit():
            return text[:i].strip(), text[i:]
    raise SemverError(f'Could not get version from string: "{text}"')


def _expand_wildcard(part: str) -> list[str]:
    if "x" not in part:
        return [part]
    op, version = _split_comparator(part)
    pieces = version.split(".")
    patch_wildcard = len(pieces) == 3 and pieces[2] == "x" and pieces[1] != "x"
    flat = ".".join("0" if p == "x" else p for p in pieces)
    if len(pieces) == 2:
        flat += ".0"
    nums = flat.split(".")

    def bump() -> str:
        try:
            if patch_wildcard:
                return f"{nums[0]}.{int(nums[1]) + 1}.0"
            return f"{int(nums[0]) + 1}.0.0"
        except ValueError:
            return flat

    if op in ("", "=", "=="):
        return [">=" + flat, "<" + bump()]
    if op in ("!=", "!"):
        return ["<" + flat, ">=" + bump()]
    if op == ">":
        return [">=" + bump()]
    if op == ">=":
        return [">=" + flat]
    if op == "<":
        return ["<" + flat]
    if op == "<=":
        return ["<" + bump()]
    return [part]


_COMPARATORS: dict[str, Callable[[int], bool]] = {
    "": lambda c: c == 0,
    "=": lambda c: c == 0,
    "==": lambda c: c == 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    "!": lambda c: c != 0,
    "!=": lambda c: c != 0,
}


def parse_range(text: str) -> Range:
    """Parse a blang range such as ``>=1.0.0 <2.0.0 || 3.x`` into a predicate."""
    parts = _split_and_trim(text)
    groups: list[list[str]] = []
    last = 0
    for i, part in enumerate(parts):
        if part == "||":
            if i == 0:
                raise SemverError("First element in range is '||'")
            groups.append(parts[last:i])
            last = i + 1
    if last == len(parts):
        raise SemverError("Last element in range is '||'")
    groups.append(parts[last:])
    alternatives: list[list[tuple[Callable[[int], bool], Version]]] = []
    for group in groups:
        checks: list[tuple[Callable[[int], bool], Version]] = []
        for raw in group:
            for item in _expand_wildcard(raw):
                op, version_text = _split_comparator(item)
                comparator = _COMPARATORS.get(op)
                if comparator is None:
                    raise SemverError(
                        f'Could not parse Range "{item}": Could not parse comparator "{op}" '
                        f'in "{op}{version_text}"'
                    )
                try:
                    version = parse(version_text)
                except SemverError as exc:
                    raise SemverError(
                        f'Could not parse Range "{item}": Could not parse version '
                        f'"{version_text}" in "{op}{version_text}": {exc}'
                    ) from None
                checks.append((comparator, version))
        alternatives.append(checks)

    def matches(candidate: Version) -> bool:
        return any(all(cmp(candidate.compare(v)) for cmp, v in alt) for alt in alternatives)

    return matches
