"""Resource limits of the catalog engine.

The engine reads untrusted input (catalog trees extracted from images, bundle manifests), so
every read is bounded. These are module-level defaults; every reader that enforces one also
takes it as a keyword argument, so a service can pass values from its settings.
"""

from __future__ import annotations

#: Largest file the engine reads (catalog document, manifest, metadata file).
MAX_FILE_BYTES = 64 * 1024 * 1024

#: Most YAML nodes (scalars, collections, aliases) one document may hold before aliases are
#: followed. libyaml's node tree takes ~350 bytes a node while it is built, so this bounds a
#: document to ~175 MB however its bytes are spent; the largest manifests of the
#: community-operators catalog hold ~20,000.
MAX_YAML_NODES = 500_000

#: Largest number of YAML nodes one document may expand to once aliases are followed.
#: A "billion laughs" document needs far more; real manifests need far less.
MAX_YAML_EXPANDED_NODES = 1_000_000

#: A document may also expand to this many times its own node count (whichever is larger).
MAX_YAML_EXPANSION_RATIO = 10

#: The bound for YAML parsed by ruamel.yaml (operator-manifest, round-trip edits): its pure
#: Python parser takes ~60 us and ~1 KB a node, and operator-manifest walks every alias again,
#: so nodes *after* alias expansion are bounded, with no ratio (~12 s and ~250 MB at most).
MAX_ROUND_TRIP_YAML_NODES = 200_000

#: Most JSON values one file may hold, counted as its commas and opening brackets (strings
#: included: an over-estimate). Decoded values take ~80 bytes each, so this bounds a file to
#: ~400 MB however its bytes are spent (a 66 MiB ``[{},{},...]`` took 1.7 GiB).
MAX_JSON_VALUES = 5_000_000

#: Deepest nesting of YAML/JSON collections accepted (counted through aliases for YAML).
#: libyaml's composer recurses in C: a few tens of thousands of levels overflow the stack.
MAX_NESTING_DEPTH = 512

#: Most documents one bundle directory may hold (manifests + metadata files).
MAX_BUNDLE_FILES = 1000

#: Longest value (text or blob) read from a legacy index.db (SQLITE_LIMIT_LENGTH).
MAX_SQLITE_VALUE_BYTES = 64 * 1024 * 1024

#: Longest one query of a legacy index.db may run (a progress handler interrupts it).
MAX_SQLITE_QUERY_SECONDS = 120
