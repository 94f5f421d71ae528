"""``.indexignore`` matching, as opm does it (gitignore patterns, go-git semantics).

Every ``.indexignore`` file in the tree contributes its patterns, scoped to its directory;
later (deeper, lexically later) patterns win; ``!`` re-includes. Names are matched with Go's
``filepath.Match`` rules (``*``, ``?``, ``[...]`` with ``^`` negation, ``\\`` escapes). As in
opm, only files are tested (directories are always walked) and files named ``.indexignore``
are always ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["IGNORE_FILE", "IgnoreMatcher", "parse_patterns"]

IGNORE_FILE = ".indexignore"


def _class_to_regex(pattern: str, start: int) -> tuple[str, int] | None:
    """Translate a Go character class starting after ``[``; returns (regex, next index)."""
    i = start
    negated = False
    if i < len(pattern) and pattern[i] == "^":
        negated = True
        i += 1
    ranges: list[str] = []
    while True:
        if i < len(pattern) and pattern[i] == "]" and ranges:
            i += 1
            break

        def esc(j: int) -> tuple[str, int] | None:
            if j >= len(pattern) or pattern[j] in "-]":
                return None
            if pattern[j] == "\\":
                j += 1
                if j >= len(pattern):
                    return None
            return pattern[j], j + 1

        got = esc(i)
        if got is None:
            return None
        lo, i = got
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            got = esc(i + 1)
            if got is None:
                return None
            hi, i = got
        ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    body = "".join(ranges)
    return (f"[^/{body}]" if negated else f"[{body}]"), i


def _glob_to_regex(pattern: str) -> re.Pattern[str] | None:
    """Compile a Go ``filepath.Match`` pattern; ``None`` when Go would report a bad pattern."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            got = _class_to_regex(pattern, i + 1)
            if got is None:
                return None
            regex, i = got
            out.append(regex)
        elif ch == "\\":
            if i + 1 >= len(pattern):
                return None
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _match_name(glob: str, name: str) -> bool:
    regex = _glob_to_regex(glob)
    return bool(regex is not None and regex.fullmatch(name))


@dataclass(frozen=True, slots=True)
class _Pattern:
    domain: tuple[str, ...]
    parts: tuple[str, ...]
    inclusion: bool
    dir_only: bool
    is_glob: bool

    def match(self, path: list[str], is_dir: bool) -> int:
        """0 = no match, 1 = exclude, 2 = include."""
        if len(path) <= len(self.domain):
            return 0
        if tuple(path[: len(self.domain)]) != self.domain:
            return 0
        rest = path[len(self.domain) :]
        ok = self._glob_match(rest, is_dir) if self.is_glob else self._name_match(rest, is_dir)
        if not ok:
            return 0
        return 2 if self.inclusion else 1

    def _name_match(self, path: list[str], is_dir: bool) -> bool:
        for i, name in enumerate(path):
            if not _match_name(self.parts[0], name):
                continue
            if self.dir_only and not is_dir and i == len(path) - 1:
                return False
            return True
        return False

    def _glob_match(self, path: list[str], is_dir: bool) -> bool:
        matched = False
        can_traverse = False
        for i, part in enumerate(self.parts):
            if part == "":
                can_traverse = False
                continue
            if part == "**":
                if i == len(self.parts) - 1:
                    break
                can_traverse = True
                continue
            if "**" in part:
                return False
            if not path:
                return False
            if can_traverse:
                can_traverse = False
                while path:
                    element, path = path[0], path[1:]
                    if _match_name(part, element):
                        matched = True
                        break
                    if not path:
                        matched = False
            else:
                if not _match_name(part, path[0]):
                    return False
                matched = True
                path = path[1:]
        if matched and self.dir_only and not is_dir and not path:
            matched = False
        return matched


def _parse(line: str, domain: tuple[str, ...]) -> _Pattern:
    inclusion = line.startswith("!")
    if inclusion:
        line = line[1:]
    if not line.endswith("\\ "):
        line = line.rstrip(" ")
    dir_only = line.endswith("/")
    if dir_only:
        line = line[:-1]
    return _Pattern(domain, tuple(line.split("/")), inclusion, dir_only, "/" in line)


def parse_patterns(text: str, domain: tuple[str, ...]) -> list[_Pattern]:
    """Patterns of one ``.indexignore`` file located in directory ``domain`` (path parts)."""
    patterns: list[_Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        patterns.append(_parse(line, domain))
    return patterns


class IgnoreMatcher:
    """Decides whether a catalog-relative file path is ignored."""

    def __init__(self) -> None:
        self._patterns: list[_Pattern] = [_parse(IGNORE_FILE, ())]

    def add_file(self, rel_dir: str, text: str) -> None:
        """Add the patterns of the ``.indexignore`` found in ``rel_dir`` ('' for the root)."""
        domain = tuple(p for p in rel_dir.split("/") if p and p != ".")
        self._patterns.extend(parse_patterns(text, domain))

    def ignored(self, rel_path: str, is_dir: bool = False) -> bool:
        """True when the last pattern matching ``rel_path`` excludes it."""
        parts = rel_path.split("/")
        for pattern in reversed(self._patterns):
            result = pattern.match(parts, is_dir)
            if result:
                return result == 1
        return False
