"""Checks that cost nothing and come before anything starts: the chosen plugins exist and fit together (the
progress view, and the API host when ``--api-port`` is given, included),
the artifact directory can be written, the input file can be read, every goodput SLO names a metric;
and, costing one connection (and for ``http://`` one ``HEAD /``), that the server at ``--url`` can be
reached and speaks the URL's scheme (:func:`check_reachable`).

Each failure is a :class:`~inferload.errors.UsageError` (exit 2) naming the input and what to do
(docs/architecture.md, "Data flow": ``preflight.check_plugins``). Model discovery
(the profile command's ``model_discovery``) comes right after these checks, still before anything starts.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from inferload.artifact_files import artifact_dir_for, check_artifact_dir
from inferload.engine.live_api import api_host_spec
from inferload.errors import RunFailed, UsageError
from inferload.redact import redact_url
from inferload.view import choose_view

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.registry import PluginRegistry


def check_plugins(config: ProfileConfig, registry: PluginRegistry) -> tuple[Any, Any, Any]:
    """The endpoint, transport and executor specs the config names; a UsageError (exit 2) naming the
    choices if one is missing or they do not fit together. Cheap: call it before starting anything.
    Choices the config leaves open are the catalogue's defaults (:meth:`ProfileConfig.with_plugin_defaults`).
    """
    config = config.with_plugin_defaults(registry)
    endpoint = registry.get("endpoint", config.endpoint_type)
    if config.streaming and not endpoint.streaming:
        raise UsageError(f"--streaming is not supported by --endpoint-type {config.endpoint_type}")
    transport = registry.get("transport", config.transport)
    scheme = (config.url or "http://").split("://", 1)[0]
    if scheme not in transport.schemes:
        raise UsageError(f"--transport {config.transport} does not support {scheme}:// URLs")
    executor = registry.get("executor", config.executor)
    check_executor_options(config, registry, executor)
    if config.api_port is not None:
        api_host_spec(registry)
    choose_view(registry, config.ui, interactive=sys.stderr.isatty())
    check_artifact_dir(artifact_dir_for(config))
    if config.input_file is not None and registry.get("dataset", config.effective_dataset).input_file:
        check_input_file(config.input_file)
    if config.timed_schedule:
        registry.get("arrival_pattern", config.effective_arrival_pattern)
    if config.goodput:
        from inferload.metrics_engine import MetricsAccumulator

        MetricsAccumulator(registry, config)  # raises UsageError for an SLO on an unknown metric
    return endpoint, transport, executor


def check_executor_options(config: ProfileConfig, registry: PluginRegistry, executor: Any) -> None:
    """A UsageError when the chosen executor's own ``check`` refuses the run (another executor's flags are
    refused by their :class:`~inferload.types.OptionsSpec`'s ``applies_to``)."""
    if executor.check is not None:
        executor.check(config=config)


