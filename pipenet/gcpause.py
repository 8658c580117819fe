"""Python's memory management around pipenet's big commands: the cyclic garbage collector paused
while they build many acyclic objects, and, in a process that ends with its command, what they made
left for the exit to free at once."""

from __future__ import annotations

import functools
import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a stage builds its (acyclic) objects: the front end on
    a 10,000-container file, or the live check reading 4,000 namespaces and the record's 20,000
    operations, otherwise spends a tenth to a third of its time rescanning them. Cycles made
    meanwhile are collected once it resumes. Pauses nest: only the outermost resumes it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def paused(fn):
    """`fn` run with the collector paused (`gc_paused`): `up`, `down` and `plan`, whose every stage
    allocates by the hundred thousand (the record's JSON, the plan, the journal's header, the live
    reads) and makes next to no cycles. Left on, the collector's full passes rescan all of it again and
    again: at 4,000 containers three or four passes of 20 to 50 ms each before `down`'s request is
    even sent (83 ms of `down`, 191 ms of `up`, for some 400 and 800 objects in cycles found), all of
    it on the way to the kernel. The collector resumes when the outermost pause ends."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with gc_paused():
            return fn(*args, **kwargs)

    return wrapper


#: Set by the `pipenet` program (`cli.dispatch.run`), whose process ends as soon as its command is done
#: (`os._exit`, no interpreter teardown).
ENDS_WITH_COMMAND = False


def paused_to_the_end(fn):
    """`paused`, for a command of the `pipenet` program (`up`, `down`, `plan`, their summary included):
    when the process ends with the command (ENDS_WITH_COMMAND), the collector is not resumed at all. Resumed,
    its first pass would go over everything the command made and still holds, just before the exit
    frees it all at once (6 to 9 ms at 4,000 containers). Called any other way (the tests, a program
    of the user's), it is `paused`."""
    inner = paused(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _LEAVING
        if not ENDS_WITH_COMMAND:
            return inner(*args, **kwargs)
        gc.disable()
        _LEAVING = True
        return fn(*args, **kwargs)

    return wrapper


_LEAVING = False  # (in a command `paused_to_the_end` of a process that ends with it)
_KEPT: list = []


def leaving() -> bool:
    """Is this the `up`, `down` or `plan` of a `pipenet` process that ends with it (`paused_to_the_end`)?
    Then what the exit frees at once need not be freed one by one before it (`keep`)."""
    return _LEAVING


def kept(obj) -> bool:
    """Was `obj` itself given to `keep`? (`api.kernel` leaves such a kernel's thousands of namespace
    sockets and descriptors to the exit; one that was not kept, say the no-op's check that found a
    change before the full `up` opens another, is closed as ever.)"""
    return _LEAVING and any(o is obj for objs in _KEPT for o in objs)


def keep(*objs) -> None:
    """Hold these until the process ends, when it ends with the command (`leaving`): a record of 20,000
    operations and the reads of thousands of namespaces, freed one object at a time as the command
    returns, cost 10 to 15 ms that the exit spends on nothing. Otherwise nothing is held."""
    if _LEAVING:
        _KEPT.append(objs)
