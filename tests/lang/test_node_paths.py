"""`file` and `private`: what the front end makes of them, and every located error (nothing touched)."""

from __future__ import annotations

import os

from pipenet.lang.load import analyse


#: a file every machine has (over which a node's own may be mounted)
HOST_FILE = "/etc/motd" if os.path.isfile("/etc/motd") else "/etc/hostname"


def paths(text, name="t.pn"):
    topo, diags, _ = analyse(text, name)
    return topo, [(d.span.line, d.message) for d in diags]


def located(*lines: str) -> tuple[list[int], list[str]]:
    """The lines and messages of the diagnostics of a container made of these statements."""
    _topo, diags = paths("container a {\n" + "".join(f"  {x}\n" for x in lines) + "}\n")
    return [line for line, _ in diags], [m for _, m in diags]


def test_forms_become_the_nodes_paths(tmp_path):
    (tmp_path / "zebra.conf").write_text("hostname r1\n")
    pn = tmp_path / "t.pn"
    topo, diags = paths('container a {\n'
                        '  private /run owner nobody:nogroup mode 0750\n'
                        '  file /run/x.conf from "zebra.conf" owner 1234:5678 mode 0600\n'
                        '  file /etc/motd "hi\\n"\n'
                        '}\n', str(pn))
    assert diags == []
    p = {x.path: x for x in topo.container_map["a"].paths}
    assert (p["/run"].what, p["/run"].mode, p["/run"].uid) == ("private", 0o750, 65534)
    assert (p["/run/x.conf"].content, p["/run/x.conf"].uid, p["/run/x.conf"].gid, p["/run/x.conf"].mode) == (
        "hostname r1\n", 1234, 5678, 0o600)
    assert p["/run/x.conf"].source == str(tmp_path / "zebra.conf")
    assert (p["/etc/motd"].content, p["/etc/motd"].mode, p["/etc/motd"].uid) == ("hi\n", 0o644, 0)
    assert topo.container_map["a"].private_holding("/run/x.conf") == "/run"


def test_each_mistake_is_a_located_error():
    lines, words = located('file etc/motd "x"', 'file /proc/x "x"', f'file {HOST_FILE} "x" owner no-such-user-here',
                           f'file {HOST_FILE} "x" owner root:no-such-group-here', f'file {HOST_FILE} "x" mode 0999',
                           'file /etc/x from "no-such-file-here.txt"')
    assert lines == [2, 3, 4, 5, 6, 7]
    assert "not an absolute path" in words[0] and "/proc is the kernel's" in words[1]
    assert "no user `no-such-user-here`" in words[2] and "no group `no-such-group-here`" in words[3]
    assert "not an octal mode" in words[4] and "cannot read `no-such-file-here.txt`" in words[5]


def test_each_path_needs_a_mount_point_on_the_host_and_is_given_once():
    lines, words = located('file /no-such-other/file "x"', "private /no-such-dir-here", f"private {HOST_FILE}",
                           "private /tmp", "private /tmp", f'file {HOST_FILE} "x"', f'file {HOST_FILE}/under "x"')
    assert lines == [2, 3, 4, 6, 7, 8], words
    assert "no file at /no-such-other/file" in words[0] and "no directory at /no-such-dir-here" in words[1]
    assert f"no directory at {HOST_FILE}" in words[2]
    assert "given twice" in words[3] and "given twice" in words[4]
    assert "inside" in words[5]


def test_a_path_inside_a_private_directory_needs_no_mount_point():
    _topo, diags = paths('container a { private /tmp; file /tmp/new/deeper.conf "x"; private /tmp/new2 }\n')
    assert diags == []


def test_a_path_that_is_a_link_into_the_kernels_file_systems_is_refused(tmp_path):
    """A bind mount follows links: `file /etc/mtab ...` (a link to /proc/mounts on Debian) would have been
    mounted over /proc/PID/mounts. The spelling is not enough; where the path leads on this machine is."""
    (tmp_path / "mounts").symlink_to("/proc/mounts")
    (tmp_path / "sysdir").symlink_to("/sys/class")
    lines, words = located(f'file {tmp_path}/mounts "x"', f"private {tmp_path}/sysdir")
    assert lines == [2, 3]
    assert words == [f"`{tmp_path}/mounts` cannot be given to a node: on this machine it is a link into the "
                     "kernel's /proc",
                     f"`{tmp_path}/sysdir` cannot be given to a node: on this machine it is a link into the "
                     "kernel's /sys"]
