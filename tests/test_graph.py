"""`pipenet graph`: DOT, Mermaid, SVG/PNG through Graphviz, and a clear error without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pipenet", *args], capture_output=True, text=True,
                          env=dict(os.environ, NO_COLOR="1", **(env or {})))


def test_dot_has_every_node_link_address_and_nat(tmp_path):
    out = tmp_path / "f.dot"
    assert run("graph", f"{EXAMPLES}/foundations.pn", "-o", str(out)).returncode == 0
    dot = out.read_text()
    for node in ("h1", "h2", "h3", "h4", "modemA", "modemB", "isp", "backbone", "example", "ftp", "mail", "www"):
        assert f'"{node}" [shape=box' in dot
    for br in ("homeA", "homeB", "exampleCOM"):
        assert f'"br:{br}" [shape=box3d' in dot
    assert '"backbone" -- "isp"' in dot and 'taillabel="eth0\\n10.1.1.1"' in dot
    assert 'headlabel="eth0\\n10.25.1.65/16"' in dot
    assert "NAT out eth0" in dot
    assert '"host"' not in dot  # the playground's bridges are plain switches: the host takes no part


def test_published_ports_and_host_are_marked(tmp_path):
    out = tmp_path / "p.dot"
    assert run("graph", f"{EXAMPLES}/publish.pn", "-o", str(out)).returncode == 0
    dot = out.read_text()
    assert "publish 8080/tcp → web:80" in dot and '"host" [shape=house' in dot


def test_mermaid(tmp_path):
    out = tmp_path / "f.mmd"
    assert run("graph", f"{EXAMPLES}/foundations.pn", "-o", str(out)).returncode == 0
    mmd = out.read_text()
    assert mmd.startswith("graph LR\n") and "n_modemA" in mmd and "10.25.1.65/16" in mmd


@pytest.mark.parametrize("ext", ["svg", "png"])
def test_pictures_through_graphviz(tmp_path, ext):
    assert shutil.which("dot"), "graphviz is installed by tools/install"
    out = tmp_path / f"f.{ext}"
    r = run("graph", f"{EXAMPLES}/foundations.pn", "-o", str(out))
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") if ext == "png" else b"<svg" in data
    if ext == "svg":
        assert b"modemA" in data and b"10.130.1.4/24" in data


def test_without_graphviz_svg_is_one_line_and_dot_still_works(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {"PATH": str(bin_dir)}
    r = run("graph", f"{EXAMPLES}/docker0.pn", "-o", str(tmp_path / "x.svg"), env=env)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "apt-get install graphviz" in r.stderr
    assert run("graph", f"{EXAMPLES}/docker0.pn", "-o", str(tmp_path / "x.dot"), env=env).returncode == 0
    assert run("graph", f"{EXAMPLES}/docker0.pn", "-o", str(tmp_path / "x.mmd"), env=env).returncode == 0
