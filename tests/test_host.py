"""The Host layer: live reads, snapshot folders and archives, reasons, safety."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: conftest is not on the path
from conftest import CORPUS_TREES, write_tree  # noqa: E402

from hftinfra.host import (
    CommandResult,
    HostError,
    LiveHost,
    Reason,
    Recorder,
    SnapshotHost,
    Unread,
    host_from_env,
    open_host,
)

BASIC = {
    "/proc/cmdline": "BOOT_IMAGE=/vmlinuz ro isolcpus=2-3",
    "/proc/sys/kernel/osrelease": "6.1.0-18-amd64",
    "/sys/devices/system/cpu/online": "0-3",
    "/sys/devices/system/cpu/cpu0/topology/core_id": "0",
    "/sys/devices/system/cpu/cpu1/topology/core_id": "1",
    "/sys/devices/pci0000:00/0000:00:03.0/net/eth0/mtu": "1500",
    "@/sys/class/net/eth0": "../../devices/pci0000:00/0000:00:03.0/net/eth0",
    "@/proc/self": "42",
    "/proc/42/status": "Name:\tpython3\nCpus_allowed_list:\t0-3",
    "@/proc/42/root": "/",
}


def make_archive(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """members: (kind, name, data-or-linkname); kind in file, dir, sym, lnk, chr, fifo."""
    with tarfile.open(path, "w:gz") as tar:
        for kind, name, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                payload = data if isinstance(data, bytes) else data.encode()
                ti.size = len(payload)
                tar.addfile(ti, io.BytesIO(payload))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "lnk": tarfile.LNKTYPE,
                       "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("sym", "lnk"):
                ti.linkname = str(data)
            tar.addfile(ti)
    return path


def archive_of(root: Path, dest: Path, top: str = "") -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(root, arcname=top or ".")
    return dest


@pytest.fixture(params=["dir", "archive"])
def basic_host(request, tmp_path):
    root = write_tree(tmp_path / "snap", BASIC)
    if request.param == "dir":
        return open_host(root)
    return open_host(archive_of(root, tmp_path / "snap.tar.gz"))


# ---- reading a snapshot ------------------------------------------------------------------


def test_read_strips_one_newline_and_names_reasons(basic_host):
    assert basic_host.read("/proc/cmdline") == "BOOT_IMAGE=/vmlinuz ro isolcpus=2-3"
    assert basic_host.read("proc//sys/kernel/osrelease") == "6.1.0-18-amd64"
    missing = basic_host.read("/proc/sys/kernel/hostname")
    assert isinstance(missing, Unread) and missing.reason is Reason.MISSING
    assert not missing and missing != "" and missing != 0
    assert missing.source == "/proc/sys/kernel/hostname"
    assert str(missing) == "unknown (missing: /proc/sys/kernel/hostname)"
    # A folder is not a file: unsupported, not missing and not empty text.
    assert basic_host.read("/proc/42").reason is Reason.UNSUPPORTED


def test_read_value_turns_parser_errors_into_malformed(basic_host):
    assert basic_host.read_value("/sys/devices/system/cpu/cpu1/topology/core_id", int) == 1
    bad = basic_host.read_value("/proc/cmdline", int)
    assert bad.reason is Reason.MALFORMED and "/proc/cmdline" in bad.detail
    assert basic_host.read_value("/nope", int).reason is Reason.MISSING


def test_links_resolve_inside_the_snapshot(basic_host):
    assert basic_host.read("/sys/class/net/eth0/mtu") == "1500"
    assert basic_host.readlink("/sys/class/net/eth0") == "../../devices/pci0000:00/0000:00:03.0/net/eth0"
    # Absolute targets resolve chroot-style: proc/self -> 42, proc/42/root -> /.
    assert basic_host.read("/proc/self/status").startswith("Name:\tpython3")
    assert basic_host.read("/proc/self/root/proc/cmdline").startswith("BOOT_IMAGE")
    assert basic_host.readlink("/proc/cmdline").reason is Reason.UNSUPPORTED
    assert basic_host.isdir("/sys/class/net/eth0") and not basic_host.isdir("/proc/cmdline")
    assert basic_host.exists("/proc/self") and not basic_host.exists("/proc/43")


def test_listdir_sorted_and_hides_metadata(basic_host):
    assert basic_host.listdir("/sys/devices/system/cpu") == ["cpu0", "cpu1", "online"]
    assert "hftinfra" not in basic_host.listdir("/")
    assert basic_host.listdir("/nope").reason is Reason.MISSING
    assert basic_host.listdir("/proc/cmdline").reason is Reason.MISSING  # ENOTDIR, as on Linux


def test_snapshot_is_not_live_and_commands_replay(tmp_path):
    root = write_tree(tmp_path / "s", {**BASIC, "/hftinfra/commands.json": json.dumps({
        "uname -a": {"returncode": 0, "stdout": "Linux box 6.1.0\n", "stderr": ""},
        "lscpu -J": {"returncode": 1, "stdout": "", "stderr": "lscpu: failed"},
        "ethtool -c eth0": {"unavailable": "ethtool is not installed"},
        "broken": {"returncode": "x"},
        "weird": "text",
    })})
    host = open_host(root)
    assert not host.is_live and host.source == str(root)
    res = host.run(["uname", "-a"])
    assert res == CommandResult(("uname", "-a"), 0, "Linux box 6.1.0\n", "")
    assert host.run(["lscpu", "-J"]).returncode == 1 and not host.run(["lscpu", "-J"]).ok
    assert host.run(["ethtool", "-c", "eth0"]).reason is Reason.UNSUPPORTED
    assert host.run(["chronyc", "tracking"]).reason is Reason.MISSING
    assert host.run(["broken"]).reason is Reason.MALFORMED
    assert host.run(["weird"]).reason is Reason.MALFORMED


def test_recorded_unread_reasons_replay(tmp_path):
    root = write_tree(tmp_path / "s", {**BASIC, "/hftinfra/unread.json": json.dumps({
        "/dev/cpu_dma_latency": {"reason": "denied", "detail": ""},
        "/sys/kernel/debug": {"reason": "denied", "detail": ""},
        "/sys/devices/system/cpu/cpu0/cpufreq/energy_perf_bias": {"reason": "unsupported", "detail": "Invalid argument"},
        "/odd": {"reason": "sideways"},
    })})
    host = open_host(root)
    denied = host.read("/dev/cpu_dma_latency")
    assert denied.reason is Reason.DENIED
    assert host.exists("/dev/cpu_dma_latency")  # it was there, only unreadable
    assert host.listdir("/sys/kernel/debug").reason is Reason.DENIED
    epb = host.read_value("/sys/devices/system/cpu/cpu0/cpufreq/energy_perf_bias", int)
    assert epb.reason is Reason.UNSUPPORTED and epb.detail == "Invalid argument"
    assert host.read("/odd").reason is Reason.MALFORMED


def test_archive_rooted_in_one_folder(tmp_path):
    root = write_tree(tmp_path / "myhost", BASIC)
    host = open_host(archive_of(root, tmp_path / "a.tar.gz", top="myhost"))
    assert host.read("/proc/cmdline").startswith("BOOT_IMAGE")
    assert host.read("/sys/class/net/eth0/mtu") == "1500"


def test_meta_is_read(tmp_path):
    root = write_tree(tmp_path / "s", {"/proc/cmdline": "ro",
                                       "/hftinfra/meta.json": json.dumps({"captured_at": "2026-01-02T03:04:05+00:00"})})
    assert open_host(root).meta["captured_at"] == "2026-01-02T03:04:05+00:00"
    assert open_host(write_tree(tmp_path / "t", {"/proc/cmdline": "ro"})).meta == {}


# ---- refusing damage -------------------------------------------------------------------


@pytest.mark.parametrize("members, message", [
    ([("file", "proc/cmdline", "ro"), ("file", "../evil", "x")], "unsafe entry '../evil'"),
    ([("file", "proc/cmdline", "ro"), ("file", "proc/../../evil", "x")], "leaves the snapshot"),
    ([("file", "/etc/passwd", "x")], "unsafe entry '/etc/passwd'"),
    ([("file", "proc/cmdline", "ro"), ("lnk", "proc/hard", "proc/cmdline")], "hard link"),
    ([("file", "proc/cmdline", "ro"), ("chr", "dev/zero", "")], "device or fifo entry 'dev/zero'"),
    ([("file", "proc/cmdline", "ro"), ("fifo", "proc/interrupts", "")], "device or fifo entry 'proc/interrupts'"),
    ([("file", "notes/readme", "hello")], "holds no proc/"),
])
def test_unsafe_or_foreign_archives_are_refused(tmp_path, members, message):
    path = make_archive(tmp_path / "bad.tar.gz", members)
    with pytest.raises(HostError, match="^" + str(path).replace(".", r"\.") + ": .*" + message.replace("(", r"\(")):
        open_host(path)
    assert not (tmp_path / "evil").exists()


def test_truncated_and_corrupted_archives(tmp_path):
    good = archive_of(write_tree(tmp_path / "s", BASIC), tmp_path / "good.tar.gz")
    data = good.read_bytes()
    (tmp_path / "trunc.tar.gz").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 2: len(corrupt) // 2 + 16] = b"\xff" * 16
    (tmp_path / "corrupt.tar.gz").write_bytes(bytes(corrupt))
    (tmp_path / "plain.tar.gz").write_bytes(b"this is not gzip at all\n")
    for name in ("trunc.tar.gz", "corrupt.tar.gz", "plain.tar.gz"):
        with pytest.raises(HostError, match="not a readable .tar.gz snapshot"):
            open_host(tmp_path / name)


def test_archive_with_a_bad_gzip_checksum_is_refused(tmp_path):
    # tarfile stops at the end-of-archive blocks (or quietly at a damaged header after the
    # first) without reading the gzip trailer, so a damaged stream could open as half a host.
    good = archive_of(write_tree(tmp_path / "s", BASIC), tmp_path / "good.tar.gz")
    data = bytearray(good.read_bytes())
    data[-8] ^= 0xFF  # first byte of the CRC32 (RFC 1952, 2.3.1)
    (tmp_path / "crc.tar.gz").write_bytes(bytes(data))
    with pytest.raises(HostError, match="not a readable .tar.gz snapshot"):
        open_host(tmp_path / "crc.tar.gz")
    data = bytearray(good.read_bytes())
    data[-1] ^= 0x01  # ISIZE, the length modulo 2^32
    (tmp_path / "len.tar.gz").write_bytes(bytes(data))
    with pytest.raises(HostError, match="not a readable .tar.gz snapshot"):
        open_host(tmp_path / "len.tar.gz")


def test_folder_that_is_not_a_snapshot(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(HostError, match="not a snapshot"):
        open_host(tmp_path / "photos")
    with pytest.raises(HostError, match="no such snapshot"):
        open_host(tmp_path / "absent")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(HostError, match="expected a directory or a .tar.gz"):
        open_host(tmp_path / "x.txt")


@pytest.mark.parametrize("tree", [
    {"/dev/null-ish": "x"},  # /sys has dev/: a dev/ alone is not a snapshot
    {"/etc/hostname": "box"},  # /usr/local has etc/
    {"/hftinfra/commands.json": "{}"},  # metadata folder without meta.json
    {"/proc": "a file, not a folder"},
])
def test_folder_without_proc_sys_or_meta_is_not_a_snapshot(tmp_path, tree):
    root = write_tree(tmp_path / "s", tree)
    with pytest.raises(HostError, match=r": not a snapshot \(no proc/, sys/ or hftinfra/meta.json inside\)$"):
        open_host(root)
    with pytest.raises(HostError, match=r": not a snapshot \(archive holds no proc/, sys/ or hftinfra/meta.json\)$"):
        open_host(archive_of(root, tmp_path / "s.tar.gz"))


def test_proc_as_a_link_is_not_a_snapshot(tmp_path):
    (tmp_path / "s").mkdir()
    os.symlink("/proc", tmp_path / "s" / "proc")
    with pytest.raises(HostError, match="not a snapshot"):
        open_host(tmp_path / "s")


@pytest.mark.parametrize("tree", [
    {"/proc/cmdline": "ro"},
    {"/sys/devices/system/cpu/online": "0-1"},
    {"/hftinfra/meta.json": "{}"},
])
def test_proc_sys_or_meta_alone_is_a_snapshot(tmp_path, tree):
    root = write_tree(tmp_path / "s", tree)
    assert isinstance(open_host(root), SnapshotHost)
    assert isinstance(open_host(archive_of(root, tmp_path / "s.tar.gz")), SnapshotHost)


def test_archive_with_only_metadata_is_not_rerooted(tmp_path):
    path = make_archive(tmp_path / "m.tar.gz", [("file", "hftinfra/meta.json", '{"captured_at": "x"}')])
    assert open_host(path).meta == {"captured_at": "x"}


@pytest.mark.parametrize("system_dir", ["/sys", "/usr/local", "/etc"])
def test_system_folders_are_not_snapshots(system_dir):
    if not os.path.isdir(system_dir):
        pytest.skip(f"{system_dir} is absent here")
    with pytest.raises(HostError, match=f"^{system_dir}: not a snapshot"):
        open_host(system_dir)


def test_fixture_hosts_and_corpus_trees_open():
    hosts = Path(__file__).parent / "hosts"
    trees = [p for p in hosts.iterdir() if p.is_dir()] + [p for p in CORPUS_TREES if p.is_dir()]
    for tree in trees:
            assert isinstance(open_host(tree), SnapshotHost), tree


def test_a_path_to_the_root_is_the_live_host(tmp_path):
    up = os.path.join(str(tmp_path), *[".."] * len(tmp_path.parts))
    os.symlink("/", tmp_path / "root-link")
    for spec in ("/.", "//", "/tmp/..", up, tmp_path / "root-link", Path("/")):
        host = open_host(spec)
        assert isinstance(host, LiveHost) and host.is_live, spec


# ---- links resolve inside the root, as in a chroot -------------------------------------

CLIMBING = {
    "/proc/cmdline": "ro",
    "/etc/hostname": "inside",
    # '..' past the root stays at the root: this is the snapshot's /etc, never the real one.
    "@/sys/class/up": "../../../../../../etc",
    "@/sys/class/abs": "/etc/hostname",
    # A partial capture: the link's target was never copied.
    "@/sys/devices/pci0000:00/0000:00:03.0/driver": "../../../bus/pci/drivers/ice",
    "@/sys/loop": "loop",
}


@pytest.fixture(params=["dir", "archive"])
def climbing_host(request, tmp_path):
    root = write_tree(tmp_path / "snap", CLIMBING)
    if request.param == "dir":
        return open_host(root)
    return open_host(archive_of(root, tmp_path / "snap.tar.gz"))


def test_dotdot_at_the_root_stays_at_the_root(climbing_host):
    assert climbing_host.read("/sys/class/up/hostname") == "inside"
    assert climbing_host.read("/sys/class/abs") == "inside"
    assert climbing_host.listdir("/sys/class/up") == ["hostname"]
    assert climbing_host.read("/proc/../../../etc/hostname") == "inside"


def test_a_link_to_what_was_not_captured_reads_as_missing(climbing_host):
    driver = "/sys/devices/pci0000:00/0000:00:03.0/driver"
    assert climbing_host.readlink(driver) == "../../../bus/pci/drivers/ice"
    for got in (climbing_host.read(driver + "/module"), climbing_host.listdir(driver)):
        assert isinstance(got, Unread) and got.reason is Reason.MISSING
    assert not climbing_host.exists(driver)
    assert not climbing_host.isdir(driver)


def test_a_link_loop_is_unsupported_not_a_hang(climbing_host):
    got = climbing_host.read("/sys/loop")
    assert isinstance(got, Unread) and got.reason is Reason.UNSUPPORTED and "symbolic links" in got.detail


def test_climbing_links_never_reach_the_real_filesystem(tmp_path):
    # The snapshot has no etc/: the link's target is missing, not the machine's /etc/hostname.
    root = write_tree(tmp_path / "s", {"/proc/cmdline": "ro", "@/sys/up": "../../../../../etc"})
    host = open_host(root)
    got = host.read("/sys/up/hostname")
    assert isinstance(got, Unread) and got.reason is Reason.MISSING


@pytest.mark.parametrize("name", ["meta.json", "commands.json", "unread.json"])
def test_damaged_metadata_is_an_error_at_open(tmp_path, name):
    root = write_tree(tmp_path / "s", {"/proc/cmdline": "ro", f"/hftinfra/{name}": "{not json"})
    with pytest.raises(HostError, match=f"hftinfra/{name} is not valid JSON"):
        open_host(root)
    (root / "hftinfra" / name).write_text("[1, 2]")
    with pytest.raises(HostError, match="is not a JSON object"):
        open_host(root)


def test_metadata_link_cannot_read_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "commands.json").write_text(json.dumps({"uname -a": {"returncode": 0, "stdout": "LEAK"}}))
    root = write_tree(tmp_path / "s", {"/proc/cmdline": "ro"})
    os.symlink(str(outside), root / "hftinfra")  # absolute: chroot-style, stays inside
    host = open_host(root)
    assert host.run(["uname", "-a"]).reason is Reason.MISSING


def test_fifo_in_a_snapshot_does_not_hang(tmp_path):
    root = write_tree(tmp_path / "s", {"/proc/cmdline": "ro"})
    os.mkfifo(root / "proc" / "interrupts")
    host = open_host(root)
    result: list = []
    t = threading.Thread(target=lambda: result.append(host.read("/proc/interrupts")), daemon=True)
    t.start()
    t.join(5)
    assert result, "reading a fifo in a snapshot blocked"
    assert result[0].reason is Reason.MALFORMED


def test_link_loops_are_unsupported_not_a_crash(tmp_path):
    root = write_tree(tmp_path / "s", {"/proc/cmdline": "ro", "@/proc/a": "b", "@/proc/b": "a"})
    assert open_host(root).read("/proc/a").reason is Reason.UNSUPPORTED


def test_host_from_env(monkeypatch, tmp_path):
    monkeypatch.delenv("HFTINFRA_HOST", raising=False)
    assert host_from_env().is_live
    monkeypatch.setenv("HFTINFRA_HOST", str(write_tree(tmp_path / "s", BASIC)))
    assert isinstance(host_from_env(), SnapshotHost)
    monkeypatch.setenv("HFTINFRA_HOST", str(tmp_path / "garbage.tar.gz"))
    with pytest.raises(HostError, match="no such snapshot"):
        host_from_env()


# ---- the live host --------------------------------------------------------------------


@pytest.mark.live
def test_live_reads_and_reasons():
    host = open_host("live")
    assert isinstance(host, LiveHost) and host.is_live and open_host(None).is_live
    status = host.read("/proc/self/status")
    assert isinstance(status, str) and "Cpus_allowed_list" in status
    assert host.read("/proc/definitely-not-here").reason is Reason.MISSING
    assert host.read("/proc/self").reason is Reason.UNSUPPORTED  # a folder
    assert "self" in host.listdir("/proc")
    assert host.readlink("/proc/self") == str(os.getpid())
    assert host.exists("/proc/cmdline") and host.isdir("/proc") and not host.isdir("/proc/cmdline")


def test_live_sysctl_read_in_small_chunks():
    # A single huge read of a /proc/sys file fails with ENOMEM; the host reads in chunks.
    assert open_host(None).read("/proc/sys/kernel/hostname") == Path("/proc/sys/kernel/hostname").read_text().strip()


@pytest.mark.live
def test_live_commands_and_recorder():
    rec = Recorder()
    host = LiveHost(recorder=rec)
    res = host.run(["uname", "-s"])
    assert res.ok and res.stdout.strip() == os.uname().sysname
    assert host.run(["no-such-tool-hftinfra"]).reason is Reason.UNSUPPORTED
    host.read("/proc/cmdline")
    host.listdir("/sys/devices/system/cpu")
    host.readlink("/proc/self")
    assert "/proc/cmdline" in rec.files
    assert "/sys/devices/system/cpu" in rec.dirs
    assert "/proc/self" in rec.links
    assert set(rec.commands) == {"uname -s"}


def test_live_read_error_is_a_reason_not_text():
    # Reading /proc/self/mem at offset 0 fails with EIO (nothing is mapped there); denied
    # as an unprivileged user is covered by the CLI test that runs as nobody.
    got = open_host(None).read("/proc/self/mem")
    assert isinstance(got, Unread) and got.reason is Reason.UNSUPPORTED


def test_a_file_past_the_read_limit_is_refused_whole_never_cut(tmp_path, monkeypatch):
    from hftinfra import host as hostmod

    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "interrupts").write_bytes(b"x" * 3000)
    monkeypatch.setattr(hostmod, "MAX_READ_BYTES", 1000)
    live = hostmod.LiveHost(str(tmp_path))
    got = live.read("/proc/interrupts")
    assert isinstance(got, hostmod.Unread) and got.reason is hostmod.Reason.UNSUPPORTED
    assert "larger than" in got.detail
    monkeypatch.setattr(hostmod, "MAX_READ_BYTES", 3000)
    assert live.read("/proc/interrupts") == "x" * 3000


def test_a_listed_folder_that_git_dropped_reads_as_empty(tmp_path):
    import json

    from hftinfra.host import open_host

    root = tmp_path / "snap"
    (root / "hftinfra").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "proc" / "cpuinfo").write_text("processor\t: 0\n")
    (root / "hftinfra" / "meta.json").write_text(json.dumps({"listed": ["/sys/kernel/iommu_groups"]}))
    host = open_host(str(root))
    assert host.listdir("/sys/kernel/iommu_groups") == [] and host.isdir("/sys/kernel/iommu_groups")
    # Not listed at capture: absent stays absent, never "empty".
    assert host.listdir("/sys/class/iommu").reason.value == "missing"
