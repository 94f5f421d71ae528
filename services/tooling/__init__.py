"""Developer tooling on top of every service: the ``iib`` command (``cli``), ``iib dev``
(``dev``), the demo and its images (``demo``), ``iib queues`` (``queues_report``) and the
starters of the real servers the system and its tests use (``servers``: nats-server,
docker-registry, PostgreSQL). Nothing in ``services/`` imports this package; ``components``
is the one list of the services it runs.
"""
