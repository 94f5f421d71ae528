"""Image reference syntax check (containers/image ``reference.ParseNormalizedNamed``)."""

from __future__ import annotations

import re

__all__ = ["image_reference_error"]

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_ID = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def image_reference_error(ref: str) -> str | None:
    """``None`` when ``ref`` parses as a normalized image reference, else the reason."""
    if _ANCHORED_ID.match(ref):
        return f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings"
    match = _REFERENCE.match(ref)
    if match is None:
        if ref == "":
            return "repository name must have at least one component"
        if _REFERENCE.match(ref.lower()):
            return "repository name must be lowercase"
        return "invalid reference format"
    if len(match.group(1)) > 255:
        return "repository name must not be more than 255 characters"
    digest = match.group(3)
    if digest:
        algorithm, _, encoded = digest.partition(":")
        expected = _DIGEST_LENGTHS.get(algorithm)
        if expected is None:
            return "unsupported digest algorithm"
        if len(encoded) != expected:
            return "invalid checksum digest length"
    return None
