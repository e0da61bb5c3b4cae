"""Extra rules for settings whose type and range say too little.

Each per-setting check takes a value of the right type, returns it in canonical
form, or raises ValueError whose text completes "must ..." in an error message.
:func:`combination_problems` checks rules that involve two settings at once.
"""

import ipaddress
from typing import Any, Mapping

MIB = 1024**2

# Characters that cannot appear in a host name or address; catching them early
# gives a clear config error instead of an obscure failure in bind().
_BAD_HOST_CHARS = frozenset(" \t\r\n/?#@")


def url_path(value: str) -> str:
    """A built-in endpoint path: starts with "/", no spaces, query or fragment."""
    if not value.startswith("/"):
        raise ValueError("must be a path starting with '/'")
    if any(ch.isspace() or ch in "?#" for ch in value):
        raise ValueError("must be a path without spaces, '?' or '#'")
    return value


def host(value: str) -> str:
    """A bind address; ``localhost`` becomes ``127.0.0.1`` so both mean the same."""
    if not value or any(ch in _BAD_HOST_CHARS for ch in value):
        raise ValueError("must be a host name or IP address")
    if value.lower() == "localhost":
        return "127.0.0.1"
    # "[::1]" is how IPv6 addresses are written in URLs; bind() wants "::1".
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return value


def ip_list(value: str) -> str:
    """A comma list of IP addresses or networks, or "*"; returned without spaces."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"must be a comma list of IP addresses, networks (10.0.0.0/8) or '*'; '{item}' is not one"
            ) from None
    return ",".join(items)


def parse_ip_list(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    """The networks of a ``forwarded_allow_ips`` value; None when "*" trusts every peer."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if "*" in items:
        return None
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def memory_limit(value: int) -> int:
    """0 (no limit) or at least 1 MiB: a Lua runtime cannot even start in less."""
    if 0 < value < MIB:
        raise ValueError(f"must be 0 (no limit) or at least {MIB} bytes (1 MiB)")
    return value


# Built-in endpoints that must not share a path, else one silently hides another.
ENDPOINT_PATHS = ("docs_path", "openapi_path", "metrics_path", "health_path", "ready_path")


def combination_problems(values: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Rules across settings: a list of (setting names involved, problem text)."""
    problems: list[tuple[tuple[str, ...], str]] = []
    seen: dict[str, str] = {}
    for name in ENDPOINT_PATHS:
        path = values[name]
        if path in seen:
            problems.append(((seen[path], name), f"both are {path!r}; built-in endpoints need distinct paths"))
        else:
            seen[path] = name
    if values["max_header_line"] > values["max_header_bytes"]:
        problems.append(
            (
                ("max_header_line", "max_header_bytes"),
                f"max_header_line ({values['max_header_line']}) must not exceed "
                f"max_header_bytes ({values['max_header_bytes']})",
            )
        )
    return problems
