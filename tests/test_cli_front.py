"""`pipenet check` and `pipenet fmt` as a user runs them: exit statuses, stderr, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "docker0.pn")


def pipenet(*args, cwd=None, env=None):
    e = dict(os.environ, NO_COLOR="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "pipenet", *args], capture_output=True, text=True, cwd=cwd, env=e)


def test_check_clean_file_exits_0():
    r = pipenet("check", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stderr and r.stdout == ""


def test_check_counts_in_words(tmp_path):
    """One of a thing is said in the singular (`1 bridge`), none or several in the plural."""
    f = tmp_path / "one.pn"
    f.write_text("topology one\nbridge b { address 10.0.0.1/24 }\ncontainer a { net b }\n")
    r = pipenet("check", str(f))
    assert r.returncode == 0, r.stderr
    assert "(topology one: 1 bridge, 1 container, 0 p2p links)" in r.stderr, r.stderr
    f.write_text("topology many\nbridge b { address 10.0.0.1/16 }\nfor i in 1..1000 { container c${i} { net b } }\n")
    r = pipenet("check", str(f))
    assert "(topology many: 1 bridge, 1,000 containers, 0 p2p links)" in r.stderr, r.stderr  # (as tables write it)


def test_check_reports_every_error_and_exits_1(tmp_path):
    f = tmp_path / "bad.pn"
    f.write_text("bridge b { address 10.0.0.1/24 }\ncontainer a { net c }\ncontainer x { net b; address 10.1.1.1 }\n")
    r = pipenet("check", str(f))
    assert r.returncode == 1
    assert f"{f}:2:19: error: bridge `c` is not declared" in r.stderr
    assert f"{f}:3:30: error: address 10.1.1.1 is outside bridge b's subnet 10.0.0.0/24" in r.stderr
    assert "2 errors; nothing was changed" in r.stderr
    assert "\x1b[" not in r.stderr  # no colour off a terminal


def test_check_json(tmp_path):
    f = tmp_path / "bad.pn"
    f.write_text("container a { net nowhere }\n")
    r = pipenet("check", "--json", str(f))
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["ok"] is False
    assert doc["diagnostics"][0]["line"] == 1 and doc["diagnostics"][0]["column"] == 19
    ok = json.loads(pipenet("check", "--json", EXAMPLE).stdout)
    assert ok["ok"] and ok["counts"]["containers"] == 3


def test_check_missing_and_binary_files(tmp_path):
    r = pipenet("check", str(tmp_path / "nope.pn"))
    assert r.returncode == 1 and "cannot read" in r.stderr
    b = tmp_path / "bin.pn"
    b.write_bytes(b"\x00\xff\xfe\x00garbage")
    r = pipenet("check", str(b))
    assert r.returncode == 1 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_fmt_rewrites_and_check_mode(tmp_path):
    f = tmp_path / "t.pn"
    f.write_text("container a {net none;hostname x}   # keep me\n")
    r = pipenet("fmt", "--check", str(f))
    assert r.returncode == 1 and "would be reformatted" in r.stderr
    assert pipenet("fmt", str(f)).returncode == 0
    assert f.read_text() == "container a { net none; hostname x }  # keep me\n"  # a short block stays on its line
    r = pipenet("fmt", "--check", str(f))
    assert r.returncode == 0


def test_fmt_refuses_unparsable_file(tmp_path):
    f = tmp_path / "t.pn"
    f.write_text("container a {\n")
    r = pipenet("fmt", str(f))
    assert r.returncode == 1 and "closing }" in r.stderr
    assert f.read_text() == "container a {\n"


def test_grammar_ships_inside_the_package(tmp_path):
    # run from an unrelated directory: the grammar is found through the package, not the cwd
    r = pipenet("check", os.path.abspath(EXAMPLE), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    import pipenet as package
    assert os.path.exists(os.path.join(os.path.dirname(package.__file__), "grammar", "pipenet.lark"))


def test_a_huge_file_is_refused_quickly(tmp_path):
    import time

    f = tmp_path / "huge.pn"
    with open(f, "wb") as out:
        out.write(b"# padding\n" * (3_400_000))  # 34 MB
    t = time.monotonic()
    r = pipenet("check", str(f))
    assert r.returncode == 1 and "at most 33,554,432 bytes" in r.stderr
    assert time.monotonic() - t < 5
