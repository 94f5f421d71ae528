"""The UMB publisher: IIB's build and batch state messages to its AMQP 1.0 broker.

IIB sends its state change messages over AMQP 1.0 (python-qpid-proton) to the broker named by
``IIB_MESSAGING_URLS`` (UMB, Apache ActiveMQ), at ``IIB_MESSAGING_BUILD_STATE_DESTINATION`` and
``IIB_MESSAGING_BATCH_STATE_DESTINATION``. Here the request store writes those messages to the
outbox in the same transaction as the change (kinds ``umb_build_state``/``umb_batch_state``,
``outbox.py``) and this publisher, a thread of the request store process beside the NATS relay,
sends them in order. Each message is as IIB makes it: the body is the JSON text (an AMQP string
value), the application properties are ``batch``, ``id``, ``state``, ``user`` (a batch message:
``batch``, ``state``, ``user``), ``content-type`` is ``application/json``, ``durable`` is
``IIB_MESSAGING_DURABLE`` and the correlation id a new UUID. The message id is the outbox row's
id (``build-state-<request>-<state row>``), so a consumer can drop the rare duplicate.

A row is marked sent once the broker settled it as accepted. While the broker is unreachable
nothing is counted and the rows wait (IIB logs the failure and loses the message); a message the
broker refuses while connected (rejected, or its address refused) counts an attempt and becomes
a dead letter after ``IIB_OUTBOX_MAX_ATTEMPTS``. TLS (``amqps://``): the CA, certificate and key
are ``IIB_MESSAGING_CA/CERT/KEY`` or IIB's default paths; the broker's certificate must match
its host name.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from typing import Any

from services.common.config import Settings
from services.request_store.store import Store

__all__ = ["UmbPublisher"]

log = logging.getLogger(__name__)
_BATCH = 200
# IIB's defaults for the TLS files (iib/web/config.py)
_IIB_CA = "/etc/pki/tls/certs/ca-bundle.crt"
_DEBIAN_CA = "/etc/ssl/certs/ca-certificates.crt"
_IIB_CERT = "/etc/iib/messaging.crt"
_IIB_KEY = "/etc/iib/messaging.key"


class _Unreachable(Exception):
    """The broker cannot be reached (or the connection broke): rows wait, nothing counted."""


class _Refused(Exception):
    """The broker refused a message or its address (counted): reconnect and go on."""


class UmbPublisher:
    """Sends the UMB outbox rows to the AMQP broker; ``start()`` runs it on a thread."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="umb-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Scan the outbox now (thread-safe)."""
        self._wake.set()

    # --- loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            connection = None
            try:
                rows = self.store.publishable_umb(_BATCH)
                if not rows:
                    self._sleep(self.settings.relay_poll_interval)
                    continue
                connection = self._connect()
                self.connected.set()
                backoff = 0.5
                while rows and not self._stop.is_set():
                    self._send(connection, rows)
                    rows = self.store.publishable_umb(_BATCH)
                    if not rows:
                        # keep the connection while commits keep coming
                        self._sleep(self.settings.relay_poll_interval)
                        rows = self.store.publishable_umb(_BATCH)
            except _Refused:
                # the broker may have ended the session with the refusal: start afresh
                self._sleep(1.0)
            except _Unreachable as exc:
                self.connected.clear()
                log.warning(
                    "cannot reach the AMQP broker (UMB); state messages wait in the outbox",
                    extra={"error": str(exc)},
                )
                self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                self.connected.clear()
                log.exception("the UMB publisher failed; restarting it")
                self._sleep(1.0)
            finally:
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:
                        pass

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    # --- AMQP ----------------------------------------------------------------------------------

    def _ssl_domain(self) -> Any:
        from proton import SSLDomain

        s = self.settings
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        ca = s.messaging_ca or next((p for p in (_IIB_CA, _DEBIAN_CA) if os.path.exists(p)), None)
        if ca:
            domain.set_trusted_ca_db(ca)
        cert = s.messaging_cert or _IIB_CERT
        key = s.messaging_key or _IIB_KEY
        if os.path.exists(cert) and os.path.exists(key):
            domain.set_credentials(cert, key, None)
        elif s.messaging_cert or s.messaging_key:
            log.warning(
                "IIB_MESSAGING_CERT/IIB_MESSAGING_KEY do not exist; connecting without a client "
                "certificate"
            )
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, ca)
        return domain

    def _connect(self) -> Any:
        """A blocking connection to the first broker of IIB_MESSAGING_URLS that answers."""
        from proton import ConnectionException, ProtonException
        from proton.utils import BlockingConnection

        errors = []
        for url in self.settings.messaging_urls:
            ssl = self._ssl_domain() if url.lower().startswith("amqps://") else None
            try:
                connection = BlockingConnection(
                    url,
                    timeout=self.settings.messaging_timeout,
                    ssl_domain=ssl,
                    reconnect=False,
                    # SASL PLAIN with the URL's user and password also without TLS, as IIB
                    allow_insecure_mechs=True,
                )
            except (ConnectionException, ProtonException, OSError) as exc:
                errors.append(f"{_without_password(url)}: {exc or type(exc).__name__}")
                continue
            log.info("connected to the AMQP broker %s", _without_password(url))
            return connection
        raise _Unreachable("; ".join(errors))

    def _send(self, connection: Any, rows: list[Any]) -> None:
        """Send rows in order, marking each batch sent as the broker accepts it."""
        from proton import ConnectionException, Message, Timeout
        from proton.utils import LinkDetached, SendException

        senders: dict[str, Any] = {}
        sent: list[int] = []
        try:
            for row in rows:
                if self._stop.is_set():
                    return
                try:
                    sender = senders.get(row.subject)
                    if sender is None:
                        sender = connection.create_sender(row.subject)
                        senders[row.subject] = sender
                    message = Message(
                        body=bytes(row.payload).decode(),
                        properties=json.loads(row.headers) if row.headers else None,
                    )
                    message.id = row.msg_id
                    message.correlation_id = str(uuid.uuid4())
                    message.content_type = "application/json"
                    message.durable = self.settings.messaging_durable
                    sender.send(message, timeout=self.settings.messaging_timeout)
                    sent.append(row.id)
                except (SendException, LinkDetached) as exc:
                    # the broker is up and refused this message or its address
                    self._refused(row, f"the AMQP broker refused the message: {exc}")
                    raise _Refused() from None
                except Timeout as exc:
                    if not _alive(connection):
                        raise _Unreachable(str(exc)) from None
                    self._refused(row, f"the AMQP broker did not settle the message: {exc}")
                    raise _Refused() from None
                except ConnectionException as exc:
                    raise _Unreachable(str(exc) or "connection lost") from None
                if len(sent) >= 50:
                    self.store.mark_sent(sent)
                    sent = []
        finally:
            self.store.mark_sent(sent)

    def _refused(self, row: Any, reason: str) -> None:
        exhausted = self.store.mark_attempt_failed(
            [row.id], reason, self.settings.outbox_max_attempts
        )
        if exhausted:
            log.error(
                "UMB message moved to the dead letters after its attempts",
                extra={"outbox_id": row.id, "reason": reason},
            )
        else:
            log.warning("UMB message not accepted", extra={"outbox_id": row.id, "reason": reason})


def _alive(connection: Any) -> bool:
    from proton import Endpoint

    conn = getattr(connection, "conn", None)
    if conn is None:
        return False
    state = conn.state
    return bool(state & Endpoint.REMOTE_ACTIVE) and not bool(state & Endpoint.LOCAL_CLOSED)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}{userinfo.partition(':')[0]}:***@{host}"
