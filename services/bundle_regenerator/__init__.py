"""The bundle regenerator: regenerate-bundle(-batch) and recursive-related-bundles requests
(``iib serve bundle-regenerator``; docs/bundle-regenerator.md)."""