def check_input_file(path: Path) -> None:
    """A UsageError naming ``path`` unless it is a file this process can read (its lines are checked when
    the dataset is built, still before the first request). Nothing is read here: opening a FIFO (or
    ``<(cmd)``) and closing it again would throw away what its writer sent."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UsageError(f"cannot read --input-file {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"cannot read --input-file {path}: it is a directory; give a JSONL file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read --input-file {path}: Permission denied")


REACH_TIMEOUT_S = 10.0
"""How long the start-up connection to ``--url`` may take (less when ``--request-timeout-seconds`` is)."""


def check_reachable(url: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Open one connection to the host and port of ``url``, tell whether it speaks what the scheme says,
    then close it. For ``https://``: complete a TLS handshake (the certificate unchecked: requests check
    it); nothing is sent. For ``http://``: send ``HEAD /`` and read the status line; only when no plain
    HTTP answer comes, try a TLS handshake on a second connection.

    Raises :class:`~inferload.errors.RunFailed` (exit 1) with one line naming the URL (credentials
    redacted), what failed and the fix: a host that does not resolve, a refused connection, no answer
    within ``timeout`` seconds, an ``https://`` URL whose port does not speak TLS, or an ``http://`` URL
    whose port does. Nothing is checked
    when a proxy in the environment (``HTTP_PROXY``/``HTTPS_PROXY``, not bypassed by ``NO_PROXY``) applies
    to ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if _proxied(parts.scheme, host):
        return  # a transport that honours HTTP(S)_PROXY reaches the server through the proxy, not directly
    shown = redact_url(url)
    where = f"{host}:{port}"
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise RunFailed(f"cannot reach --url {shown}: the host {host!r} is not found ({exc.strerror}); "
                        "fix the host in --url") from None
    except TimeoutError:
        raise RunFailed(f"cannot reach --url {shown}: no answer from {where} within {timeout:g} s; check "
                        "the host and port in --url, and any firewall between") from None
    except ConnectionRefusedError:
        raise RunFailed(f"cannot reach --url {shown}: nothing listens on {where} (connection refused); "
                        "start the server, or fix the host and port in --url") from None
    except OSError as exc:
        raise RunFailed(f"cannot reach --url {shown}: {where}: {exc.strerror or exc}; check the host and "
                        "port in --url") from None
    with connection:
        mismatch = _other_scheme(connection, parts.scheme, host, port, timeout)
    if mismatch is not None:
        raise RunFailed(f"cannot reach --url {shown}: {mismatch}")


def scheme_mismatch(url: str, timeout: float = REACH_TIMEOUT_S, flag: str = "--url") -> str | None:
    """When the server at ``url`` answers but speaks the other protocol (TLS on an ``http://`` URL's port,
    plain HTTP on an ``https://`` URL's), what is wrong and the fix, as :func:`check_reachable` says it
    (``the server at HOST:PORT speaks TLS; use https:// in --url``, ``flag`` naming the option that gave
    ``url``); None when it speaks the URL's scheme
    or cannot be reached (not up yet: a caller that waits for the server asks again later), and when a
    proxy in the environment applies to ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if _proxied(parts.scheme, host):
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            return _other_scheme(connection, parts.scheme, host, port, timeout, flag)
    except OSError:
        return None


def _other_scheme(connection: socket.socket, scheme: str, host: str, port: int, timeout: float,
                  flag: str = "--url") -> str | None:
    """The mismatch line of :func:`scheme_mismatch` for an open ``connection`` to ``host:port``."""
    where = f"{host}:{port}"
    if scheme != "https":
        if _answers_plain_http(connection, host, timeout):
            return None
        # a TLS server answers a ClientHello at once; a plain one that stayed silent to HEAD stays silent
        if not _completes_tls_handshake(host, port, min(timeout, PLAIN_PROBE_TIMEOUT_S)):
            return None
        return f"the server at {where} speaks TLS; use https:// in {flag}"
    try:
        _tls_handshake(connection, host)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        return (f"{where} does not complete a TLS handshake ({reason}): it probably speaks plain HTTP; use "
                f"http:// in {flag}")
    return None


PLAIN_PROBE_TIMEOUT_S = 3.0
"""How long the ``http://`` probe waits for the first bytes of an answer to ``HEAD /``, and then for the
TLS handshake that decides when none came: an odd server costs the start at most twice this."""


def _answers_plain_http(connection: socket.socket, host: str, timeout: float) -> bool:
    """Whether the server answers ``HEAD /`` on ``connection`` with an HTTP status line other than 400.

    A plain-HTTP server does (404, 405, 200: any status is an answer), and sees one ordinary request.
    A TLS port does not: it sends a TLS alert, closes, stays silent, or (Go, nginx) answers 400 "plain
    HTTP request sent to HTTPS port"; those cases go on to the TLS handshake probe, which decides."""
    try:
        connection.settimeout(min(timeout, PLAIN_PROBE_TIMEOUT_S))
        connection.sendall(f"HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        first = connection.recv(12)
    except OSError:
        return False
    return first.startswith(b"HTTP/") and first[9:12] != b"400"


def _completes_tls_handshake(host: str, port: int, timeout: float) -> bool:
    """Whether a fresh connection to ``host:port`` completes a TLS handshake (certificate unchecked)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            _tls_handshake(connection, host)
    except (ssl.SSLError, OSError):
        return False
    return True


def _tls_handshake(connection: socket.socket, host: str) -> None:
    """Complete a TLS handshake on ``connection`` without checking the certificate (requests check it),
    then close the TLS layer."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.wrap_socket(connection, server_hostname=host).close()


def _proxied(scheme: str, host: str) -> bool:
    """Whether the environment names a proxy for ``scheme`` that ``NO_PROXY`` does not bypass for ``host``."""
    import urllib.request

    return bool(urllib.request.getproxies().get(scheme)) and not urllib.request.proxy_bypass(host)
