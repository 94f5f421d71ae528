"""Resource limits of the catalog engine.

The engine reads untrusted input (catalog trees extracted from images, bundle manifests), so
every read is bounded. These are module-level defaults; every reader that enforces one also
takes it as a keyword argument, so a service can pass values from its settings.
"""

from __future__ import annotations

#: Largest file the engine reads (catalog document, manifest, metadata file).
MAX_FILE_BYTES = 64 * 1024 * 1024

#: Largest number of YAML nodes one document may expand to once aliases are followed.
#: A "billion laughs" document needs far more; real manifests need far less.
MAX_YAML_EXPANDED_NODES = 1_000_000

#: A document may also expand to this many times its own node count (whichever is larger).
MAX_YAML_EXPANSION_RATIO = 10

#: Deepest nesting of YAML/JSON collections accepted.
MAX_NESTING_DEPTH = 512

#: Most documents one bundle directory may hold (manifests + metadata files).
MAX_BUNDLE_FILES = 1000
