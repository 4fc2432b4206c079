"""Outbound webhook signatures verify with the standardwebhooks package and match its
published vector; the SSRF address rules refuse every non-public address."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
import standardwebhooks

from service.security import webhook_signing
from service.security.addresses import networks, refusal, url_problem

# The Standard Webhooks specification's example (and its libraries' test vector).
VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def test_the_published_vector():
    v = VECTOR
    assert webhook_signing.sign(v["secret"], v["id"], v["timestamp"], v["body"]) == v["signature"]


def test_signatures_verify_with_the_standardwebhooks_package():
    old, new = webhook_signing.new_secret(), webhook_signing.new_secret()
    assert new.startswith("whsec_") and len(webhook_signing._key(new)) == 24
    now = int(datetime.now(UTC).timestamp())  # the package checks the timestamp against the wall clock
    body = b'{"id":"evt_1","type":"finding.opened"}'
    headers = webhook_signing.headers([new, old], "evt_1", now, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):  # a receiver holding either secret accepts it
        assert standardwebhooks.Webhook(secret).verify(body, headers) == {"id": "evt_1", "type": "finding.opened"}
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(webhook_signing.new_secret()).verify(body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new).verify(body + b" ", headers)


REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "private",  # reserved (Python counts 240/4 as private too)
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "100.64.0.1": "not public",  # shared address space (CGNAT)
    "192.0.2.1": "private",  # documentation
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:169.254.169.254": "link-local",
    "2002:a9fe:a9fe::": "link-local",  # 6to4 wrapping 169.254.169.254
    "2002:7f00:1::": "loopback",  # 6to4 wrapping 127.0.0.1
}


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_non_public_addresses_are_refused(address):
    assert refusal(ipaddress.ip_address(address)) == REFUSED[address]


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_an_allowed_network_passes_and_only_it():
    allowed = networks(["127.0.0.0/8"])
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::1"), allowed) == "loopback"
    assert refusal(ipaddress.ip_address("10.0.0.1"), allowed) == "private"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/in", None),
        ("https://93.184.215.14:8443/in?x=1", None),
        ("http://hooks.example.com/in", "must use https"),
        ("ftp://hooks.example.com/in", "must be an https:// URL with a host"),
        ("https:///in", "must be an https:// URL with a host"),
        ("https://user:pw@hooks.example.com/", "must not hold credentials"),
        ("https://hooks.example.com/#frag", "must not have a fragment"),
        ("https://127.0.0.1/in", "127.0.0.1 is a loopback address"),
        ("https://[::ffff:10.0.0.1]/in", "::ffff:a00:1 is a private address"),
        ("https://[fe80::1%25eth0]/in", "fe80::1 is a link-local address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
    ],
)
def test_endpoint_urls(url, problem):
    assert url_problem(url, allow_http_loopback=False) == problem


def test_http_only_on_loopback_and_only_when_allowed():
    loopback = networks(["127.0.0.0/8"])
    assert url_problem("http://127.0.0.1:9/in", allow_http_loopback=True, allowed=loopback) is None
    assert url_problem("http://localhost:9/in", allow_http_loopback=True) is None
    assert url_problem("http://127.0.0.1:9/in", allow_http_loopback=True) == "127.0.0.1 is a loopback address"
    assert url_problem("http://example.com/in", allow_http_loopback=True).startswith("must use https")
