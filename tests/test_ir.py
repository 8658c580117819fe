"""The IR's address arithmetic: `IfAddr.reaches` answers what `ip in addr.network` does (the planner
asks it of every route's gateway, in integers, without making the network)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from netaddr import IPAddress

from pipenet.ir import IfAddr, Interface


@st.composite
def address_and_ip(draw):
    version = draw(st.sampled_from((4, 6)))
    width = 32 if version == 4 else 128
    addr = IfAddr(IPAddress(draw(st.integers(0, 2**width - 1)), version), draw(st.integers(0, width)))
    near = draw(st.booleans())
    if near:  # an address sharing the first k bits with it
        flip = draw(st.integers(0, width))
        ip = IPAddress(int(addr.ip) ^ draw(st.integers(0, 2**flip - 1)), version)
    else:
        other = draw(st.sampled_from((4, 6)))
        ip = IPAddress(draw(st.integers(0, 2**(32 if other == 4 else 128) - 1)), other)
    return addr, ip


@settings(max_examples=2000, deadline=None)
@given(address_and_ip())
def test_reaches_is_membership_of_the_network(pair):
    addr, ip = pair
    assert addr.reaches(ip) == (ip in addr.network)


def test_reaches_examples():
    a = IfAddr(IPAddress("10.0.3.7"), 24)
    assert a.reaches(IPAddress("10.0.3.1")) and not a.reaches(IPAddress("10.0.4.1"))
    assert not a.reaches(IPAddress("::a00:301"))  # another family is never on-link
    assert IfAddr(IPAddress("10.0.3.7")).reaches(IPAddress("10.0.3.7"))  # no prefix: a host's /32
    assert not IfAddr(IPAddress("10.0.3.7")).reaches(IPAddress("10.0.3.6"))


def test_kept_addresses_are_not_fields():
    """`addresses` and `network` are made once and kept, never compared: two equal interfaces stay
    equal whether or not one was asked."""
    a = Interface("eth0", "port", address=IfAddr(IPAddress("10.0.0.2"), 24))
    b = Interface("eth0", "port", address=IfAddr(IPAddress("10.0.0.2"), 24))
    assert a.addresses == (IfAddr(IPAddress("10.0.0.2"), 24),) and a.address.network is a.address.network
    assert a == b and hash(a) == hash(b)
