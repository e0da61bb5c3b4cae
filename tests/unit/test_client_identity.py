"""Request ids and client addresses, bytes in and bytes out."""

from __future__ import annotations

from rover_mt.client_identity import ClientAddress, RequestIds
from rover_mt.config import parse_ip_list


def test_request_id_taken_from_a_plain_header_else_generated():
    ids = RequestIds()
    assert ids.for_request(((b"x-request-id", b"abc-123"),)) == b"abc-123"
    fresh = [ids.for_request(()), ids.for_request(((b"x-request-id", b"has space"),)),
             ids.for_request(((b"x-request-id", b"x" * 129),)), ids.for_request(((b"x-request-id", b""),))]
    assert len(set(fresh)) == 4
    prefix = fresh[0].rsplit(b"-", 1)[0]
    assert all(f.startswith(prefix + b"-") for f in fresh)
    assert RequestIds().new().rsplit(b"-", 1)[0] != prefix  # a second server, another prefix


def test_forwarded_for_ignored_without_proxy_headers():
    addr = ClientAddress(proxy_headers=False, trusted=None)
    assert addr.of(b"10.0.0.1", ((b"x-forwarded-for", b"1.2.3.4"),)) == b"10.0.0.1"


def test_forwarded_for_only_from_trusted_peers():
    addr = ClientAddress(proxy_headers=True, trusted=parse_ip_list("10.0.0.0/8"))
    hdrs = ((b"x-forwarded-for", b"1.2.3.4, 10.0.0.7"),)
    # The nearest untrusted hop is the client; a trusted proxy's own address is skipped.
    assert addr.of(b"10.0.0.1", hdrs) == b"1.2.3.4"
    assert addr.of(b"192.168.1.5", hdrs) == b"192.168.1.5"  # untrusted peer: header ignored
    assert addr.of(b"10.0.0.1", ()) == b"10.0.0.1"
    assert addr.of(b"10.0.0.1", ((b"x-forwarded-for", b"10.1.1.1, 10.2.2.2"),)) == b"10.1.1.1"
    assert addr.of(b"10.0.0.1", ((b"x-forwarded-for", b"not-an-ip, 10.2.2.2"),)) == b"not-an-ip"


def test_star_trusts_everyone():
    addr = ClientAddress(proxy_headers=True, trusted=parse_ip_list("*"))
    assert addr.of(b"203.0.113.9", ((b"x-forwarded-for", b"1.2.3.4"),)) == b"1.2.3.4"


def test_trust_answers_are_remembered_within_a_bound():
    # trusted() remembers its answers (parsing an address cost ~2 µs per
    # request); forwarded addresses come from clients, so the memory is capped.
    from rover_mt import client_identity

    addr = ClientAddress(proxy_headers=True, trusted=parse_ip_list("192.0.2.0/24"))
    many = [f"198.51.{i // 256}.{i % 256}".encode() for i in range(client_identity._SEEN_MAX + 50)]
    for _ in range(2):  # the second pass reads remembered answers, then fresh ones
        assert [addr.trusted(ip) for ip in many] == [False] * len(many)
        assert addr.trusted(b"192.0.2.7") and addr.trusted(b"192.0.2.7")
        assert not addr.trusted(b"not-an-ip") and not addr.trusted(b"not-an-ip")
        assert len(addr._seen) <= client_identity._SEEN_MAX
    assert addr.of(b"192.0.2.1", ((b"x-forwarded-for", b"203.0.113.5, 192.0.2.9"),)) == b"203.0.113.5"
