"""Which hosts model endpoints may point at, checked on save and again at every connection.

MODEL_ENDPOINT_ALLOW / MODEL_ENDPOINT_DENY hold CIDRs ("10.0.0.0/8") and host
names ("api.openai.com", "*.internal" for subdomains, ".example.com" for the
domain and its subdomains). Deny wins; a non-empty allow list admits only what
it names. The connection-time check runs inside the HTTP client's network
backend on the addresses actually connected to, so a name that re-resolves to a
metadata address after it was saved (DNS rebinding) is still refused.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The host is outside the allowed set; never retried."""


class BadEndpointUrl(ValueError):
    """The base URL is unusable; the message names the problem."""


def _split_entries(entries: Iterable[str]) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    networks: list[Network] = []
    hosts: list[str] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.append(entry.rstrip("."))
    return tuple(networks), tuple(hosts)


def _host_matches(host: str, patterns: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif pattern.startswith("."):
            if host == pattern[1:] or host.endswith(pattern):
                return True
        elif host == pattern:
            return True
    return False


def _normalise(address: str) -> Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    # ::ffff:169.254.169.254 is the metadata address too.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class HostPolicy:
    allow_networks: tuple[Network, ...]
    allow_hosts: tuple[str, ...]
    deny_networks: tuple[Network, ...]
    deny_hosts: tuple[str, ...]

    @classmethod
    def from_settings(cls) -> HostPolicy:
        allow_networks, allow_hosts = _split_entries(settings.MODEL_ENDPOINT_ALLOW)
        deny_networks, deny_hosts = _split_entries(settings.MODEL_ENDPOINT_DENY)
        return cls(allow_networks, allow_hosts, deny_networks, deny_hosts)

    def check(self, host: str, addresses: Iterable[str]) -> None:
        """Raise BlockedAddress unless `host`, resolved to `addresses`, may be called."""
        if _host_matches(host, self.deny_hosts):
            raise BlockedAddress(f"host {host} is denied by MODEL_ENDPOINT_DENY")
        ips = [_normalise(a) for a in addresses]
        if not ips:
            raise BlockedAddress(f"host {host} did not resolve to any address")
        for ip in ips:
            if any(ip.version == net.version and ip in net for net in self.deny_networks):
                raise BlockedAddress(f"host {host} resolves to {ip}, which MODEL_ENDPOINT_DENY blocks")
        if not (self.allow_networks or self.allow_hosts):
            return
        if _host_matches(host, self.allow_hosts):
            return
        for ip in ips:
            if not any(ip.version == net.version and ip in net for net in self.allow_networks):
                raise BlockedAddress(f"host {host} ({ip}) is not in MODEL_ENDPOINT_ALLOW")


def chat_completions_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def base_url_clean(raw: str, *, policy: HostPolicy | None = None, resolve: bool = True) -> str:
    """Normalise a base URL ("http://host:8000/v1") and check it against the host policy."""
    value = (raw or "").strip()
    if not value:
        raise BadEndpointUrl("is required, e.g. http://localhost:8000/v1")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise BadEndpointUrl(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise BadEndpointUrl("must start with http:// or https://")
    if not parts.hostname:
        raise BadEndpointUrl("has no host name")
    if parts.username or parts.password:
        raise BadEndpointUrl("must not contain a user name or password; use the API key field")
    if parts.query or parts.fragment:
        raise BadEndpointUrl("must not have a query string or fragment")
    path = parts.path.rstrip("/")
    # People paste the full route; the client appends it itself.
    for suffix in ("/chat/completions", "/completions"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    netloc = parts.netloc.lower()
    normalised = f"{parts.scheme}://{netloc}{path}"
    if resolve:
        host = parts.hostname
        try:
            infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise BadEndpointUrl(f"host {host} does not resolve") from None
        try:
            (policy or HostPolicy.from_settings()).check(host, [info[4][0] for info in infos])
        except BlockedAddress as exc:
            raise BadEndpointUrl(str(exc)) from None
    return normalised


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check every address against the policy, then connect to a checked address."""

    def __init__(self, policy: HostPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
        try:
            with anyio.fail_after(timeout) if timeout else nullcontext():
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            # A host that stopped resolving is a failed connection (the caller's error path), not a crash.
            raise httpcore.ConnectError(f"host {host} does not resolve") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self._policy.check(host, addresses)
        error: Exception | None = None
        for address in addresses:
            try:
                # TLS still verifies and sends SNI for `host`: httpcore takes both from the request origin.
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"could not connect to {host}")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # type: ignore[no-untyped-def]
        raise BlockedAddress("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds; one context serves every pool.
    return httpx.create_ssl_context(trust_env=False)


def guarded_transport(*, policy: HostPolicy, max_connections: int) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through GuardedNetworkBackend.

    httpx has no public hook for the network backend, so the pool is rebuilt
    with the same settings; tests/sampling pin this (a denied address fails at
    connect time), so an httpx upgrade that changes it cannot pass silently.
    """
    context = _ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
        ssl_context=context,
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        http1=True,
        http2=False,
        network_backend=GuardedNetworkBackend(policy),
    )
    return transport
