"""Snapshots: capture what the probes read, replay it identically, redact it safely."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: conftest is not on the path
from conftest import CORPUS_TREES, HOSTS, write_tree  # noqa: E402

from hftinfra import snapshot  # noqa: E402
from hftinfra.host import HostError, Reason, Unread, open_host  # noqa: E402
from hftinfra.identity import read_identity  # noqa: E402

# Fields that move between two reads taken a moment apart, per record type. Everything
# else must be identical on the live host and on its snapshot.
MOVING = {
    # identity: a live host says "now" and "live", a snapshot its capture time and path.
    "HostIdentity": {"when", "source", "is_live"},
    # free and available memory change with every allocation on the box.
    "NumaMemory": {"mem_free_kb", "mem_available_kb"},
    "NodeMemory": {"mem_free_kb"},  # memory.numa, per node
    "NumaNode": {"mem_free_kb"},  # cpu.topology, per node
    # hugepages taken and given back by running processes.
    "HugepagePool": {"free", "reserved", "surplus"},
    # anonymous memory backed by THP grows and shrinks with running processes.
    "TransparentHugepages": {"anon_hugepages_kb"},
    # swap in use moves as pages are swapped in and out.
    "Swap": {"free_kb"},
    "SwapDevice": {"used_kb"},
    # ksmd merges pages continuously while it runs.
    "Ksm": {"pages_sharing"},
    # each idle state's entry count and residency grow while the CPU idles.
    "IdleState": {"usage", "time_us"},
    # /proc/interrupts and /proc/softirqs counts grow with every interrupt taken.
    "InterruptRow": {"counts", "total"},
    "SoftirqRow": {"counts", "total"},
    # the kernel's clock state: its time fields move, and the servo's estimates with them.
    "Timex": {"time_sec", "time_frac", "offset", "freq", "maxerror_us", "esterror_us", "jitter", "ppsfreq",
              "stabil", "jitcnt", "calcnt", "errcnt", "stbcnt"},
    # a running chronyd's and ptp4l's measurements change from one query to the next.
    "ChronyTracking": {"ref_time_s", "system_time_offset_s", "last_offset_s", "rms_offset_s", "frequency_ppm",
                       "residual_frequency_ppm", "skew_ppm", "root_delay_s", "root_dispersion_s",
                       "update_interval_s"},
    "ChronySourceStats": {"samples", "runs", "span_s", "frequency_ppm", "freq_skew_ppm", "offset_s", "std_dev_s"},
    "ChronySource": {"reach", "last_rx_s", "adjusted_offset_s", "measured_offset_s", "error_s"},
    "PmcAnswer": {"fields"},
    "Linuxptp": {"log"},
}


def comparable(value):
    """A record as plain data with the moving fields left out."""
    if isinstance(value, Unread):
        return ("unread", str(value.reason), value.source, value.detail)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        skip = MOVING.get(type(value).__name__, set())
        return (type(value).__name__, {f.name: comparable(getattr(value, f.name))
                                       for f in dataclasses.fields(value) if f.name not in skip})
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [comparable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((comparable(v) for v in value), key=repr)
    return value


def real_probes():
    from hftinfra.probes import all_probes

    try:
        return all_probes()
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("hftinfra."):
            pytest.skip(f"{exc.name} is not written yet")
        raise


# ---- probes owned by these tests: they exercise every kind of read ---------------------


def probe_net(host):
    names = host.listdir("/sys/class/net")
    if isinstance(names, Unread):
        return names
    return {n: (host.read(f"/sys/class/net/{n}/address"), host.read(f"/sys/class/net/{n}/mtu"),
                host.readlink(f"/sys/class/net/{n}")) for n in names}


def probe_cpus(host):
    names = host.listdir("/sys/devices/system/cpu")
    if isinstance(names, Unread):
        return names
    cpus = sorted(n for n in names if re.fullmatch(r"cpu\d+", n))
    return {"cpus": cpus,
            "online": host.read("/sys/devices/system/cpu/online"),
            "core0": host.read("/sys/devices/system/cpu/cpu0/topology/core_id"),
            "cpuidle": host.isdir("/sys/devices/system/cpu/cpuidle")}


def probe_misc(host):
    return {"cmdline": host.read("/proc/cmdline"),
            "self_cpus": re.findall(r"Cpus_allowed_list:\s*(\S+)", host.read("/proc/self/status") or ""),
            "dma": host.exists("/dev/cpu_dma_latency"),
            "absent": host.read("/sys/kernel/no_such_file_hftinfra"),
            "uname": host.run(["uname", "-srm"]),
            "no_tool": host.run(["no-such-tool-hftinfra"])}


TEST_PROBES = {"t.net": probe_net, "t.cpus": probe_cpus, "t.misc": probe_misc}


def run_probes(host, probes):
    return {name: comparable(fn(host)) for name, fn in probes.items()} | {
        "identity": comparable(read_identity(host))}


def assert_same(live, snap):
    assert live.keys() == snap.keys()
    for name in live:
        assert snap[name] == live[name], f"probe {name} differs on the snapshot"


@pytest.fixture(params=["dir", "archive"])
def kind(request):
    return request.param


def target(tmp_path, kind, name="snap"):
    return tmp_path / (f"{name}.tar.gz" if kind == "archive" else name)


# ---- capture and round trip -------------------------------------------------------------


@pytest.mark.live
def test_round_trip_live_with_test_probes(tmp_path, kind):
    live = open_host(None)
    result = snapshot.capture(live, TEST_PROBES)
    expected = run_probes(live, TEST_PROBES)
    assert result.probe_errors == {}
    snap = open_host(snapshot.write(result.captured, target(tmp_path, kind)))
    # /proc/self here is this process, which also did the capture: same link, same status.
    assert_same(expected, run_probes(snap, TEST_PROBES))


@pytest.mark.live
def test_round_trip_live_with_real_probes(tmp_path, kind):
    probes = real_probes()
    live = open_host(None)
    result = snapshot.capture(live, probes)
    assert result.probe_errors == {}
    expected = run_probes(live, probes)
    snap = open_host(snapshot.write(result.captured, target(tmp_path, kind)))
    assert_same(expected, run_probes(snap, probes))
    meta = snap.meta
    assert meta["probes"] == sorted(probes)


def test_what_a_capture_holds(tmp_path):
    live = open_host(None)
    c = snapshot.capture(live, TEST_PROBES).captured
    # A sysfs path read through a link: the link itself plus the real file behind it.
    net = sorted(os.listdir("/sys/class/net"))
    first = net[0]
    link = f"sys/class/net/{first}"
    assert c.links[link] == os.readlink("/" + link)
    real = os.path.normpath(os.path.join("/sys/class/net", os.readlink("/" + link))).lstrip("/")
    assert c.files[f"{real}/mtu"] == Path(f"/{real}/mtu").read_bytes()
    # A listed folder keeps its sub-folders; files nobody read stay out.
    assert "sys/devices/system/cpu/cpu0" in c.dirs
    assert "sys/devices/system/cpu/possible" not in c.files
    assert "sys/devices/system/cpu/online" in c.files
    # exists() without a read: present, but its content was never taken.
    if os.path.exists("/dev/cpu_dma_latency"):
        assert c.files["dev/cpu_dma_latency"] == b""
    assert c.commands["uname -srm"]["returncode"] == 0
    assert c.commands["uname -srm"]["stdout"].split()[0] == "Linux"
    assert "not installed" in c.commands["no-such-tool-hftinfra"]["unavailable"]
    assert not any("no_such_file" in p for p in c.files) and c.unread == {}
    meta = c.meta
    assert meta["schema"] == "hftinfra.snapshot" and meta["schema_version"] == 1
    assert meta["hostname"] == Path("/proc/sys/kernel/hostname").read_text().strip()
    assert meta["kernel"] == os.uname().release
    assert meta["user"]["uid"] == os.geteuid() and meta["user"]["is_root"] == (os.geteuid() == 0)
    assert meta["virtual_machine"] in (True, False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", meta["captured_at"])
    assert meta["probes"] == sorted(TEST_PROBES) and meta["redacted"] is False


def test_archive_layout_and_size(tmp_path):
    c = snapshot.capture(open_host(None), TEST_PROBES).captured
    path = snapshot.write(c, tmp_path / "s.tar.gz")
    with tarfile.open(path) as tar:
        names = tar.getnames()
        kinds = {m.name: m.type for m in tar.getmembers()}
    assert "hftinfra/meta.json" in names and "proc/cmdline" in names
    assert not any(n.startswith(("/", "./", "..")) for n in names)
    assert kinds["sys/class/net"] == tarfile.DIRTYPE
    assert all(kinds[link] == tarfile.SYMTYPE for link in c.links)


SOURCE = {
    "/proc/cmdline": "BOOT_IMAGE=/vmlinuz ro root=UUID=0b7d8f1e-3c2a-4e11-9f3a-5d6c7b8a9e0f",
    "/proc/sys/kernel/hostname": "trader-ny4-07",
    "/proc/sys/kernel/osrelease": "6.1.0-18-amd64",
    "/sys/devices/system/cpu/online": "0-3",
    "/sys/devices/system/cpu/possible": "0-3",
    "/sys/devices/system/cpu/cpu0/topology/core_id": "0",
    "/sys/devices/system/cpu/cpu1/topology/core_id": "1",
    "/sys/devices/system/cpu/cpuidle/current_driver": "intel_idle",
    "/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f0/address": "b8:ce:f6:12:34:56",
    "/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f0/mtu": "9000",
    "/sys/devices/virtual/net/lo/address": "00:00:00:00:00:00",
    "/sys/devices/virtual/net/lo/mtu": "65536",
    "@/sys/class/net/ens1f0": "../../devices/pci0000:00/0000:3b:00.0/net/ens1f0",
    "@/sys/class/net/lo": "../../devices/virtual/net/lo",
    "@/proc/self": "4242",
    "/proc/4242/status": "Name:\tpython3\nCpus_allowed_list:\t0-3",
    "/dev/cpu_dma_latency": b"\x00\x00\x00\x00",
    "/hftinfra/commands.json": json.dumps({
        "uname -srm": {"returncode": 0, "stdout": "Linux 6.1.0-18-amd64 x86_64\n", "stderr": ""}}),
    "/hftinfra/unread.json": json.dumps({"/sys/kernel/no_such_file_hftinfra": {"reason": "denied", "detail": ""}}),
    "/hftinfra/meta.json": json.dumps({"captured_at": "2026-03-04T05:06:07+00:00", "virtual_machine": False}),
}


def test_snapshot_of_a_snapshot(tmp_path, kind):
    source = open_host(write_tree(tmp_path / "src", SOURCE))
    result = snapshot.capture(source, TEST_PROBES)
    copy = open_host(snapshot.write(result.captured, target(tmp_path, kind, "copy")))
    assert_same(run_probes(source, TEST_PROBES), run_probes(copy, TEST_PROBES))
    # The recorded reason survives the copy: denied, not missing.
    assert copy.read("/sys/kernel/no_such_file_hftinfra").reason is Reason.DENIED
    assert copy.meta["captured_at"] == "2026-03-04T05:06:07+00:00" and "copied_at" in copy.meta
    assert read_identity(copy).when == "2026-03-04T05:06:07+00:00"
    # Never read, never listed as a folder: not copied.
    assert copy.read("/sys/devices/system/cpu/possible").reason is Reason.MISSING


def test_denied_reads_replay_as_denied(tmp_path):
    def probe(host):
        return host.read("/sys/kernel/no_such_file_hftinfra"), host.listdir("/sys/kernel/no_such_file_hftinfra")

    source = open_host(write_tree(tmp_path / "src", SOURCE))
    c = snapshot.capture(source, {"p": probe}).captured
    assert c.unread == {"/sys/kernel/no_such_file_hftinfra": {"reason": "denied", "detail": ""}}
    copy = open_host(snapshot.write(c, tmp_path / "copy"))
    assert [u.reason for u in probe(copy)] == [Reason.DENIED, Reason.DENIED]


def test_a_failing_probe_does_not_lose_the_others(tmp_path):
    def broken(host):
        host.read("/proc/cmdline")
        raise RuntimeError("bug in a probe")

    source = open_host(write_tree(tmp_path / "src", SOURCE))
    result = snapshot.capture(source, {"t.cpus": probe_cpus, "t.broken": broken})
    assert result.probe_errors == {"t.broken": "RuntimeError: bug in a probe"}
    assert result.captured.meta["probe_errors"] == result.probe_errors
    assert "proc/cmdline" in result.captured.files and "sys/devices/system/cpu/online" in result.captured.files


# ---- writing --------------------------------------------------------------------------


def test_refuses_to_overwrite(tmp_path):
    c = snapshot.capture(open_host(write_tree(tmp_path / "src", SOURCE)), TEST_PROBES).captured
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(HostError, match="already exists and is not empty"):
        snapshot.write(c, full)
    (tmp_path / "old.tar.gz").write_bytes(b"precious")
    with pytest.raises(HostError, match="already exists; not overwriting"):
        snapshot.write(c, tmp_path / "old.tar.gz")
    assert (full / "keep.txt").read_text() == "mine" and (tmp_path / "old.tar.gz").read_bytes() == b"precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert open_host(snapshot.write(c, empty)).read("/proc/cmdline").startswith("BOOT_IMAGE")
    with pytest.raises(HostError, match="no such directory"):
        snapshot.write(c, tmp_path / "nope" / "s.tar.gz")


@pytest.mark.parametrize("kind_", ["dir", "archive"])
def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch, kind_):
    c = snapshot.capture(open_host(write_tree(tmp_path / "src", SOURCE)), TEST_PROBES).captured
    out = tmp_path / "out"
    out.mkdir()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(snapshot, "_meta_blobs", boom)
    with pytest.raises(KeyboardInterrupt):
        snapshot.write(c, target(out, kind_))
    assert list(out.iterdir()) == []


def test_default_name(tmp_path):
    import datetime as dt

    c = snapshot.Captured(meta={"hostname": "trader ny4/07"})
    when = dt.datetime(2026, 3, 4, 5, 6, 7)
    assert snapshot.default_name(c, when) == "snapshot-trader_ny4_07-20260304T050607.tar.gz"
    assert snapshot.default_name(snapshot.Captured(meta={"hostname": None}), when).startswith("snapshot-unknown-")


# ---- redaction --------------------------------------------------------------------------

SECRETS = {
    "/proc/sys/kernel/hostname": "trader-ny4-07.example.net",
    "/etc/hostname": "trader-ny4-07",
    "/proc/cmdline": ("BOOT_IMAGE=/vmlinuz root=UUID=0B7D8F1E-3C2A-4E11-9F3A-5D6C7B8A9E0F ro "
                      "ip=10.20.30.40::10.20.30.1:255.255.255.0:trader-ny4-07:ens1f0:off "
                      "resume=PARTUUID=1f0c2a3b-02 vm.swappiness=1"),
    "/sys/class/dmi/id/product_serial": "CZJ12345AB",
    "/sys/class/dmi/id/board_serial": "Not Specified",
    "/sys/class/dmi/id/product_uuid": "4c4c4544-0042-3510-8052-b4c04f4a4d32",
    "/etc/machine-id": "3d1219c7c4c5404aaa1f6d2a48adfda4",
    "/sys/block/nvme0n1/device/serial": "S4EWNX0R123456",
    "/dev/disk/by-id/nvme-Samsung_SSD_980_S4EWNX0R123456": "",
    "/dev/disk/by-uuid/0b7d8f1e-3c2a-4e11-9f3a-5d6c7b8a9e0f": "",
    "/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f0/address": "b8:ce:f6:12:34:56",
    "/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f1/address": "B8:CE:F6:12:34:57",
    "/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f0/broadcast": "ff:ff:ff:ff:ff:ff",
    "/sys/devices/virtual/net/lo/address": "00:00:00:00:00:00",
    "/sys/devices/pci0000:00/0000:5e:00.0/net/ib0/address":
        "80:00:00:48:fe:80:00:00:00:00:00:00:0c:42:a1:03:00:97:3e:5a",
    "/sys/devices/pci0000:00/0000:3b:00.0/local_cpus": "ffffffff,00000000,0000000f",
    "/proc/irq/42/smp_affinity": "00000000,00000003",
    "/sys/bus/pci/devices/0000:3b:00.0/numa_node": "1",
    "/proc/net/ipv6_route_note": "fe80::bace:f6ff:fe12:3456%ens1f0 dev ens1f0 2001:db8::5 ::1 ff02::1",
    "/proc/sys/vm/swappiness": "1",
    "@/sys/class/net/ens1f0": "../../devices/pci0000:00/0000:3b:00.0/net/ens1f0",
    "@/dev/disk/by-uuid/root": "0b7d8f1e-3c2a-4e11-9f3a-5d6c7b8a9e0f",
    "/hftinfra/commands.json": json.dumps({
        "uname -a": {"returncode": 0, "stdout": "Linux trader-ny4-07 6.1.0-18-amd64 #1 SMP x86_64 GNU/Linux\n",
                     "stderr": ""},
        "ethtool -i ens1f0": {"returncode": 0, "stdout": "driver: ice\nversion: 6.1.0\nfirmware-version: 4.20.7.3\n"
                              "bus-info: 0000:3b:00.0\n", "stderr": ""},
        "ip -br addr": {"returncode": 0, "stdout": "ens1f0 UP 10.20.30.40/24 fe80::bace:f6ff:fe12:3456/64\n"
                        "lo UNKNOWN 127.0.0.1/8 ::1/128\n", "stderr": ""},
        "dmidecode -t system": {"returncode": 0, "stdout": "System Information\n\tSerial Number: CZJ12345AB\n"
                                "\tUUID: 4c4c4544-0042-3510-8052-b4c04f4a4d32\n", "stderr": ""},
    }),
}

LEAKS = ["trader-ny4-07", "0b7d8f1e", "0B7D8F1E", "10.20.30.40", "10.20.30.1", "1f0c2a3b", "CZJ12345AB",
         "4c4c4544", "3d1219c7c4c5404aaa1f6d2a48adfda4", "S4EWNX0R123456", "b8:ce:f6", "B8:CE:F6",
         "fe80::bace", "fe:80:00:00", "97:3e:5a", "example.net"]


def read_everything(host, probes):
    return {p: host.read(p) for p in probes}


def secret_reader(host):
    out = {}
    for path in SECRETS:
        if path.startswith(("@", "/hftinfra")):
            continue
        out[path] = host.read(path)
    out["by-id"] = host.listdir("/dev/disk/by-id")
    out["by-uuid"] = host.listdir("/dev/disk/by-uuid")
    out["root-link"] = host.readlink("/dev/disk/by-uuid/root")
    out["via-link"] = host.read("/sys/class/net/ens1f0/address")
    out["commands"] = [host.run(cmd.split()) for cmd in json.loads(SECRETS["/hftinfra/commands.json"])]
    return out


@pytest.fixture
def redacted(tmp_path):
    source = open_host(write_tree(tmp_path / "src", SECRETS))
    result = snapshot.capture(source, {"t.secrets": secret_reader}, redact=True)
    path = snapshot.write(result.captured, tmp_path / "red.tar.gz")
    return path, open_host(path)


def test_redaction_leaves_no_secret(redacted):
    path, _host = redacted
    raw = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    for leak in LEAKS:
        assert leak not in raw, f"{leak!r} survived redaction"


def test_redaction_keeps_formats_and_meaning(redacted):
    _path, host = redacted
    mac = host.read("/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f0/address")
    assert re.fullmatch(r"02:00:00:00:00:0[1-9]", mac)
    # Same MAC, same placeholder, also read through the link; the other port differs.
    assert host.read("/sys/class/net/ens1f0/address") == mac
    other = host.read("/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f1/address")
    assert re.fullmatch(r"02:00:00:00:00:0[1-9]", other.lower()) and other.lower() != mac and other.isupper() is False or other == other.upper()
    assert host.read("/sys/devices/pci0000:00/0000:3b:00.0/net/ens1f0/broadcast") == "ff:ff:ff:ff:ff:ff"
    assert host.read("/sys/devices/virtual/net/lo/address") == "00:00:00:00:00:00"
    ib = host.read("/sys/devices/pci0000:00/0000:5e:00.0/net/ib0/address")
    assert len(ib.split(":")) == 20 and ib.startswith("02:")
    # Masks are not MACs or IPv6 addresses.
    assert host.read("/sys/devices/pci0000:00/0000:3b:00.0/local_cpus") == "ffffffff,00000000,0000000f"
    assert host.read("/proc/irq/42/smp_affinity") == "00000000,00000003"
    assert host.read("/sys/bus/pci/devices/0000:3b:00.0/numa_node") == "1"
    cmdline = host.read("/proc/cmdline")
    assert "root=UUID=00000000-0000-4000-8000-000000000001" in cmdline.upper().replace("UUID=", "UUID=") or \
        "root=UUID=00000000-0000-4000-8000-000000000001" in cmdline
    assert re.search(r"ip=192\.0\.2\.\d+::192\.0\.2\.\d+:255\.255\.255\.0:host-\d:ens1f0:off", cmdline)
    assert re.search(r"resume=PARTUUID=[0-9a-f]{8}-[0-9a-f]{2} ", cmdline)
    assert "vm.swappiness=1" in cmdline
    assert host.read("/proc/sys/vm/swappiness") == "1"
    assert host.read("/sys/class/dmi/id/board_serial") == "Not Specified"
    serial = host.read("/sys/class/dmi/id/product_serial")
    assert serial.startswith("SERIAL")
    assert re.fullmatch(r"[0-9a-f]{32}", host.read("/etc/machine-id"))
    ipv6 = host.read("/proc/net/ipv6_route_note")
    # 2001:db8::5 is a real address of the source (a documentation range is still a range
    # someone may use): replaced like any other, and no placeholder is issued equal to it.
    m = re.fullmatch(r"2001:db8::(\w+)%ens1f0 dev ens1f0 2001:db8::(\w+) ::1 ff02::1", ipv6)
    assert m and m.group(1) != m.group(2) and "5" not in (m.group(1), m.group(2))
    # The same values in command outputs get the same placeholders.
    cmds = host.commands
    assert cmds["uname -a"]["stdout"].split()[1] == host.read("/etc/hostname")
    assert host.read("/proc/sys/kernel/hostname").startswith("host-")
    assert f"Serial Number: {serial}" in cmds["dmidecode -t system"]["stdout"]
    ethtool = cmds["ethtool -i ens1f0"]["stdout"]
    assert "firmware-version: 4.20.7.3" in ethtool and "bus-info: 0000:3b:00.0" in ethtool
    addrs = cmds["ip -br addr"]["stdout"]
    assert "127.0.0.1/8 ::1/128" in addrs and re.search(r"192\.0\.2\.\d+/24 2001:db8::\w+/64", addrs)
    assert ipv6.split("%")[0] in addrs  # fe80::... mapped the same in a file and a command


def test_redaction_renames_files_and_links(redacted):
    _path, host = redacted
    by_id = host.listdir("/dev/disk/by-id")
    assert by_id == [f"nvme-Samsung_SSD_980_{host.read('/sys/block/nvme0n1/device/serial')}"]
    by_uuid = host.listdir("/dev/disk/by-uuid")
    assert "00000000-0000-4000-8000-000000000001" in [n.lower() for n in by_uuid]
    assert host.readlink("/dev/disk/by-uuid/root") in by_uuid


def test_redaction_is_recorded_not_the_mapping(redacted):
    path, host = redacted
    assert host.meta["redacted"] is True
    assert host.meta["hostname"].startswith("host-")
    assert "name" not in host.meta["user"]
    meta_text = json.dumps(host.meta)
    assert "trader" not in meta_text and "b8:ce" not in meta_text


def walk_all(host, path="/"):
    """Every file, link and folder under path, as a probe that reads everything would."""
    out = {}
    names = host.listdir(path)
    if isinstance(names, Unread):
        return {path: names}
    for name in names:
        full = f"{path.rstrip('/')}/{name}"
        link = host.readlink(full)
        if isinstance(link, str):
            out[full] = ("link", link)
        elif host.isdir(full):
            out[full] = "dir"
            out.update(walk_all(host, full))
        else:
            out[full] = host.read(full)
    return out


def test_redacting_twice_changes_nothing(tmp_path, redacted):
    _path, host = redacted
    again = snapshot.capture(host, {"t.all": walk_all}, redact=True).captured
    twice = open_host(snapshot.write(again, tmp_path / "twice"))
    first = walk_all(host)
    assert len(first) > 30 and walk_all(twice) == first


def test_redactor_units():
    r = snapshot.Redactor()
    assert r.text("a 12:34:56 b 0000:00:1f.6 c ffffffff,ffffffff") == "a 12:34:56 b 0000:00:1f.6 c ffffffff,ffffffff"
    assert r.text("aa:bb:cc:dd:ee:01 aa:bb:cc:dd:ee:01 AA:BB:CC:DD:EE:02") == \
        "02:00:00:00:00:01 02:00:00:00:00:01 02:00:00:00:00:02"
    assert r.text("gw 10.0.0.1 mask 255.255.240.0 lo 127.0.0.1 any 0.0.0.0 doc 192.0.2.9 bad 300.1.1.1") == \
        "gw 192.0.2.1 mask 255.255.240.0 lo 127.0.0.1 any 0.0.0.0 doc 192.0.2.2 bad 300.1.1.1"
    assert r.text("2a00:1450:4009:81f::200e and 2a00:1450:4009:81f::200e/64") == "2001:db8::1 and 2001:db8::1/64"
    assert r.text("std::vector Foo::bar") == "std::vector Foo::bar"


def redact_tree(tmp_path, tree: dict, name: str = "src") -> tuple[str, object]:
    """Redact every file of a small tree; the raw archive text and the redacted host."""
    source = open_host(write_tree(tmp_path / name, tree))
    result = snapshot.capture(source, {"t.all": walk_all}, redact=True)
    path = snapshot.write(result.captured, tmp_path / f"{name}.tar.gz")
    return gzip.decompress(path.read_bytes()).decode("utf-8", "replace"), open_host(path)


BOOT_NET = (" BOOTIF=01-3c-fd-fe-a1-b2-c3 ifname=ens1f0:3c:fd:fe:a1:b2:c3"
            " ip=10.20.30.40::10.20.30.1:255.255.255.0:ny4-trade-07.example.com:ens1f0:none")


def test_redaction_of_pxe_and_dracut_boot_parameters(tmp_path):
    root = tmp_path / "r"
    shutil.copytree(HOSTS / "tuned-2s", root, symlinks=True)
    cmdline = root / "proc" / "cmdline"
    cmdline.write_text(cmdline.read_text().rstrip("\n") + BOOT_NET + "\n")
    result = snapshot.capture(open_host(root), {"t.cmdline": lambda h: h.read("/proc/cmdline")}, redact=True)
    out = open_host(snapshot.write(result.captured, tmp_path / "ro")).read("/proc/cmdline")
    for leak in ("3c:fd", "3c-fd", "a1:b2:c3", "a1-b2-c3", "10.20.30", "ny4-trade-07", "example.com"):
        assert leak.lower() not in out.lower(), f"{leak!r} survived: {out}"
    m = re.search(r" BOOTIF=01-((?:[0-9a-f]{2}-){5}[0-9a-f]{2}) ifname=ens1f0:((?:[0-9a-f]{2}:){5}[0-9a-f]{2}) "
                  r"ip=192\.0\.2\.\d+::192\.0\.2\.\d+:255\.255\.255\.0:host-\d+\.[a-z0-9.]+\.example:ens1f0:none$", out)
    assert m, out
    # One MAC, one placeholder, written in each form it was found in.
    assert m.group(1).replace("-", ":") == m.group(2)
    # The rest of the line is untouched.
    assert "isolcpus=managed_irq,domain,9-15,25-31" in out and "hugepages=0:0,1:16" in out


def test_redaction_mac_forms_masks_and_eui64(tmp_path):
    raw, host = redact_tree(tmp_path, {
        "/proc/a": "3c:fd:fe:a1:b2:c3 3C-FD-FE-A1-B2-C3 3c-fd-fe-a1-b2-c3",
        "/proc/eui64": "00:11:22:33:44:55:66:77",
        "/proc/masks": "ffffffff,00000000,0000000f 01ff01ff 0000:3b:00.0 12:34:56",
        "/proc/iface": "eth0:aa:bb:cc:dd:ee:ff",
        "/proc/v6": "2a00:1450:4009:81f::200e aa:bb:cc:dd:ee:ff",
    })
    colon, upper_dash, dash = host.read("/proc/a").split()
    assert re.fullmatch(r"02:00:00:00:00:0\d", colon)
    assert upper_dash == colon.replace(":", "-").upper() and dash == colon.replace(":", "-")
    # An EUI-64 stays eight octets: its placeholder is not read again as an IPv6 address.
    assert re.fullmatch(r"02(:00){4}:00:00:0\d", host.read("/proc/eui64"))
    assert host.read("/proc/masks") == "ffffffff,00000000,0000000f 01ff01ff 0000:3b:00.0 12:34:56"
    iface = host.read("/proc/iface")
    assert iface.startswith("eth0:02:00:00:00:00:0") and "aa:bb" not in iface
    v6, mac = host.read("/proc/v6").split()
    assert re.fullmatch(r"2001:db8::\w+", v6) and re.fullmatch(r"02:00:00:00:00:0\d", mac)
    for leak in ("3c:fd", "3C-FD", "3c-fd", "11:22:33", "aa:bb", "2a00"):
        assert leak not in raw


def test_redaction_replaces_real_addresses_in_documentation_ranges(tmp_path):
    # This project's VM has eth0 at 192.0.2.2: a real address, not a placeholder.
    raw, host = redact_tree(tmp_path, {
        "/proc/net/fib_note": "eth0 192.0.2.2/24 gw 10.0.0.1 peer 198.51.100.7 v6 2001:db8::1 mac 02:00:00:00:00:02",
    })
    words = host.read("/proc/net/fib_note").split()
    eth0, gw, peer, v6, mac = words[1].split("/")[0], words[3], words[5], words[7], words[9]
    assert eth0 != "192.0.2.2" and peer != "198.51.100.7" and v6 != "2001:db8::1" and mac != "02:00:00:00:00:02"
    # No placeholder equals a real value of the capture: nothing can be mistaken for it.
    assert len({eth0, gw, peer}) == 3
    for real in ("192.0.2.2", "198.51.100.7", "10.0.0.1", "2001:db8::1 ", "02:00:00:00:00:02"):
        assert real not in raw
    # Once redacted, those shapes are placeholders: a second pass keeps them.
    again = snapshot.capture(host, {"t.all": walk_all}, redact=True).captured
    assert again.files["proc/net/fib_note"].decode().rstrip("\n") == host.read("/proc/net/fib_note")


def test_redaction_hostname_with_a_domain_but_not_a_sysctl(tmp_path):
    _raw, host = redact_tree(tmp_path, {
        "/proc/sys/kernel/hostname": "vm",
        "/proc/cmdline": "ip=:::::vm.corp.example.net:eth0:dhcp vm.swappiness=1 sysctl.vm.nr_hugepages=8",
    })
    out = host.read("/proc/cmdline")
    assert re.fullmatch(r"ip=:::::host-1\.domain\d+\.example:eth0:dhcp vm\.swappiness=1 sysctl\.vm\.nr_hugepages=8", out)


# ---- the shared corpus ----------------------------------------------------------------


def test_corpus_every_probe_runs(corpus_host):
    probes = real_probes()
    for fn in probes.values():
        fn(corpus_host)  # no exception
    ident = read_identity(corpus_host)
    assert ident.when.reason is Reason.MISSING  # no hftinfra/meta.json in a plain tree


@pytest.mark.parametrize("tree", CORPUS_TREES, ids=lambda p: p.name)
def test_corpus_capture_round_trip(tmp_path, tree):
    if not tree.is_dir():
        pytest.skip(f"{tree} not present")
    probes = real_probes()
    source = open_host(tree)
    result = snapshot.capture(source, probes)
    assert result.probe_errors == {}
    copy = open_host(snapshot.write(result.captured, tmp_path / "copy.tar.gz"))
    expected = run_probes(source, probes)
    got = run_probes(copy, probes)
    assert_same(expected, got)


def test_bench_grows_a_capture_consistently(tmp_path):
    """The benchmark's wide hosts must be real hosts to the probes, or its figures mean nothing."""
    from hftinfra import bench
    from hftinfra.cpulist import parse_cpulist

    base = snapshot.capture(open_host(None), TEST_PROBES).captured
    host = open_host(snapshot.write(bench.widen(base, 96), tmp_path / "wide"))
    assert read_identity(host).cpus_online == 96
    cpus = probe_cpus(host)["cpus"]
    assert len(cpus) == 96 and "cpu95" in cpus
    assert parse_cpulist(host.read("/sys/devices/system/cpu/online")) == frozenset(range(96))
    cpuinfo = host.read("/proc/cpuinfo")
    assert "processor\t: 95\n" in cpuinfo and "processor\t: 96\n" not in cpuinfo


