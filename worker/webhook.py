"""The alert webhook: one POST of JSON per try, bounded by a total deadline, and an
error that never carries the URL.

- The URL (SOAR_ALERT_WEBHOOK_URL) is a secret: it often carries a token in its path
  or query. It is read from the environment only (never a command-line option, where
  `ps` shows it), never logged in full (`shown`: scheme, host and port; urllib3's own
  DEBUG line of each request gets the path and query elided by a filter), and no error
  message contains it (urllib3's exception texts do, so only their class is kept).
- One try per call: the queue retries with backoff and dead-letters after the limit
  (worker.loop), so retries survive a restart and a slow or dead receiver costs a
  message slot for at most one deadline per try.
- The deadline covers connect, request and the whole answer (worker.pelias's watcher
  shuts the socket down when it passes), so a receiver trickling bytes cannot hold a
  slot. Redirects are not followed (a POST is not replayed elsewhere): a 3xx is a
  failure that says to set the URL that answers.
- Every try of one notice sends the same Idempotency-Key header: delivery is at least
  once (a crash after the POST and before the commit sends it again).
- https:// only, unless plain http:// is allowed explicitly (`allow_http`, the worker's
  SOAR_WORKER_ALERT_WEBHOOK_ALLOW_HTTP=1) or goes to loopback (a local relay): the
  notice names an aircraft and where it was last heard, and its URL carries a token.
- Text is capped: every string in a notice is cut to MAX_TEXT_CHARS (names come from
  the feeds, the device database and the geocoder: anyone's text), so a notice stays
  the size of a phone message.
"""

from __future__ import annotations

import http.client
import json
import logging
from urllib.parse import urlsplit

import urllib3

from soar.errors import SoarError
from soar.net import is_loopback
from soar_worker.pelias import _current, _Deadline, _pool_manager  # the deadline machinery, shared

MAX_ANSWER_BYTES = 64 * 1024      # the receiver's answer is read (and dropped) up to this
MAX_TEXT_CHARS = 1000             # any string of a notice, the phone text included
HEADERS = {"User-Agent": "soar-worker", "Content-Type": "application/json"}
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class _Redact(logging.Filter):
    """urllib3 logs each request's path and query at DEBUG ("POST /hook/TOKEN?key=..");
    this filter on its logger puts `/…` in their place for the webhook's URL."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(a, str) and self.secret in a for a in record.args):
            record.args = tuple(a.replace(self.secret, "/…") if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str) and self.secret in record.msg:
            record.msg = record.msg.replace(self.secret, "/…")
        return True


_redacted: set[str] = set()


def _redact_urllib3_logs(url: str) -> None:
    parts = urlsplit(url)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    if secret in ("", "/") or secret in _redacted:
        return
    _redacted.add(secret)
    logging.getLogger("urllib3.connectionpool").addFilter(_Redact(secret))


class WebhookError(Exception):
    """One try failed; the message says why in one line, without the URL."""


def shown(url: str) -> str:
    """What may be logged of the URL: scheme://host:port, the rest elided."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"



def capped(value):
    """A notice with every string cut to MAX_TEXT_CHARS (nested dicts and lists too)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS - 1] + "…"
    if isinstance(value, dict):
        return {k: capped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [capped(v) for v in value]
    return value


def check_url(url: str, allow_http: bool = False) -> str:
    """The URL if usable; SoarError naming the fix otherwise (without the URL)."""
    try:
        parts = urlsplit(url)
        parts.port                                       # noqa: B018 - raises on a bad port
    except ValueError:
        raise SoarError("SOAR_ALERT_WEBHOOK_URL is not a valid URL: set it to "
                        "http(s)://host[:port]/path") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SoarError("SOAR_ALERT_WEBHOOK_URL must be an http:// or https:// URL with a "
                        "host (e.g. https://alerts.example.org/hook/TOKEN)")
    if parts.scheme.lower() == "http" and not allow_http and not is_loopback(parts.hostname):
        raise SoarError("SOAR_ALERT_WEBHOOK_URL is plain http://: alerts and the URL's token "
                        "would cross the network readable; use https://, or set "
                        "SOAR_WORKER_ALERT_WEBHOOK_ALLOW_HTTP=1 to send them unencrypted")
    return url


class WebhookClient:
    def __init__(self, url: str, *, deadline_s: float = 10.0, connect_timeout_s: float = 5.0,
                 connections: int = 4, allow_http: bool = False):
        self.url = check_url(url, allow_http)
        self.shown = shown(url)
        _redact_urllib3_logs(url)
        self.deadline_s = deadline_s
        self.connect_timeout_s = connect_timeout_s
        self._http = _pool_manager(url, connections)

    def __repr__(self) -> str:
        return f"WebhookClient({self.shown})"

    def post(self, body: dict, key: str) -> int:
        """POST body as JSON; the 2xx status, or WebhookError."""
        data = json.dumps(capped(body), ensure_ascii=False).encode()
        deadline = _Deadline(self.deadline_s)
        _current.deadline = deadline
        try:
            return self._post(data, key, deadline)
        finally:
            deadline.finish()
            _current.deadline = None

    def _timeout_text(self) -> str:
        return f"webhook: timed out (no complete answer within the {self.deadline_s:g} s deadline)"

    def _post(self, data: bytes, key: str, deadline: _Deadline) -> int:
        try:
            status = self._exchange(data, key, deadline)
        finally:
            deadline.watch(None)
        if 300 <= status < 400:
            raise WebhookError(f"webhook: HTTP {status} redirect not followed (set "
                               "SOAR_ALERT_WEBHOOK_URL to the address that answers)")
        if not 200 <= status < 300:
            raise WebhookError(f"webhook: HTTP {status}")
        return status

    def _exchange(self, data: bytes, key: str, deadline: _Deadline) -> int:
        """The request and the answer (read up to MAX_ANSWER_BYTES): its status."""
        remaining = max(0.001, deadline.remaining())
        try:
            resp = self._http.request(
                "POST", self.url, body=data, headers={**HEADERS, "Idempotency-Key": key},
                preload_content=False, redirect=False,
                timeout=urllib3.Timeout(connect=min(self.connect_timeout_s, remaining),
                                        read=remaining))
        except urllib3.exceptions.NewConnectionError as exc:
            # (a subclass of ConnectTimeoutError in urllib3 2: refused is not a timeout)
            raise WebhookError(f"webhook: cannot connect ({_cause(exc)})") from None
        except urllib3.exceptions.TimeoutError:
            raise WebhookError(self._timeout_text()) from None
        except _NETWORK_ERRORS as exc:
            if deadline.expired:
                raise WebhookError(self._timeout_text()) from None
            raise WebhookError(f"webhook: connection failed ({_cause(exc)})") from None
        read = 0
        try:
            status = resp.status
            try:
                for chunk in resp.stream(8192):
                    read += len(chunk)
                    if read >= MAX_ANSWER_BYTES:
                        break
            except _NETWORK_ERRORS:
                if deadline.expired:
                    raise WebhookError(self._timeout_text()) from None
                raise WebhookError("webhook: connection lost while reading the answer") from None
            if deadline.expired:
                raise WebhookError(self._timeout_text())
            return status
        finally:
            if read >= MAX_ANSWER_BYTES:
                resp.close()             # an unread rest: the connection cannot be reused
            resp.release_conn()


def _cause(exc: BaseException) -> str:
    """The class of the underlying error (its text would contain the URL)."""
    inner = exc.__cause__ or exc.__context__
    reason = getattr(exc, "reason", None)
    return type(reason or inner or exc).__name__
