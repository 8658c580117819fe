"""A node's user may put links in its private directories, or swap a name for one while `up` runs:
pipenet's own removal and chmod act on what is there, never through a link to a place outside it."""

from __future__ import annotations

import os
import stat

import pytest

from pipenet import fsutil
from pipenet.backends import nodefiles


def test_removing_a_tree_never_changes_what_a_link_in_it_points_to(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    (victim / "keep").write_text("x")
    tree = tmp_path / "nodes" / "a" / "run" / "mine"
    tree.mkdir(parents=True)
    (tree / "evil").symlink_to(victim)
    (tree / "sub").mkdir(mode=0o000)  # (what the removal must still get through: a mode-000 directory)
    fsutil.remove_tree(str(tmp_path / "nodes"))
    assert not (tmp_path / "nodes").exists()
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o755 and (victim / "keep").read_text() == "x"


def test_the_mode_of_a_node_file_is_set_on_the_file_not_through_a_link(tmp_path):
    target = tmp_path / "host-secret"
    target.write_text("s")
    os.chmod(target, 0o600)
    link = tmp_path / "inside.conf"
    link.symlink_to(target)
    with pytest.raises(OSError):
        nodefiles._chmod_here(str(link), 0o4777)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    real = tmp_path / "real.conf"
    real.write_text("r")
    nodefiles._chmod_here(str(real), 0o640)
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640


def test_a_file_from_a_fifo_or_a_device_is_refused_at_once(tmp_path):
    """`file PATH from "SRC"` reads SRC when the file is read: a FIFO would block `check` for ever (no
    writer), a device is no configuration file."""
    import pipenet

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    lab = tmp_path / "f.pn"
    lab.write_text('topology f\ncontainer a { file /etc/hostname from "fifo"; file /etc/hosts from "zero" }\n')
    report = pipenet.check(str(lab))
    assert sorted(d.message for d in report.diagnostics) == ["`fifo` is not a regular file",
                                                             "`zero` is not a regular file"]


def test_a_mount_point_that_became_a_link_into_proc_since_check_is_not_mounted_on(tmp_path):
    """`check` refuses such a path; a link put there between `check` and the node's process starting is
    refused by the mount itself, which would otherwise land in /proc. (Tried in a child with a mount
    namespace of its own, so that were the refusal gone, the host's /proc would still be untouched.)"""
    from pipenet.backends import enter, linux

    src = tmp_path / "kept.conf"
    src.write_text("x")
    (tmp_path / "target").symlink_to("/proc/mounts")
    said = tmp_path / "said"
    pid = os.fork()
    if pid == 0:
        try:
            linux.unshare(linux.CLONE_NEWNS)
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            try:
                enter.bind(str(src), str(tmp_path / "target"))
                said.write_text("mounted")
            except OSError as e:
                said.write_text(str(e))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert "leads into the kernel's /proc" in said.read_text()
