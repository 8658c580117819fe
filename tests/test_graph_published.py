"""`pipenet graph` shows every published port: host address, ports chosen at `up`, and in Mermaid too."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SRC = """topology pub
bridge docker0 { address 172.17.42.1/16 }
container dns {
    net docker0
    publish 127.0.0.1:5353:53/udp
    publish 10.0.0.1::8053
}
container web {
    net docker0
    expose 80/tcp 8000/tcp 9000/udp
    publish 8080:80/tcp
    publish-all
}
"""
WANT = ["publish 127.0.0.1:5353/udp → dns:53", "publish 10.0.0.1:auto/tcp → dns:8053", "publish 8080/tcp → web:80",
        "publish-all auto/tcp → web:8000", "publish-all auto/udp → web:9000"]


@pytest.mark.parametrize("ext", ["dot", "mmd"])
def test_every_published_port_is_drawn(tmp_path, ext):
    src = tmp_path / "pub.pn"
    src.write_text(SRC)
    out = tmp_path / f"pub.{ext}"
    r = subprocess.run([sys.executable, "-m", "pipenet", "graph", str(src), "-o", str(out)], capture_output=True,
                       text=True, env=dict(os.environ, NO_COLOR="1"))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    host = next(line for line in text.splitlines() if "house" in line or line.strip().startswith("n_host{{"))
    sep = "\\n" if ext == "dot" else "<br/>"
    assert host.split('"')[1 if ext == "mmd" else -2].split(sep)[1:] == WANT, host
    assert "publish-all auto/tcp → web:80" + sep not in text + sep  # 80 is published explicitly, not by publish-all
