"""The command line: ``hftinfra probe`` and ``hftinfra snapshot`` as a user runs them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: conftest is not on the path
from conftest import REPO, nobody_python, write_tree  # noqa: E402

from hftinfra import cli  # noqa: E402
from hftinfra.host import Reason, open_host  # noqa: E402

SRC = REPO / "src"
HEAVY = ("plotly", "pandas", "ipywidgets")

TREE = {
    "/proc/cmdline": "BOOT_IMAGE=/vmlinuz ro isolcpus=2-3 nohz_full=2-3",
    "/proc/sys/kernel/hostname": "box1",
    "/proc/sys/kernel/osrelease": "6.1.0-18-amd64",
    "/proc/cpuinfo": "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu tsc constant_tsc\n\n"
                     "processor\t: 1\nmodel name\t: Test CPU\nflags\t\t: fpu tsc constant_tsc\n",
    "/sys/devices/system/cpu/online": "0-1",
    "/sys/devices/system/cpu/possible": "0-1",
    "/sys/devices/system/cpu/present": "0-1",
    "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
    "/hftinfra/meta.json": json.dumps({"captured_at": "2026-03-04T05:06:07+00:00"}),
}


def hftinfra(*args, env=None, cwd=None, timeout=60):
    """The CLI in a fresh interpreter, as a user runs it."""
    full_env = dict(os.environ)
    full_env.pop("HFTINFRA_HOST", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "hftinfra", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def state(root: Path) -> dict[str, str]:
    """Every entry under root with its kind and content hash: to prove nothing changed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[str(p)] = "dir"
            else:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def tar_with(path: Path, members) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for kind, name, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                tar.addfile(ti)
            else:
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tar.addfile(ti)
    return path


