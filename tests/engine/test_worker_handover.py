"""The namespace worker's hand-over under Ctrl-C, made deterministic: an interruption is raised at every
line the main thread runs while handing work to the worker thread (inside `_Worker.run` and whatever it
calls), and each time the work must either never start or be finished before the interruption goes on.

Why: pipenet's kernel changes run on the worker thread while the main thread waits. An interruption that
escaped the hand-over after the work was queued (it once could, between queue.Queue.put's append and its
bookkeeping) let `up` roll back while the worker went on making namespaces behind its back."""

from __future__ import annotations

import sys
import threading
import time

from pipenet.backends.netns import _Worker


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt (which pytest would take for the user's own Ctrl-C)."""


def _lines_of_one_handover(worker: _Worker) -> int:
    count = [0]
    main = threading.current_thread()

    def tracer(frame, event, arg):
        if threading.current_thread() is not main:
            return None
        if event == "line":
            count[0] += 1
        return tracer

    sys.settrace(tracer)
    try:
        worker.run(lambda: None)
    finally:
        sys.settrace(None)
    return count[0]


def test_an_interruption_anywhere_in_the_handover_never_leaves_the_work_running_behind():
    worker = _Worker()
    try:
        lines = _lines_of_one_handover(worker)
        assert lines > 5  # (the tracer saw the hand-over)
        main = threading.current_thread()
        outcomes = {"never started": 0, "finished first": 0}
        for target in range(1, lines + 8):
            events: list[str] = []

            def work():
                events.append("started")
                time.sleep(0.02)  # the kernel at work
                events.append("finished")
                return 7

            seen = [0]

            def tracer(frame, event, arg):
                if threading.current_thread() is not main:
                    return None
                if event == "line":
                    seen[0] += 1
                    if seen[0] == target:
                        raise Interrupt()
                return tracer

            sys.settrace(tracer)
            try:
                got = worker.run(work)
            except Interrupt:
                got = None
            finally:
                sys.settrace(None)
            if got == 7:  # the interruption came after the hand-over ended
                assert events == ["started", "finished"]
                continue
            when_raised = list(events)
            time.sleep(0.1)  # time for work handed over behind the caller's back to start
            if when_raised:
                assert when_raised == ["started", "finished"], (target, when_raised)
                outcomes["finished first"] += 1
            else:
                assert events == [], f"line {target}: the work started after the interruption went on"
                outcomes["never started"] += 1
        # both kinds happened: interruptions before the work was handed over, and after
        assert outcomes["never started"] and outcomes["finished first"], outcomes
        assert worker.run(lambda: 42) == 42  # and the worker still works
    finally:
        worker.stop()
