"""Network namespaces, created and entered in-process.

One persistent worker thread does every namespace switch: to create a
namespace it `unshare`s a new network namespace, bind-mounts
/proc/thread-self/ns/net on /run/netns/NAME exactly as `ip netns add` does
(with /run/netns made a shared mount point first, so the namespace is seen
from other mount namespaces), opens a netlink socket there and `setns`es
back. To open an existing namespace it `setns`es in, opens the socket and
comes back. The main thread never leaves the namespace pipenet runs in, and
no process is forked per namespace.

A namespace is named by a *ref*: "" for the namespace pipenet runs in (the
host, or the sandbox's host), a bare name for /run/netns/NAME, or an
absolute path (an attached namespace: /proc/PID/ns/net, /var/run/netns/x).
"""

from __future__ import annotations

import collections
import errno
import fcntl
import os
import queue
import resource
import threading
from dataclasses import dataclass

from pipenet.backends import linux
from pipenet.errors import PartlyDone
from pipenet.backends.netlink import Netlink
from pipenet.fsutil import write_if_possible

RUN_DIR = "/run/netns"
UNMOUNTERS = 4  # threads sharing the unmounts of a `delete_many` (see there)


@dataclass
class Handle:
    """An open namespace: a file descriptor (for setns and IFLA_NET_NS_FD) and a netlink socket."""

    ref: str
    fd: int
    nl: Netlink
    inode: int = 0  # the namespace's nsfs inode, read once when it is opened

    def __post_init__(self):
        if not self.inode:
            self.inode = os.fstat(self.fd).st_ino

    def close(self) -> None:
        self.nl.close()
        os.close(self.fd)


