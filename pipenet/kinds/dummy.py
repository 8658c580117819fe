"""`dummy`: an interface that goes nowhere, for an address of the node's own (a router's loopback).

    interface dum0 dummy address 10.9.9.9/32

An address without a prefix is a host address (/32, /128). Needs
CONFIG_DUMMY, which not every kernel has.
"""

from __future__ import annotations

from pipenet.kinds.base import Kind


class Dummy(Kind):
    name = "dummy"
    rule = "dummy"
    usage = "dummy"
    short = "dummy"
    host_prefix = True
    own_segment = True
    link_kind = "dummy"
    feature = "CONFIG_DUMMY (dummy interfaces)"

    def build(self, w, part, sc, f, spans):
        pass  # the keyword alone


KIND = Dummy()
