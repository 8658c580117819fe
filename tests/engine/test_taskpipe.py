"""`TaskPipe`: the queue two processes share; the child's part is whole whoever does it."""

from __future__ import annotations

import os

from pipenet.backends.taskpipe import TaskPipe


def test_the_child_s_part_done_here_is_every_task_this_process_did_not_take():
    q = TaskPipe(6)
    try:
        assert q.full
        mine = []
        for i in q:
            mine.append(i)
            if len(mine) == 2:
                break
        assert list(q.for_child()) == [i for i in range(6) if i not in mine]  # (the child failed, or none)
    finally:
        q.close()


def test_a_drained_queue_leaves_nothing_taken_here():
    q = TaskPipe(4)
    try:
        q.drain()
        assert q.taken == set() and list(q) == []
    finally:
        q.close()


def test_in_the_forked_child_its_part_is_what_it_takes_from_the_queue():
    q = TaskPipe(8)
    r, w = os.pipe()
    first = next(iter(q))  # (taken here before the fork)
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, bytes(q.for_child()))
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 64)
    os.close(r)
    os.waitpid(pid, 0)
    q.close()
    assert first == 0 and sorted(got) == list(range(1, 8))