class _Worker:
    """A thread that runs functions for the main thread, so namespace switches never happen there.

    The main thread's side of a hand-over calls only C functions (a deque's append, a SimpleQueue's
    put, a lock's acquire), never threading's Python-level Condition, Event or Semaphore, nor
    queue.Queue: a Ctrl-C raised inside those can leave their inner lock held (a deadlock) or, inside
    Queue.put after its append, let `run` give up on work the worker then did anyway. An interruption
    during the hand-over looks at whether the job went in, and if it did, waits for it like any other."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending: collections.deque = collections.deque()
        self.current = None  # the job the worker last took (under `lock`)
        self.wake: queue.SimpleQueue = queue.SimpleQueue()
        self.t: threading.Thread | None = None  # (started by the first job: see `_room`)
        self.starting = threading.Lock()

    def _start(self) -> None:
        """Start the thread (on the first job: a process that never switches namespaces has none, and
        `_room` grows the descriptor table before it exists), once: two callers at once start one, and
        a thread an interruption (Ctrl-C) caught while it was starting is kept, since it runs."""
        with self.starting:
            if self.t is not None:
                return
            t = threading.Thread(target=self._loop, name="pipenet-netns", daemon=True)
            try:
                t.start()
            except BaseException:
                if t.ident is not None or t in getattr(threading, "_limbo", {}):
                    self.t = t  # (it was made: it takes the jobs)
                raise
            self.t = t

    def _loop(self):
        while True:
            self.wake.get()
            with self.lock:
                if not self.pending:
                    continue  # (an interrupted hand-over may wake the worker twice)
                job = self.current = self.pending.popleft()
            fn, box, done = job
            if fn is None:
                return
            try:
                box.append((True, fn()))
            except BaseException as e:  # handed back to the caller
                box.append((False, e))
            done.release()

    def _handed(self, job) -> bool:
        with self.lock:
            return bool(job[1]) or self.current is job or any(j is job for j in self.pending)

    def run(self, fn):
        """fn() on the worker thread. An interruption (Ctrl-C) while it runs waits for it to end first: a
        kernel change under way is finished, and known to be, before the interruption goes on (a caller
        that stops at once would leave the worker changing the kernel behind its back)."""
        if self.t is None:
            self._start()
        box: list = []  # the answer: the worker fills it before it lets `done` go
        done = threading.Lock()
        done.acquire()
        job = (fn, box, done)
        try:
            self.pending.append(job)
            self.wake.put(True)
            while not box:
                done.acquire()
        except BaseException as e:  # noqa: BLE001 - did the job go in? then re-raised once it is done
            if not self._handed(job):
                raise
            self.wake.put(True)  # (in case the interruption came between the append and the wake-up)
            while not box:
                try:
                    done.acquire()
                except BaseException as again:  # noqa: BLE001
                    e = again
            raise e
        ok, value = box[0]
        if ok:
            return value
        raise value

    def stop(self):
        if self.t is not None:
            self.pending.append((None, None, None))
            self.wake.put(True)


class _Inline:
    """The worker of a forked child: the child is single-threaded, so it may switch namespaces itself
    (the parent's worker thread does not exist there)."""

    @staticmethod
    def run(fn):
        return fn()

    @staticmethod
    def stop():
        pass


def _no_dad_default() -> None:
    """In the calling thread's (new) namespace, for a node with IPv6: no duplicate address detection on
    the interfaces that will be made in or moved into it, since pipenet made the segment (addresses are
    usable at once, not "tentative" for a second).

    Only nodes with IPv6 pay for it: opening a file under /proc/sys/net in a new namespace walks one
    cached entry per existing namespace (about 3 ms at 1,000 namespaces, 5 ms at 4,000), so a node
    without IPv6 gets its quiet interfaces one by one, by netlink (`addrgenmode none` on each before it
    comes up), rather than from its namespace's default."""
    write_if_possible("/proc/sys/net/ipv6/conf/default/accept_dad", b"0")  # (this thread's namespace)


def _mount_at(source: str, path: str) -> None:
    """A namespace (`source`: a /proc path to it) given the name `path`, as `ip netns add` does: an empty
    file made there (never one that exists), then a bind mount on it; the file goes again if the mount
    fails."""
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    try:
        linux.mount(source, path, "none", linux.MS_BIND)
    except BaseException:
        os.unlink(path)
        raise


def _raise_nofile() -> None:
    """Each open namespace costs two descriptors; lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _room(extra: int) -> None:
    """Grow this process's descriptor table at once to hold `extra` more. The kernel grows it by
    doubling as descriptors are opened, and while another thread shares it (the namespace worker)
    each growth waits for an RCU grace period: the first 2,000 namespaces a process opened (4,000
    descriptors) cost 40 to 50 us each, against 13 us once the table was large enough. One descriptor
    duplicated at the highest number needed makes it one growth (F_DUPFD: the lowest free number from
    there, so no descriptor in use is touched), then closed; made before the worker thread has started
    (it starts with its first job), not even that one waits."""
    if extra < 256:
        return
    probe = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)  # (the lowest free descriptor)
    try:
        top = min(probe + extra + 64, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1)
        if top > probe:
            os.close(fcntl.fcntl(probe, fcntl.F_DUPFD_CLOEXEC, top))
    except OSError:
        pass  # (only slower)
    finally:
        os.close(probe)


class Namespaces:
    def __init__(self, run_dir: str = RUN_DIR):
        _raise_nofile()
        self.run_dir = run_dir
        self.worker = _Worker()
        root_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.root = Handle("", root_fd, Netlink.open_here())
        self.handles: dict[str, Handle] = {"": self.root}
        self._run_dir_ready = False
        self._run_dev: int | None = None
        self.retired: list[Handle] = []  # handles of namespaces deleted in this run (see `delete`)
        self.held: dict[str, int] = {}  # ref: a descriptor only, on a namespace read by another process
        self._unread: set[str] = set()  # opened by `open_many` and not read yet (`just_opened`)
        self.retired_fds: list[tuple[str, int]] = []  # (ref, descriptor) of those deleted in this run

    def close(self) -> None:
        for ref, h in list(self.handles.items()):
            h.close()
        self.handles.clear()
        self._unread.clear()
        self._close_retired()
        self.worker.stop()

    def _close_retired(self) -> None:
        for h in self.retired:
            h.close()
        self.retired.clear()
        for fd in [*self.held.values(), *(fd for _, fd in self.retired_fds)]:
            os.close(fd)
        self.held.clear()
        self.retired_fds.clear()

    def forked(self) -> None:
        """In a forked child: switch namespaces in this (only) thread from now on, with netlink sockets
        of its own (a socket shared with the parent would mix two processes' requests and replies)."""
        self.worker = _Inline()
        for ref, h in list(self.handles.items()):
            if ref != "":
                self.handles.pop(ref)
                self._unread.discard(ref)
                h.close()  # (this process's copies of the descriptors)
        self._close_retired()
        self.root.nl.close()
        self.root = Handle("", self.root.fd, Netlink.open_here(), self.root.inode)
        self.handles[""] = self.root

    def path(self, ref: str) -> str:
        if ref.startswith("/"):
            return ref
        return os.path.join(self.run_dir, ref)

    # ---- the worker's side ------------------------------------------------------------------------
    def _back(self) -> None:
        linux.setns(self.root.fd, linux.CLONE_NEWNET)

    def _prepare_run_dir(self) -> None:
        """Make /run/netns a shared mount point, as iproute2 does, so netns mounts propagate."""
        if self._run_dir_ready:
            return
        os.makedirs(self.run_dir, mode=0o755, exist_ok=True)
        lock = os.open(self.run_dir, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            made = False
            while True:
                try:
                    linux.mount("", self.run_dir, "none", linux.MS_SHARED | linux.MS_REC)
                    break
                except OSError as e:
                    if e.errno != errno.EINVAL or made:
                        raise
                    linux.mount(self.run_dir, self.run_dir, "none", linux.MS_BIND | linux.MS_REC)
                    made = True
        finally:
            os.close(lock)
        self._run_dir_ready = True

    def _create(self, name: str, mark: str | None = None, quiet: bool = False) -> Handle:
        """The namespace is made whole (loopback up, carrying the mark, IPv6 defaults set) before it gets
        its name: a process killed at any moment leaves no namespace at /run/netns/NAME that lacks
        pipenet's mark (at worst, for the instant between the two calls below, an empty file there,
        which is not a namespace and is read as absent). `quiet`: a node without IPv6 (its interfaces are
        made quiet one by one, see `_no_dad_default`)."""
        self._prepare_run_dir()
        path = self.path(name)
        nsfd = nl = None
        mounted = False
        try:
            linux.unshare(linux.CLONE_NEWNET)
            try:
                if not quiet:
                    _no_dad_default()
                nsfd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                nl = Netlink.open_here(big=False)
                nl.index["lo"] = 1  # loopback is always the first interface of a new namespace
                nl.link_set("lo", up=True, alias=mark)
                _mount_at("/proc/thread-self/ns/net", path)
                mounted = True
            finally:
                self._back()
        except BaseException:
            if mounted:
                linux.umount(path, linux.MNT_DETACH)
                os.unlink(path)
            if nl is not None:
                nl.close()
            if nsfd is not None:
                os.close(nsfd)
            raise
        return Handle(name, nsfd, nl)

    def _create_all(self, specs: list[tuple[str, str | None, bool]]) -> tuple[list[Handle], Exception | None]:
        made: list[Handle] = []
        try:
            for name, mark, quiet in specs:
                made.append(self._create(name, mark, quiet))
        except Exception as e:  # noqa: BLE001 - handed back with what was made
            return made, e
        return made, None

    def _open(self, ref: str, back: bool = True) -> Handle:
        """A handle on the namespace at `ref`; the thread is switched back to the root namespace after,
        unless `back` is off (the caller, opening many in a row, does it once at the end)."""
        # (O_NONBLOCK: a FIFO someone left at the path must not stop the thread; a namespace ignores it)
        fd = os.open(self.path(ref), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            linux.setns(fd, linux.CLONE_NEWNET)
            try:
                nl = Netlink.open_here(big=False)
            finally:
                if back:
                    self._back()
        except BaseException:
            os.close(fd)
            raise
        return Handle(ref, fd, nl)

    # ---- the main thread's side -------------------------------------------------------------------
    def create(self, name: str, mark: str | None = None, quiet: bool = False) -> Handle:
        """A new namespace at /run/netns/NAME, its loopback up and carrying `mark` (pipenet's mark on a
        namespace: read back before the namespace is ever changed or removed). `quiet`: a node without
        IPv6, whose interfaces pipenet makes without IPv6 autoconfiguration (not its namespace's default,
        see `_no_dad_default`); otherwise, they skip duplicate address detection."""
        try:
            return self.create_many([(name, mark, quiet)])[0]
        except PartlyDone as e:
            raise e.cause from None

    def get(self, ref: str) -> Handle:
        h = self.handles.get(ref)
        if h is None:
            h = self.worker.run(lambda: self._open(ref))
            self.handles[ref] = h
        return h

    def create_many(self, specs: list[tuple[str, str | None, bool]]) -> list[Handle]:
        """Namespaces made as `create` makes them, (name, mark, quiet) each, in one visit of the worker
        thread: a hand-over costs about 90 us, a namespace about 450. One that cannot be made stops
        the rest: PartlyDone, with the handles of those made (which are kept, as `create` keeps them)."""
        for name, _, _ in specs:
            old = self.handles.pop(name, None)
            self._unread.discard(name)
            if old is not None:
                old.close()
        _room(2 * len(specs))
        made, error = self.worker.run(lambda: self._create_all(specs))
        for h in made:
            self.handles[h.ref] = h
        if error is not None:
            raise PartlyDone(made, error)
        return made

    def open_many(self, refs: list[str]) -> None:
        """Open every namespace of `refs` not open yet, in one visit of the worker thread (a thousand
        namespaces: one hand-over between threads, not a thousand)."""
        todo = [r for r in refs if r and r not in self.handles]
        if not todo:
            return
        _room(2 * len(todo))

        def open_all():
            out = {}
            try:
                for ref in todo:  # (from one namespace straight into the next: half the switches)
                    try:
                        out[ref] = self._open(ref, back=False)
                    except OSError:
                        pass  # not there, or not a namespace (a placeholder file): read as absent later
            finally:
                self._back()
            return out

        got = self.worker.run(open_all)
        self.handles.update(got)
        self._unread = set(got)  # (those of this call alone: an earlier call's are no longer "just")

    def just_opened(self, ref: str) -> Handle | None:
        """The handle `open_many` has just opened on the namespace at `ref`, the first time it is asked
        for (None after that, or if it opened none): the namespace that was at `ref` when it was opened,
        moments ago, which a read that follows need not stat again (`Kernel.read_raw`)."""
        if ref not in self._unread:
            return None
        self._unread.discard(ref)
        return self.handles.get(ref)

    def room_for(self, n: int) -> None:
        """Room in this process's descriptor table for n more namespaces, made now (`_room`): for a
        caller that will open them a few at a time."""
        _room(2 * n)

    def hold(self, refs: list[str]) -> None:
        """Keep a descriptor on each of these namespaces (a descriptor alone: a forked child may read them),
        so that their deletion in this run is not their last reference (see `delete`)."""
        _room(len(refs))
        for ref in refs:
            if ref and ref not in self.handles and ref not in self.held:
                try:
                    self.held[ref] = os.open(self.path(ref), os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    pass  # gone meanwhile: read as absent

    def fresh(self, ref: str, inode: int | None = None) -> Handle:
        """The handle of the namespace that is at `ref` now: one opened earlier for a namespace that has
        since been removed (and perhaps made again by someone else) is closed and opened anew.
        `inode`: the one at `ref`, when the caller has just read it (`live_inode`)."""
        h = self.handles.get(ref)
        if h is not None and ref != "":
            now = inode if inode is not None else self.live_inode(ref)
            if now != h.inode:
                self.handles.pop(ref, None)
                self._unread.discard(ref)
                h.close()
        return self.get(ref)

    def live_inode(self, ref: str) -> int | None:
        """The inode of the namespace at `ref` now, in one stat (None: no namespace there; an unmounted
        placeholder file under /run/netns is not one)."""
        if ref == "":
            return self.root.inode
        try:
            st = os.stat(self.path(ref))
        except OSError:
            return None
        if ref.startswith("/"):
            return st.st_ino
        if self._run_dev is None:
            self._run_dev = os.stat(self.run_dir).st_dev
        return st.st_ino if st.st_dev != self._run_dev else None  # mounted from nsfs

    def exists(self, ref: str) -> bool:
        """Is there a namespace at `ref`? (An unmounted placeholder file under /run/netns is not one.)"""
        return self.live_inode(ref) is not None

    def delete(self, name: str) -> None:
        """Unmount and remove /run/netns/NAME. The kernel frees the namespace when its last reference
        goes, asynchronously; pipenet's own handle on it (or a descriptor, opened now if it had none) is
        kept until `close`, so that the unmount is not the last reference: an unmount that is waits for
        the kernel (an RCU grace period slowed by the cleanup of the namespaces freed before it), 0.7 to
        1.3 ms each, against 0.07 ms. And so that a rollback in this run can mount the very namespace
        back, with everything still in it (`restore`)."""
        self._retire(name)
        self._unmount(name)

    def delete_many(self, names: list[str]) -> None:
        """`delete` of each, the unmounts shared by UNMOUNTERS threads. Each unmount ends by waiting for
        an RCU grace period, and threads waiting at once share one: 4,000 unmounts take 0.20 s one
        after the other and 0.03 s in four threads. Raises PartlyDone with the names removed when one
        cannot be (the others are still tried)."""
        for name in names:
            self._retire(name)
        if len(names) < 2 * UNMOUNTERS:
            parts = [names]
        else:
            parts = [names[i::UNMOUNTERS] for i in range(UNMOUNTERS)]
        failed: dict[str, BaseException] = {}

        def work(part: list[str]) -> None:
            for name in part:
                try:
                    self._unmount(name)
                except Exception as e:  # noqa: BLE001 - handed to the caller as PartlyDone
                    failed[name] = e

        threads = [threading.Thread(target=work, args=(part,), daemon=True) for part in parts[1:]]
        for t in threads:
            t.start()
        try:
            work(parts[0])
        finally:  # (an interruption still waits for the others: the journal then says what was tried)
            for t in threads:
                t.join()
        if failed:
            raise PartlyDone([n for n in names if n not in failed], next(iter(failed.values())))

    def _retire(self, name: str) -> None:
        """Keep the handle and descriptor of a namespace being deleted until `close` (see `delete`); one
        this process has neither of gets a descriptor now (nothing when no namespace is there)."""
        h = self.handles.pop(name, None)
        self._unread.discard(name)
        if h is not None:
            self.retired.append(h)
        fd = self.held.pop(name, None)
        if fd is None and h is None and self.live_inode(name) is not None:
            try:
                fd = os.open(self.path(name), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                fd = None  # (gone meanwhile)
        if fd is not None:
            self.retired_fds.append((name, fd))

    def restore(self, name: str, inode: int | None = None) -> bool:
        """Mount back at /run/netns/NAME the namespace this run deleted there (`delete` kept a descriptor
        on it): the same namespace, with whatever is still in it, as a rollback puts it back. `inode`:
        the one to give back (a run may have deleted two under one name: one it removed, one it made and
        undid); without it, the last deleted. False when this run deleted no such namespace there.
        Raises (EBUSY) when it did but something else is at that path now: nothing is touched, and the
        caller must not make a namespace there instead (its contents would go into someone else's)."""
        nsfs = os.fstat(self.root.fd).st_dev
        kept = [fd for fd in [*(h.fd for h in self.retired if h.ref == name),
                              *(fd for ref, fd in self.retired_fds if ref == name)]
                if (st := os.fstat(fd)).st_dev == nsfs and inode in (None, st.st_ino)]  # (namespaces only)
        if not kept:
            return False
        path = self.path(name)
        if os.path.lexists(path):
            raise OSError(errno.EBUSY, f"{path} was taken by something else while pipenet had the namespace "
                                       f"it removed there; that namespace could not be mounted back")
        self._prepare_run_dir()
        _mount_at(f"/proc/self/fd/{kept[-1]}", path)
        return True

    def _unmount(self, name: str) -> None:
        path = self.path(name)
        try:
            linux.umount(path, linux.MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOENT):
                raise
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def in_ns(self, ref: str, fn):
        """Run fn() in the worker thread while it is inside namespace `ref`."""
        h = self.get(ref)
        if ref == "":
            return self.worker.run(fn)

        def inside():
            linux.setns(h.fd, linux.CLONE_NEWNET)
            try:
                return fn()
            finally:
                self._back()

        return self.worker.run(inside)

    def inode(self, ref: str) -> int:
        return self.fresh(ref).inode
