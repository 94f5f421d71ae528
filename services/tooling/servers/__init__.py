"""Starters for the real servers the system uses (one module per server).

Each module exposes a function that writes the server's configuration under a given directory,
starts it as a ``ManagedProcess`` on loopback and waits until it is ready. ``iib dev`` and the
test fixtures both use them.
"""