@pytest.mark.parametrize("kind", ["dir", "archive"])
def test_folders_listed_at_capture_keep_every_sub_folder(tmp_path, kind):
    # A snapshot holds only the files probes read, but every sub-folder and link of a folder a
    # probe listed: an absent sub-folder there was absent on the host (memory.thp's per-size
    # folders), and checks may say so.
    live = open_host(None)
    result = snapshot.capture(live, {"t.cpus": probe_cpus})
    snap = open_host(snapshot.write(result.captured, target(tmp_path, kind)))
    assert snap.keeps_all_folders("/sys/devices/system/cpu") and live.keeps_all_folders("/sys/devices/system/cpu")
    assert not snap.keeps_all_folders("/proc/sys/kernel")
    # A copy of the snapshot keeps that, and does not claim more than its source had.
    copy = open_host(snapshot.write(snapshot.capture(snap, {"t.cpus": probe_cpus}).captured,
                                    target(tmp_path, kind, "copy")))
    assert copy.keeps_all_folders("/sys/devices/system/cpu") and not copy.keeps_all_folders("/proc/sys/kernel")


def test_device_nodes_of_a_listed_folder_keep_their_names(tmp_path):
    import os

    from hftinfra.host import LiveHost, open_host
    from hftinfra.snapshot import capture, write

    root = tmp_path / "root"
    (root / "dev" / "vfio").mkdir(parents=True)
    os.mkfifo(root / "dev" / "vfio" / "12")  # stands in for a character device: neither file nor folder
    (root / "proc").mkdir()
    (root / "proc" / "cpuinfo").write_text("processor\t: 0\n")
    result = capture(LiveHost(str(root)), probes={"dev": lambda h: h.listdir("/dev/vfio")}, counter_window_s=0)
    assert result.captured.files.get("dev/vfio/12") == b""
    snap = open_host(str(write(result.captured, tmp_path / "snap")))
    assert snap.listdir("/dev/vfio") == ["12"]
    again = capture(snap, probes={"dev": lambda h: h.listdir("/dev/vfio")})
    assert "dev/vfio/12" in again.captured.files


def test_a_device_or_pipe_is_never_a_snapshot_target(tmp_path):
    """A rename over /dev/null would make it a regular file for the whole machine."""
    from hftinfra.snapshot import SnapshotError, _check_target

    fifo = tmp_path / "snap.tar.gz"
    os.mkfifo(fifo)
    for target in (Path(os.devnull), fifo):
        with pytest.raises(SnapshotError, match="already exists"):
            _check_target(target)
