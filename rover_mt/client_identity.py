"""Who a request is from: its request id and its client address.

Pure functions of the request's headers and the peer address, used on the I/O
thread for every request; no I/O, no threads.
"""

from __future__ import annotations

import ipaddress
import os

Headers = tuple[tuple[bytes, bytes], ...]
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None

# What a client-supplied X-Request-Id may contain to be used as given.
_RID_OK = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:+=/")
_RID_MAX = 128
# Addresses whose trust ClientAddress remembers, at most (then it starts afresh).
_SEEN_MAX = 4096


class RequestIds:
    """X-Request-Id values: the client's when it is short and plain, else a fresh one
    made of a random per-server prefix and a counter (one owner thread)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex().encode()
        self._counter = 0

    def for_request(self, headers: Headers) -> bytes:
        for name, value in headers:
            if name == b"x-request-id":
                if 0 < len(value) <= _RID_MAX and all(c in _RID_OK for c in value):
                    return value
                break
        return self.new()

    def new(self) -> bytes:
        self._counter += 1
        return b"%s-%x" % (self._prefix, self._counter)


class ClientAddress:
    """The client address, honouring X-Forwarded-For only from trusted proxies.

    `trusted` is None to trust every peer (``forwarded_allow_ips = "*"``).
    """

    def __init__(self, *, proxy_headers: bool, trusted: Networks) -> None:
        self.proxy_headers = proxy_headers
        self._trusted_nets = trusted
        # Answers of trusted() by address. Parsing an address and testing it
        # against the networks took about 2 µs, on every request from a proxy.
        self._seen: dict[bytes, bool] = {}

    def of(self, peer_ip: bytes, headers: Headers) -> bytes:
        if not self.proxy_headers or not self.trusted(peer_ip):
            return peer_ip
        for name, value in headers:
            if name == b"x-forwarded-for":
                # Walk from the nearest hop back; the first untrusted address is the client.
                hops = [h.strip() for h in value.split(b",") if h.strip()]
                for hop in reversed(hops):
                    if not self.trusted(hop):
                        return hop
                return hops[0] if hops else peer_ip
        return peer_ip

    def trusted(self, ip: bytes) -> bool:
        nets = self._trusted_nets
        if nets is None:
            return True
        seen = self._seen
        known = seen.get(ip)
        if known is not None:
            return known
        try:
            addr = ipaddress.ip_address(ip.decode("latin-1"))
        except ValueError:
            answer = False
        else:
            answer = any(addr in n for n in nets)
        if len(seen) >= _SEEN_MAX:
            # Forwarded addresses come from clients: never let them grow this without end.
            seen.clear()
        seen[ip] = answer
        return answer
