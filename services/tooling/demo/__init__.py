"""Demo and test support: realistic IIB input images pushed straight to a registry.

``services.tooling.demo.images`` builds operator bundle images from the shared fixtures, a
multi-arch stand-in for the opm binary image, FBC fragments and legacy SQLite index images
(with ``services.tooling.demo.index_db.build_index_db``), without a container engine.
"""
