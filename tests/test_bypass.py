"""Kernel-bypass readiness: the IOMMU command line by the kernel's parsers, the AF_XDP
zero-copy table by kernel version, small hand-built hosts (an IOMMU with groups and vfio,
one switched off, one that was not recorded), the fixture hosts, and the live host against
its own sysfs."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from conftest import HOSTS, write_tree
from hypothesis import given
from hypothesis import strategies as st

from hftinfra.audit import run_audit
from hftinfra.bypass import (
    CHECKED_TREES,
    NOIOMMU_PARAM,
    ZERO_COPY_DRIVERS,
    fix_plan,
    parse_iommu_cmdline,
    parse_module_bool,
    read_bypass_readiness,
    readiness_summary,
    zero_copy_driver,
    zero_copy_verdict,
)
from hftinfra.host import Reason, Unread, open_host
from hftinfra.kernel import read_kernel_config
from hftinfra.probes import all_probes
from hftinfra.records import to_jsonable

# ---- the command line, by the kernel's parsers ------------------------------------------


def test_intel_and_passthrough():
    p = parse_iommu_cmdline("BOOT_IMAGE=/vmlinuz ro intel_iommu=on,sm_on iommu=pt quiet")
    assert (p.intel_iommu, p.amd_iommu, p.iommu) == (("on", "sm_on"), None, ("pt",))
    assert (p.passthrough, p.strict, p.disabled_by, p.ignored) == (True, None, None, ())


def test_the_last_parameter_wins_for_passthrough():
    assert parse_iommu_cmdline("iommu=pt iommu.passthrough=0").passthrough is False
    assert parse_iommu_cmdline("iommu.passthrough=off iommu=pt").passthrough is True
    assert parse_iommu_cmdline("iommu=nopt").passthrough is False
    assert parse_iommu_cmdline("iommu.strict=1").strict is True
    assert parse_iommu_cmdline("amd_iommu=fullflush").strict is True  # deprecated alias (amd/init.c)


def test_switched_off():
    assert parse_iommu_cmdline("intel_iommu=off").disabled_by == "intel_iommu=off"
    assert parse_iommu_cmdline("amd_iommu=off").disabled_by == "amd_iommu=off"
    assert parse_iommu_cmdline("iommu=off").disabled_by == "iommu=off"
    # intel_iommu_setup() walks the options in order: a later 'on' undoes 'off'.
    assert parse_iommu_cmdline("intel_iommu=off,on").disabled_by is None
    # Everything after '--' is init's (kernel-parameters.rst).
    assert parse_iommu_cmdline("ro -- intel_iommu=off").disabled_by is None


def test_a_bad_boolean_is_ignored_as_the_kernel_does():
    p = parse_iommu_cmdline("iommu.passthrough=maybe")
    assert p.passthrough is None and "not a boolean" in p.ignored[0]


def test_module_bool():
    assert parse_module_bool("Y\n") is True and parse_module_bool("N") is False
    with pytest.raises(ValueError):
        parse_module_bool("1")


@given(st.text(max_size=200))
def test_cmdline_parser_never_crashes(text):
    parse_iommu_cmdline(text)


# ---- the AF_XDP zero-copy table -----------------------------------------------------------


def test_table_is_consistent():
    names = [n for d in ZERO_COPY_DRIVERS for n in d.names]
    assert len(names) == len(set(names)), "a driver name in two entries"
    for d in ZERO_COPY_DRIVERS:
        assert d.driver in d.names and d.source.startswith("drivers/net/")
        assert d.since is not None or d.note, d
        if d.since is not None and d.absent_in is not None:
            assert d.absent_in < d.since, d
        assert d.since in (*CHECKED_TREES, (6, 14), None), d


@pytest.mark.parametrize("driver, release, expected", [
    ("ice", "6.12.43-1-amd64", True),
    ("ice", "6.1.0-18-amd64", True),
    ("mlx5_core", "6.8.0-45-generic", True),
    ("igb", "6.12.43", False),
    ("igb", "6.14.2", True),
    ("gve", "6.1.0", False),
    ("virtio_net", "6.12.1", False),
    ("e1000e", "6.1.0", False),
    ("sfc", "6.12.0", False),
])
def test_zero_copy_verdicts(driver, release, expected):
    value, why = zero_copy_verdict((driver,), release)
    assert value is expected, why


@pytest.mark.parametrize("driver, release, words", [
    ("ice", "5.14.0-362.24.1.el9_3.x86_64", "older than the trees checked"),
    ("igb", "6.13.4", "between the 6.12 tree"),
    ("gve", "6.5.0", "between the 6.1 tree"),
    ("virtio_net", "6.18.44-fc-v1045", "newer than the trees checked"),
    ("e1000e", "6.18.1", "newer than the trees checked"),
])
def test_unknown_where_the_trees_do_not_say(driver, release, words):
    value, why = zero_copy_verdict((driver,), release)
    assert isinstance(value, Unread) and value.reason is Reason.MISSING and words in value.detail + why


def test_stmmac_is_found_by_its_ethtool_name():
    # The sysfs driver is the bus glue; ethtool -i reports the core's name (stmmac_ethtool.c).
    assert zero_copy_driver("intel-eth-pci", "st_gmac").driver == "stmmac"
    assert zero_copy_verdict(("intel-eth-pci", "st_gmac"), "6.6.30")[0] is True


def test_verdict_needs_a_driver_and_a_release():
    why = Unread(Reason.MISSING, "/sys/class/net/x/device/driver", "no driver bound")
    assert zero_copy_verdict((why, None), "6.12.0")[0] is why
    release = Unread(Reason.DENIED, "/proc/sys/kernel/osrelease")
    assert zero_copy_verdict(("ice",), release)[0] is release
    assert zero_copy_verdict(("ice",), "garbage")[0].reason is Reason.MALFORMED


# ---- hand-built hosts ---------------------------------------------------------------------

PCI = "/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"
VF = "/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.1"
GROUPS = "/sys/kernel/iommu_groups"
DRIVER_ICE = ("driver: ice\nversion: 6.12.43\nfirmware-version: 4.40\nexpansion-rom-version: \n"
              "bus-info: 0000:3b:00.0\nsupports-statistics: yes\nsupports-test: yes\n"
              "supports-eeprom-access: yes\nsupports-register-dump: yes\nsupports-priv-flags: yes\n")
CONFIG = "\n".join(["CONFIG_NET=y", "CONFIG_BPF_SYSCALL=y", "CONFIG_XDP_SOCKETS=y", "CONFIG_NET_RX_BUSY_POLL=y",
                    "CONFIG_IOMMU_SUPPORT=y", "CONFIG_IOMMU_API=y", "CONFIG_INTEL_IOMMU=y", "CONFIG_VFIO=m",
                    "CONFIG_VFIO_PCI=m", "CONFIG_VFIO_NOIOMMU=y"])


def iommu_host_files(cmdline: str = "ro intel_iommu=on iommu=pt") -> dict:
    """A two-node host with VT-d on: the ice port ens1f0 (node 1) in group 12 with its
    bridge, a second function 0000:3b:00.1 bound to vfio-pci in group 13, 1 GiB pages on
    node 1."""
    files: dict = {
        "/proc/cmdline": cmdline,
        "/proc/sys/kernel/osrelease": "6.12.43-1-amd64",
        "/proc/config.gz": gzip.compress(CONFIG.encode()),
        "/proc/meminfo": "MemTotal: 263000000 kB\nHugepagesize: 2048 kB\n",
        "/proc/sys/net/core/busy_read": "50", "/proc/sys/net/core/busy_poll": "50",
        "@/sys/class/net/ens1f0": "../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/net/ens1f0",
        f"@{PCI}/net/ens1f0/device": "../../../0000:3b:00.0",
        f"@{PCI}/driver": "../../../../bus/pci/drivers/ice",
        f"@{PCI}/iommu_group": "../../../../kernel/iommu_groups/12",
        f"{PCI}/numa_node": "1",
        f"{PCI}/local_cpulist": "16-31",
        f"{PCI}/net/ens1f0/operstate": "up",
        "@/sys/class/iommu/dmar0": "../../devices/virtual/iommu/dmar0",
        "@/sys/class/iommu/dmar1": "../../devices/virtual/iommu/dmar1",
        f"@{GROUPS}/12/devices/0000:3a:00.0": "../../../../devices/pci0000:3a/0000:3a:00.0",
        f"@{GROUPS}/12/devices/0000:3b:00.0": "../../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0",
        f"{GROUPS}/12/type": "identity",
        f"@{GROUPS}/13/devices/0000:3b:00.1": "../../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.1",
        f"{GROUPS}/13/type": "DMA",
        "@/sys/bus/pci/drivers/vfio-pci/0000:3b:00.1": "../../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.1",
        "/sys/bus/pci/drivers/vfio-pci/new_id": "",
        "/sys/bus/pci/drivers/vfio-pci/bind": "",
        f"@{VF}/iommu_group": "../../../../kernel/iommu_groups/13",
        f"@{VF}/driver": "../../../../bus/pci/drivers/vfio-pci",
        f"{VF}/numa_node": "1",
        "/dev/vfio/vfio": "",
        "/dev/vfio/13": "",
        "/dev/vfio/devices/vfio0": "",
        NOIOMMU_PARAM: "N",
        "/hftinfra/commands.json": json.dumps({"ethtool -i ens1f0": {"returncode": 0, "stdout": DRIVER_ICE,
                                                                     "stderr": ""}}),
        # The capture listed these folders whole: an entry absent from them was absent on the host.
        "/hftinfra/meta.json": json.dumps({"listed": [f"{GROUPS}/12", f"{GROUPS}/13", "/sys/class/iommu",
                                                      "/sys/class/net/ens1f0/device"]}),
    }
    for node, pages in ((0, "0"), (1, "16")):
        base = f"/sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB"
        files[f"{base}/nr_hugepages"] = pages
        files[f"{base}/free_hugepages"] = pages
        files[f"{base}/surplus_hugepages"] = "0"
    g = "/sys/kernel/mm/hugepages/hugepages-1048576kB"
    files.update({f"{g}/nr_hugepages": "16", f"{g}/free_hugepages": "16", f"{g}/resv_hugepages": "0",
                  f"{g}/surplus_hugepages": "0"})
    return files


@pytest.fixture
def host_of(tmp_path):
    counter = iter(range(100))

    def make(files: dict):
        root = tmp_path / f"h{next(counter)}"
        write_tree(root, files)
        return open_host(root)

    return make


def test_iommu_host_exact(host_of):
    r = read_bypass_readiness(host_of(iommu_host_files()))
    assert r.kernel == "6.12.43-1-amd64"
    io = r.iommu
    assert io.enabled is True and io.units == ("dmar0", "dmar1") and "dmar0, dmar1" in io.why
    assert [g.group for g in io.groups] == [12, 13]
    g12 = io.group(12)
    assert g12.devices == ("0000:3a:00.0", "0000:3b:00.0") and g12.type == "identity"
    assert g12.name is None and g12.noiommu is False  # listed whole: it has no name file
    assert io.configured.passthrough is True and io.configured.intel_iommu == ("on",)
    v = r.vfio
    assert (v.pci_driver, v.bound, v.noiommu_mode) == (True, ("0000:3b:00.1",), False)
    assert v.dev_entries == ("13", "vfio", "devices/vfio0")
    assert (r.xdp_sockets, r.busy_poll_built, r.busy_read_us, r.busy_poll_us) == (True, True, 50, 50)
    assert r.config_source == "/proc/config.gz"
    nic = r.device("ens1f0")
    assert (nic.address, nic.driver, nic.ethtool_driver, nic.numa_node) == ("0000:3b:00.0", "ice", "ice", 1)
    assert (nic.iommu_group, nic.iommu_group_type, nic.group_devices) == (12, "identity",
                                                                         ("0000:3a:00.0", "0000:3b:00.0"))
    assert nic.vfio_bound is False and nic.af_xdp_zero_copy is True and "6.1" in nic.af_xdp_why
    vf = r.device("0000:3b:00.1")
    assert (vf.interface, vf.driver, vf.numa_node, vf.iommu_group, vf.iommu_group_type) == (
        None, "vfio-pci", 1, 13, "DMA")
    assert vf.vfio_bound is True and vf.af_xdp_zero_copy is False
    node1 = r.hugepages.nodes[1].pool(1048576)
    assert (node1.total, node1.free) == (16, 16)


def test_records_render_and_are_jsonable(host_of):
    r = read_bypass_readiness(host_of(iommu_host_files()))
    html = r._repr_html_()
    for text in ("Kernel-bypass readiness", "Hugepages per NUMA node", "ens1f0", "0000:3b:00.1", "dmar0", "identity"):
        assert text in html, text
    data = json.loads(json.dumps(to_jsonable(r)))
    assert data["iommu"]["groups"][0]["devices"] == ["0000:3a:00.0", "0000:3b:00.0"]
    assert "AF_XDP sockets" in readiness_summary(r)
    with pytest.raises(AttributeError):
        r.kernel = "x"  # type: ignore[misc]


def test_noiommu_group_and_mode(host_of):
    files = iommu_host_files()
    files[f"{GROUPS}/13/name"] = "vfio-noiommu"
    files[NOIOMMU_PARAM] = "Y"
    r = read_bypass_readiness(host_of(files))
    assert r.iommu.group(13).name == "vfio-noiommu" and r.iommu.group(13).noiommu is True
    assert r.vfio.noiommu_mode is True


def test_empty_iommu_class_listed_whole_is_off(tmp_path):
    files = {k: v for k, v in iommu_host_files("ro intel_iommu=off").items()
             if not k.lstrip("@").startswith("/sys/class/iommu/")}
    root = tmp_path / "snap"
    write_tree(root, files)
    (root / "sys/class/iommu").mkdir(parents=True)
    r = read_bypass_readiness(open_host(root))
    assert r.iommu.units == () and r.iommu.enabled is False
    assert "switched off by intel_iommu=off" in r.iommu.why


def test_empty_iommu_class_without_a_driver_in_the_kernel(tmp_path):
    files = {k: v for k, v in iommu_host_files("ro").items() if not k.lstrip("@").startswith("/sys/class/iommu/")}
    files["/proc/config.gz"] = gzip.compress(CONFIG.replace("CONFIG_INTEL_IOMMU=y", "# CONFIG_INTEL_IOMMU is not set")
                                             .encode())
    root = tmp_path / "snap"
    write_tree(root, files)
    (root / "sys/class/iommu").mkdir(parents=True)
    r = read_bypass_readiness(open_host(root))
    assert r.iommu.enabled is False and "no IOMMU driver" in r.iommu.why


def test_empty_folder_not_listed_is_unknown(tmp_path):
    files = iommu_host_files()
    files = {k: v for k, v in files.items() if not k.lstrip("@").startswith("/sys/class/iommu/")}
    files["/hftinfra/meta.json"] = json.dumps({"listed": []})
    root = tmp_path / "snap"
    write_tree(root, files)
    (root / "sys/class/iommu").mkdir(parents=True)
    r = read_bypass_readiness(open_host(root))
    assert isinstance(r.iommu.enabled, Unread) and r.iommu.enabled.reason is Reason.MISSING
    # group 12's folder was not listed whole either: its name is not known
    assert r.iommu.group(12).name.reason is Reason.MISSING


def test_nothing_recorded_reads_unknown_never_false(host_of):
    r = read_bypass_readiness(host_of({"/proc/cmdline": "ro"}))
    for value in (r.iommu.enabled, r.iommu.units, r.iommu.groups, r.vfio.pci_driver, r.vfio.bound,
                  r.vfio.dev_entries, r.vfio.noiommu_mode, r.xdp_sockets, r.busy_read_us, r.devices, r.kernel):
        assert isinstance(value, Unread), value
    assert r.iommu.configured.disabled_by is None
    assert "unknown" in r._repr_html_()


def test_trimmed_config_and_dependency_off(host_of):
    files = iommu_host_files()
    files["/proc/config.gz"] = gzip.compress(b"CONFIG_NET=y\n# CONFIG_BPF_SYSCALL is not set\n")
    r = read_bypass_readiness(host_of(files))
    assert r.xdp_sockets is False  # its dependency is off, so kconfig left it out
    assert isinstance(r.busy_poll_built, Unread) and "trimmed" in r.busy_poll_built.detail
    files["/proc/config.gz"] = b"not gzip"
    r = read_bypass_readiness(host_of(files))
    assert r.xdp_sockets.reason is Reason.MALFORMED


def test_unrecorded_group_link_is_unknown(host_of):
    files = iommu_host_files()
    files["/hftinfra/meta.json"] = json.dumps({"listed": []})
    del files[f"@{PCI}/iommu_group"]
    nic = read_bypass_readiness(host_of(files)).device("ens1f0")
    assert isinstance(nic.iommu_group, Unread) and "not recorded" in nic.iommu_group.detail


def test_device_not_behind_an_iommu_when_listed_whole(host_of):
    files = iommu_host_files()
    del files[f"@{PCI}/iommu_group"]
    nic = read_bypass_readiness(host_of(files)).device("ens1f0")
    assert (nic.iommu_group, nic.iommu_group_type, nic.group_devices) == (None, None, None)


def test_probe_is_registered():
    assert "bypass.readiness" in all_probes()


# ---- the fixture hosts --------------------------------------------------------------------


def test_tuned_fixture():
    host = open_host(HOSTS / "tuned-2s")
    r = read_bypass_readiness(host)
    assert r.kernel == "5.14.0-362.24.1.el9_3.x86_64"
    pools = {n.node: n.pool(1048576) for n in r.hugepages.nodes}
    assert (pools[1].total, pools[1].free, pools[0].total) == (16, 16, 0)
    assert (r.busy_read_us, r.busy_poll_us) == (50, 50)
    assert (r.xdp_sockets, r.busy_poll_built) == (True, True)
    assert r.config_source == "/boot/config-5.14.0-362.24.1.el9_3.x86_64"
    # VT-d on, intel_iommu=on iommu=pt: four units, a group per PCI function, identity domains
    io = r.iommu
    assert io.enabled is True and io.units == ("dmar0", "dmar1", "dmar2", "dmar3")
    assert (io.configured.intel_iommu, io.configured.iommu, io.configured.passthrough) == (("on",), ("pt",), True)
    assert io.configured.disabled_by is None
    assert [(g.group, g.devices, g.type, g.name) for g in io.groups] == [
        (0, ("0000:00:1c.5",), "identity", None), (1, ("0000:04:00.0",), "identity", None),
        (2, ("0000:b0:02.0",), "identity", None), (3, ("0000:b1:00.0",), "identity", None),
        (4, ("0000:b1:00.1",), "identity", None)]  # listed whole: no group has a name file
    ens = r.device("ens1f0")
    assert (ens.address, ens.driver, ens.ethtool_driver, ens.numa_node) == ("0000:b1:00.0", "ice", "ice", 1)
    assert (ens.iommu_group, ens.iommu_group_type, ens.group_devices, ens.vfio_bound) == (
        3, "identity", ("0000:b1:00.0",), False)
    # RHEL 9's 5.14 is older than the trees the table was checked in: unknown, not 'no'.
    assert isinstance(ens.af_xdp_zero_copy, Unread) and "older" in ens.af_xdp_zero_copy.detail
    eno = r.device("eno1")
    assert eno.driver == "igb" and eno.af_xdp_zero_copy is False  # igb's zero-copy is 6.14
    assert (eno.iommu_group, eno.group_devices) == (1, ("0000:04:00.0",))
    # The E810's second port, bound to vfio-pci for DPDK: its group's node in /dev/vfio.
    v = r.vfio
    assert (v.pci_driver, v.bound, v.dev_entries, v.noiommu_mode) == (True, ("0000:b1:00.1",), ("4", "vfio"), False)
    dpdk = r.device("0000:b1:00.1")
    assert (dpdk.interface, dpdk.driver, dpdk.numa_node, dpdk.iommu_group, dpdk.iommu_group_type) == (
        None, "vfio-pci", 1, 4, "identity")
    assert dpdk.vfio_bound is True and dpdk.af_xdp_zero_copy is False
    assert [d.interface for d in r.devices] == ["eno1", "ens1f0", None]


def test_a_vfio_port_is_no_trading_nic_and_takes_no_interrupt():
    host = open_host(HOSTS / "tuned-2s")
    assert "ens1f1" not in host.listdir("/sys/class/net")
    # vfio-pci has not enabled MSI-X (no process set its interrupts), and the function has no netdev
    for sub in ("msi_irqs", "net"):
        assert host.listdir(f"/sys/bus/pci/drivers/vfio-pci/0000:b1:00.1/{sub}").reason is Reason.MISSING
    interrupts = host.read("/proc/interrupts")
    assert "0000:b1:00.1" not in interrupts and "ens1f1" not in interrupts and "vfio" not in interrupts
    report = run_audit(str(HOSTS / "tuned-2s"), "hft-isolated")
    assert report.variables["trading_nics"].value == frozenset({"eno1", "ens1f0"})


def test_untuned_fixture_has_vt_d_but_no_dma_remapping():
    host = open_host(HOSTS / "untuned-2s")
    r = read_bypass_readiness(host)
    assert (r.busy_read_us, r.busy_poll_us) == (0, 0)
    assert r.hugepages.nodes[1].pool(1048576).total == 0
    # Nothing on the command line turns on the Intel IOMMU, which RHEL 9 builds off by default.
    cfg = r.iommu.configured
    assert (cfg.intel_iommu, cfg.iommu, cfg.passthrough, cfg.disabled_by) == (None, None, None, None)
    config = read_kernel_config(host)
    assert config.options["CONFIG_INTEL_IOMMU"] == "y" and config.options["CONFIG_INTEL_IOMMU_DEFAULT_ON"] == "n"
    # No unit registered: the capture listed /sys/class/iommu and found it empty. git keeps no
    # empty folder, so the tree has none; the listing in meta.json makes it an empty folder.
    assert "/sys/class/iommu" in host.meta["listed"] and host.isdir("/sys/class/iommu")
    assert (r.iommu.enabled, r.iommu.units, r.iommu.groups) == (False, (), ())
    assert "unless booted with intel_iommu=on" in r.iommu.why
    # VT-d itself is on in the BIOS: interrupt remapping, a fault interrupt per unit.
    assert "DMAR-MSI" in host.read("/proc/interrupts") and " IR-PCI-MSI " in host.read("/proc/interrupts")
    # vfio was never loaded: nothing of it in the tree, unknown rather than 'no'.
    assert isinstance(r.vfio.pci_driver, Unread) and isinstance(r.vfio.dev_entries, Unread)
    assert all(isinstance(d.iommu_group, Unread) for d in r.devices)


# ---- the live host, against its own sysfs ---------------------------------------------------


def _listing(path: str):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return None
    except PermissionError:
        return "denied"


def test_live_host_matches_its_sysfs():
    r = read_bypass_readiness(open_host(None))
    units = _listing("/sys/class/iommu")
    if units is None:
        assert r.iommu.enabled is False or isinstance(r.iommu.enabled, Unread)
    elif units == "denied":
        assert isinstance(r.iommu.units, Unread)
    else:
        assert r.iommu.units == tuple(units)
        assert r.iommu.enabled is bool(units), r.iommu.why  # units registered: on; none: off, with why
    groups = _listing("/sys/kernel/iommu_groups")
    if isinstance(groups, list):
        assert [g.group for g in r.iommu.groups] == sorted(int(g) for g in groups)
    bound = _listing("/sys/bus/pci/drivers/vfio-pci")
    if bound is None:
        assert r.vfio.pci_driver is False and r.vfio.bound == ()
    elif isinstance(bound, list):
        assert r.vfio.bound == tuple(b for b in bound if ":" in b and "." in b)
    dev = _listing("/dev/vfio")
    if dev is None:
        assert r.vfio.dev_entries == ()
    for value in (r.xdp_sockets, r.busy_poll_built, r.vfio.noiommu_mode):
        assert isinstance(value, (bool, Unread))
    for d in r.devices if isinstance(r.devices, tuple) else ():
        link = Path(d.source) / "iommu_group"
        if link.is_symlink():
            assert d.iommu_group == int(os.path.basename(os.readlink(link)))
        elif Path(d.source).is_dir():
            assert d.iommu_group is None
        assert isinstance(d.af_xdp_zero_copy, (bool, Unread)) and d.af_xdp_why
        assert (d.interface is None) == (d.driver == "vfio-pci")
    busy = Path("/proc/sys/net/core/busy_poll")
    if busy.exists():
        assert r.busy_poll_us == int(busy.read_text())


# ---- the fix plan ---------------------------------------------------------------------------


def test_fix_plan_names_the_group_and_the_node(host_of):
    files = iommu_host_files()
    files[f"@{GROUPS}/12/devices/0000:3b:00.2"] = "../../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.2"
    plan = fix_plan(read_bypass_readiness(host_of(files)))
    assert "Prepare ens1f0 (0000:3b:00.0, driver ice, NUMA node 1)" in plan
    assert "also holds 0000:3a:00.0, 0000:3b:00.2" in plan
    assert "echo vfio-pci > /sys/bus/pci/devices/0000:3b:00.0/driver_override" in plan
    assert "grubby" not in plan and "nr_hugepages" not in plan  # IOMMU on, pages on node 1 already


def test_fix_plan_asks_for_the_iommu_and_hugepages(host_of):
    files = iommu_host_files("ro intel_iommu=off")
    files = {k: v for k, v in files.items() if not k.lstrip("@").startswith("/sys/class/iommu/")}
    for node in (0, 1):
        files[f"/sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB/nr_hugepages"] = "0"
    plan = fix_plan(read_bypass_readiness(host_of(files)), "ens1f0")
    assert "intel_iommu=on iommu=pt" in plan and "node1/hugepages/hugepages-1048576kB/nr_hugepages" in plan
    assert fix_plan(read_bypass_readiness(host_of(files)), "eth9").startswith("# no physical NIC 'eth9'")


def test_fix_plan_without_nics(host_of):
    assert fix_plan(read_bypass_readiness(host_of({"/proc/cmdline": "ro"}))).startswith("# no physical NIC")


def test_fix_plan_prefers_the_nic_on_the_hugepage_node():
    plan = fix_plan(read_bypass_readiness(open_host(HOSTS / "tuned-2s")))
    assert plan.startswith("# Prepare ens1f0")
    # IOMMU on and pages on node 1 already; ens1f0 is alone in its group
    assert "grubby" not in plan and "nr_hugepages" not in plan and "also holds" not in plan