def damaged_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (input path, what the error line must say)."""
    good = write_tree(tmp / "good", TREE)
    archive = tmp / "good.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(good, arcname=".")
    data = archive.read_bytes()
    (tmp / "trunc.tar.gz").write_bytes(data[: len(data) * 2 // 3])
    corrupt = bytearray(data)
    corrupt[20:60] = b"\x00" * 40
    (tmp / "corrupt.tar.gz").write_bytes(bytes(corrupt))
    notsnap = tmp / "holiday"
    notsnap.mkdir()
    (notsnap / "beach.jpg").write_bytes(b"\xff\xd8\xff")
    write_tree(tmp / "badmeta", {"/proc/cmdline": "ro", "/hftinfra/meta.json": "{captured_at: yesterday"})
    ok = [("file", "proc/cmdline", b"ro\n")]
    cases = {
        "truncated": (tmp / "trunc.tar.gz", "not a readable .tar.gz snapshot"),
        "corrupt-gzip": (tmp / "corrupt.tar.gz", "not a readable .tar.gz snapshot"),
        "not-a-snapshot": (notsnap, "not a snapshot (no proc/, sys/ or hftinfra/meta.json inside)"),
        "dotdot": (tar_with(tmp / "dotdot.tar.gz", ok + [("file", "../../escaped", b"x")]),
                   "unsafe entry '../../escaped' leaves the snapshot"),
        "absolute": (tar_with(tmp / "abs.tar.gz", ok + [("file", "/tmp/hftinfra-escaped", b"x")]),
                     "unsafe entry '/tmp/hftinfra-escaped' leaves the snapshot"),
        "fifo": (tar_with(tmp / "fifo.tar.gz", ok + [("fifo", "proc/interrupts", b"")]),
                 "device or fifo entry 'proc/interrupts' is not allowed"),
        "meta-not-json": (tmp / "badmeta", "hftinfra/meta.json is not valid JSON"),
        "commands-not-json": (tar_with(tmp / "cmds.tar.gz", ok + [("file", "hftinfra/commands.json", b"[oops")]),
                              "hftinfra/commands.json is not valid JSON"),
        "absent": (tmp / "no-such.tar.gz", "no such snapshot"),
    }
    return cases


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("damaged")
    return tmp, damaged_inputs(tmp)


CASES = ["truncated", "corrupt-gzip", "not-a-snapshot", "dotdot", "absolute", "fifo",
         "meta-not-json", "commands-not-json", "absent"]


def assert_one_line_error(res, command: str, path: Path, message: str):
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"hftinfra {command}: error: {path}: "), lines[0]
    assert message in lines[0], lines[0]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["probe", "snapshot"])
def test_damaged_input_is_one_clear_line(damaged, case, command):
    tmp, cases = damaged
    path, message = cases[case]
    out = tmp / f"out-{case}-{command}.tar.gz"
    before = state(tmp)
    args = ["probe", "--host", str(path)] if command == "probe" else \
        ["snapshot", "--host", str(path), "-o", str(out)]
    assert_one_line_error(hftinfra(*args, cwd=tmp), command, path, message)
    assert state(tmp) == before
    assert not Path("/tmp/hftinfra-escaped").exists()


@pytest.mark.parametrize("kind", ["dir", "archive"])
def test_a_link_climbing_past_the_root_stays_inside(tmp_path, kind):
    # As in a chroot, '..' at the root is the root: the snapshot's own etc/, never the machine's.
    tree = write_tree(tmp_path / "s", {**TREE, "/etc/hostname": "snap-host", "@/sys/up": "../../../../etc"})
    path = tree
    if kind == "archive":
        path = tmp_path / "s.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(tree, arcname=".")
    assert open_host(path).read("/sys/up/hostname") == "snap-host"
    res = hftinfra("snapshot", "--host", str(path), "-o", str(tmp_path / "copy.tar.gz"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_hftinfra_host_pointing_at_garbage(tmp_path):
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(os.urandom(4096))
    for command in ("probe", "snapshot"):
        res = hftinfra(command, env={"HFTINFRA_HOST": str(garbage)}, cwd=tmp_path)
        assert_one_line_error(res, command, garbage, "not a readable .tar.gz snapshot")
    assert sorted(os.listdir(tmp_path)) == ["garbage.tar.gz"]


@pytest.mark.parametrize("system_dir", ["/sys", "/usr/local", "/etc"])
def test_system_folder_as_host_is_one_clear_line(system_dir, tmp_path):
    if not os.path.isdir(system_dir):
        pytest.skip(f"{system_dir} is absent here")
    assert_one_line_error(hftinfra("probe", "--host", system_dir, "kernel"), "probe", Path(system_dir),
                          "not a snapshot (no proc/, sys/ or hftinfra/meta.json inside)")
    res = hftinfra("probe", "kernel", env={"HFTINFRA_HOST": system_dir})
    assert_one_line_error(res, "probe", Path(system_dir), "not a snapshot")


@pytest.mark.parametrize("spec", ["/.", "/tmp/.."])
def test_root_given_as_a_path_is_the_live_host(spec):
    # It used to be opened as a snapshot: a walk of the whole filesystem, then a traceback.
    res = hftinfra("probe", "--host", spec, "kernel", "--format", "json", timeout=30)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    doc = json.loads(res.stdout)
    assert doc["host"]["is_live"] is True and doc["host"]["kernel"] == os.uname().release


# ---- probe ----------------------------------------------------------------------------


def test_probe_text_names_unread_values(tmp_path, capsys):
    root = write_tree(tmp_path / "s", TREE)
    assert cli.main(["probe", "--host", str(root), "memory.thp", "memory.ksm"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith(f"snapshot {root} · box1 · unknown (missing: /etc/os-release) · kernel 6.1.0-18-amd64 · "
                            "Test CPU · 2 CPUs online")
    assert "2026-03-04T05:06:07+00:00" in first
    assert "== memory.thp" in out and "== memory.ksm" in out and "== memory.swap" not in out
    assert "  enabled: madvise\n" in out
    assert "unknown (missing: /sys/kernel/mm/ksm/run)" in out


def test_probe_json_and_area_selection(tmp_path, capsys):
    root = write_tree(tmp_path / "s", TREE)
    assert cli.main(["probe", "--host", str(root), "--format", "json", "memory"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "hftinfra.probe" and doc["schema_version"] == 1
    assert doc["host"]["hostname"] == "box1" and doc["host"]["is_live"] is False
    assert set(doc["probes"]) >= {"memory.thp", "memory.ksm", "memory.swap"}
    assert all(name.startswith("memory.") for name in doc["probes"])
    assert doc["probes"]["memory.thp"]["enabled"] == "madvise"
    ksm_run = doc["probes"]["memory.ksm"]["run"]
    assert ksm_run == {"unknown": "missing", "source": "/sys/kernel/mm/ksm/run", "detail": ""}
    assert doc["errors"] == {}


def test_probe_unknown_name(tmp_path, capsys):
    root = write_tree(tmp_path / "s", TREE)
    assert cli.main(["probe", "--host", str(root), "memory.thp", "cpu.nonsense"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("hftinfra probe: error: no probe or area named 'cpu.nonsense'")
    assert "areas: " in err[0] and "memory" in err[0]


def test_probe_live_subprocess():
    res = hftinfra("probe", "kernel", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["host"]["is_live"] is True and doc["host"]["kernel"] == os.uname().release
    assert doc["probes"] and all(k.startswith("kernel.") for k in doc["probes"])


# ---- snapshot -------------------------------------------------------------------------


def test_snapshot_default_name_and_replay(tmp_path):
    res = hftinfra("snapshot", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (name,) = os.listdir(tmp_path)
    hostname = Path("/proc/sys/kernel/hostname").read_text().strip()
    assert name.startswith(f"snapshot-{hostname}-") and name.endswith(".tar.gz")
    assert res.stdout.startswith(f"wrote {name}: ") and " KiB in " in res.stdout
    host = open_host(tmp_path / name)
    assert host.meta["hostname"] == hostname and host.meta["redacted"] is False
    assert host.read("/proc/sys/kernel/osrelease") == os.uname().release
    replay = hftinfra("probe", "--host", str(tmp_path / name), "--format", "json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["host"]["kernel"] == os.uname().release


def test_snapshot_directory_and_redacted(tmp_path):
    res = hftinfra("snapshot", "--redact", "-o", str(tmp_path / "red"))
    assert res.returncode == 0, res.stderr
    assert "(redacted)" in res.stdout
    host = open_host(tmp_path / "red")
    assert host.meta["redacted"] is True and host.meta["hostname"].startswith("host-")
    for name in os.listdir("/sys/class/net"):
        mac = Path(f"/sys/class/net/{name}/address").read_text().strip()
        if mac.strip("0:") and mac != "ff:ff:ff:ff:ff:ff":
            assert mac not in state_text(tmp_path / "red")


def state_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_snapshot_of_a_snapshot_subprocess(tmp_path):
    root = write_tree(tmp_path / "s", TREE)
    res = hftinfra("snapshot", "--host", str(root), "-o", str(tmp_path / "copy.tar.gz"))
    assert res.returncode == 0, res.stderr
    copy = open_host(tmp_path / "copy.tar.gz")
    assert copy.read("/proc/cmdline") == TREE["/proc/cmdline"]
    assert copy.meta["captured_at"] == "2026-03-04T05:06:07+00:00"


def test_snapshot_refuses_to_overwrite(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me")
    (tmp_path / "old.tar.gz").write_bytes(b"keep me too")
    before = state(tmp_path)
    for target, message in (("taken", "already exists and is not empty"), ("old.tar.gz", "already exists")):
        res = hftinfra("snapshot", "-o", str(tmp_path / target))
        assert_one_line_error(res, "snapshot", tmp_path / target, message)
    assert state(tmp_path) == before


def test_snapshot_as_an_unprivileged_user():
    found = nobody_python()
    if found is None:
        pytest.skip("needs root, setpriv and a Python the nobody user can run")
    cmd, env = found
    out_dir = Path(tempfile.mkdtemp(prefix="hftinfra-nobody-"))
    try:
        os.chmod(out_dir, 0o777)
        # A probe that reads a file only root may read, so 'denied' is certain to occur.
        script = ("import sys; from hftinfra import probes, cli\n"
                  "probes.probe('t.environ')(lambda h: h.read('/proc/1/environ'))\n"
                  f"sys.exit(cli.main(['snapshot', '-o', {str(out_dir / 's.tar.gz')!r}]))\n")
        res = subprocess.run([*cmd, "-c", script], capture_output=True, text=True, timeout=120,
                             cwd=out_dir, env={**env, "HOME": str(out_dir)})
        assert res.returncode == 0, res.stderr
        host = open_host(out_dir / "s.tar.gz")
        assert host.meta["user"] == {"name": "nobody", "uid": 65534, "is_root": False}
        assert host.read("/proc/1/environ").reason is Reason.DENIED
        assert host.exists("/proc/1/environ")
        assert host.read("/proc/sys/kernel/osrelease") == os.uname().release
        assert "t.environ" in host.meta["probes"]
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


# ---- start-up ----------------------------------------------------------------------------


def test_cli_does_not_import_heavy_libraries(tmp_path):
    script = (
        "import sys, io, contextlib\n"
        "import hftinfra.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = hftinfra.cli.main(['probe'])\n"
        f"print(rc, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0 []"
    # The check can fail: the same script does see a heavy module that is imported.
    importable = [m for m in HEAVY if subprocess.run([sys.executable, "-c", f"import {m}"],
                                                      capture_output=True).returncode == 0]
    if importable:
        res = subprocess.run([sys.executable, "-c", f"import {importable[0]}\n" + script],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert importable[0] in res.stdout


def test_version_and_help():
    res = hftinfra("--version")
    assert res.returncode == 0 and res.stdout.startswith("hftinfra ")
    res = hftinfra("snapshot", "--help")
    assert res.returncode == 0 and "--redact" in res.stdout and ".tar.gz" in res.stdout
