"""The PXE lab (hftinfra.labs.pxe): qemu VMs network-boot the files ``hftinfra provision``
generates from the sample inventory, served by dnsmasq and ``hftinfra provision serve`` in
network namespaces. Run for real as root where dnsmasq and qemu are installed, else skipped
with the reason; the parts that read consoles and logs run everywhere on the real
transcripts in tests/data/provision/ (see its README).

The autouse fixture deletes any namespace of this process's pid that a failing test left
behind, and fails the test that left it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from labtools import (
    interrupt_lab_cli,
    lab_namespaces,
    netns_list,
    processes_mentioning,
    remove_lab_namespaces,
)

from hftinfra import cli
from hftinfra.labs import LabUnavailable, harness, lab_capability
from hftinfra.labs import pxe as pxelab
from hftinfra.labs.pxe import (
    UNKNOWN_MAC,
    LabChoiceError,
    PxeLabResult,
    Step,
    VmBoot,
    find_ovmf,
    plan_boots,
    qemu_argv,
    run_pxe_lab,
    sample_inventory,
)
from hftinfra.provision.inventory import load_inventory

DATA = Path(__file__).parent / "data" / "provision"


def _can_run_lab() -> str | None:
    capability = lab_capability()
    if not capability:
        return f"no labs here: {capability.reason}"
    for tool, package in pxelab.TOOLS:
        if harness.find_tool(tool) is None:
            return f"no PXE lab here: {tool} is not installed (Debian package {package})"
    return None


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    if os.geteuid() != 0 or not lab_capability():
        return
    leftovers = remove_lab_namespaces("pxe", os.getpid())
    assert not leftovers, f"test left namespaces behind (now removed): {sorted(leftovers)}"


@pytest.fixture(scope="module")
def inventory():
    return load_inventory(sample_inventory())


# ---------------------------------------------------------------------------------------
# Choosing what boots (everywhere)


def test_by_default_a_bios_host_a_uefi_host_and_an_unknown_mac_boot(inventory):
    plans, skipped = plan_boots(inventory)
    assert [(p.host, p.firmware, p.expect) for p in plans] == [
        ("ld4-md01", "bios", "booted"), ("ld4-trade01", "uefi", "booted"), (None, "bios", "unknown-mac")]
    assert plans[0].mac == "0c:c4:7a:3e:90:10"  # the first of its two MACs: the boot MAC
    assert plans[2].mac == UNKNOWN_MAC and skipped == []
    plans, _ = plan_boots(inventory, uefi=False, unknown_mac=None)
    assert [p.host for p in plans] == ["ld4-md01"]


def test_a_named_host_boots_with_its_own_firmware(inventory):
    plans, _ = plan_boots(inventory, ["ld4-trade02", "ld4-trade02"], unknown_mac=None)
    assert [(p.label, p.mac, p.firmware) for p in plans] == [("ld4-trade02 (UEFI)", "b8:59:9f:1a:2b:02", "uefi")]


@pytest.mark.parametrize("hosts, unknown, message", [
    (["nope"], UNKNOWN_MAC, "no host 'nope' in"),
    (["ld4-risk01"], UNKNOWN_MAC, "Secure Boot through shim-grub"),
    (["ld4-desk01"], UNKNOWN_MAC, "installs windows through WinPE"),
    (None, "zz:zz", "--unknown-mac 'zz:zz' is not a MAC address"),
    (None, "B8-59-9F-1A-2B-01", "--unknown-mac b8:59:9f:1a:2b:01 belongs to ld4-trade01"),
])
def test_a_host_the_lab_cannot_boot_is_refused_by_name(inventory, hosts, unknown, message):
    with pytest.raises(LabChoiceError, match=message.replace("(", r"\(").replace("'", "'")):
        plan_boots(inventory, hosts, unknown)


def test_an_installed_host_is_refused_since_its_script_boots_a_disk(inventory):
    installed = dataclasses.replace(inventory.hosts[0], install="local")
    inv = dataclasses.replace(inventory, hosts=(installed, *inventory.hosts[1:]))
    with pytest.raises(LabChoiceError, match="marked installed"):
        plan_boots(inv, [installed.name])


def test_an_install_tree_on_another_server_is_refused(inventory):
    site = dataclasses.replace(inventory.site, install_tree="http://mirror.example/rhel9")
    with pytest.raises(LabChoiceError, match="not on the site's HTTP server"):
        pxelab._install_tree_path(site)
    assert pxelab._install_tree_path(inventory.site) == "rhel9"


def test_qemu_commands_bios_through_the_nic_rom_uefi_through_ovmf_alone():
    bios = qemu_argv("qemu", "bios", "0c:c4:7a:3e:90:10", "tap0")
    assert bios[:3] == ["qemu", "-accel", "tcg"] and "-no-reboot" in bios and "-nographic" in bios
    assert bios[bios.index("-device") + 1] == "e1000,netdev=n0,mac=0c:c4:7a:3e:90:10"
    assert "tap,id=n0,ifname=tap0,script=no,downscript=no" in bios and "-boot" in bios
    uefi = qemu_argv("qemu", "uefi", "b8:59:9f:1a:2b:01", "tap1", ("/c.fd", "/v.fd"), "/tmp/v.fd")
    assert "if=pflash,format=raw,readonly=on,file=/c.fd" in uefi and "if=pflash,format=raw,file=/tmp/v.fd" in uefi
    nic = uefi[uefi.index("-device") + 1]
    assert nic.startswith("virtio-net-pci,") and "romfile=," in nic and "mac=b8:59:9f:1a:2b:01" in nic
    with pytest.raises(pxelab.LabError):
        qemu_argv("qemu", "uefi", "b8:59:9f:1a:2b:01", "tap1")


# ---------------------------------------------------------------------------------------
# Reading a console and dnsmasq's log as they grow (real captures, everywhere)


def _stream_console(text: str, chunk: int) -> pxelab._Vm:
    """Feed a real console transcript to the lab's reader ``chunk`` bytes at a time, one
    hundredth of a second apart, as qemu writes it."""
    import tempfile

    plan = pxelab._Plan("vm1 (BIOS)", "vm1", "52:54:00:aa:00:10", "bios", "booted")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "console.txt"
        path.write_bytes(b"")
        vm = pxelab._Vm(plan, "tap0", [], started=0.0)
        vm.tail = pxelab._Tail(path)
        data = text.encode()
        for k in range(0, len(data), chunk):
            with open(path, "ab") as fh:
                fh.write(data[k:k + chunk])
            now = (k // chunk + 1) / 100
            vm.tail.poll(now)
            pxelab._scan_console(vm, now)
        pxelab._scan_console(vm, now, final=True)
    return vm


@pytest.mark.parametrize("chunk", [7, 64, 100_000])
def test_console_steps_of_a_real_boot_whatever_the_chunks(chunk):
    vm = _stream_console((DATA / "console-vm.txt").read_text(errors="replace"), chunk)
    steps = [s.step for s in vm.steps]
    # iPXE's Ctrl-B prompt counts down with backspaces that erase it: it is seen only when
    # the console is read while the prompt is up, so it may or may not be among the steps.
    prompt = "iPXE offers its command line (Ctrl-B, 2 s)"
    assert steps.count(prompt) <= 1
    steps = [s for s in steps if s != prompt]
    want = ["SeaBIOS started", "iPXE started", "iPXE configured its address", "iPXE was told to load ipxe/hosts/52-54-00-aa-00-10.ipxe",
            "iPXE fetched 52-54-00-aa-00-10.ipxe by TFTP", "vm1's script runs",
            "HTTP fetch failed: No such file or directory (http://ipxe.org/2d0c613b)",
            "the script failed: 0x2d0c613b"]
    assert steps == want
    assert all(a.t_s <= b.t_s for a, b in zip(vm.steps, vm.steps[1:], strict=False))
    # The script's failure ends at iPXE's shell: the lab stops the VM instead of waiting.
    assert vm.outcome == "the host's script failed: 0x2d0c613b" and vm.stop_at is not None


def test_a_step_that_names_a_file_waits_for_its_whole_line():
    vm = _stream_console("Filename: ipxe/hosts/52-54-00-aa-00-10.ipxe\r\n", 5)
    assert [s.step for s in vm.steps] == ["iPXE was told to load ipxe/hosts/52-54-00-aa-00-10.ipxe"]
    # Fixed text is stamped as soon as it shows, before the line ends.
    vm = _stream_console("\r\n>>Start PXE over IPv4.", 100)
    assert [s.step for s in vm.steps] == ["OVMF's PXE client asks DHCP"]


def test_the_lab_marker_and_the_unknown_mac_line_set_the_outcome():
    vm = _stream_console("hftinfra-lab: vm1 (52:54:00:aa:00:10) fetched its installer kernel and initrd over HTTP\r\n", 9)
    assert vm.outcome == "booted" and vm.stop_at is None
    vm = _stream_console("hftinfra: unknown MAC 52:54:00:aa:00:10 (10.77.0.117) on site s\r\n", 9)
    assert vm.outcome == "unknown-mac" and vm.stop_at is not None


def test_dnsmasq_steps_of_a_real_log_for_one_mac():
    lines = [(float(i) / 10, ln) for i, ln in enumerate((DATA / "dnsmasq-vm.log").read_text().splitlines())]
    steps = pxelab._dnsmasq_steps(lines, {"52:54:00:aa:00:10": 0.0}, "/tmp/tmp.DOaPS8Zi6Q/srv")
    got = [s.step for s in steps["52:54:00:aa:00:10"]]
    assert got[0] == "DHCPDISCOVER (iPXE)"
    assert got[1] == "DHCPOFFER: boot file ipxe/hosts/52-54-00-aa-00-10.ipxe"
    assert "DHCPACK: boot file ipxe/hosts/52-54-00-aa-00-10.ipxe" in got
    assert got[-1] == "TFTP sent ipxe/hosts/52-54-00-aa-00-10.ipxe"
    assert all(s.source == "dnsmasq" and s.line in dict(lines).values() for s in steps["52:54:00:aa:00:10"])


def test_http_log_lines_are_attributed_through_the_dhcp_ack():
    log = (DATA / "dnsmasq-vm.log").read_text()
    ips = pxelab._ack_ips(log)
    assert ips == {"10.77.0.20": "52:54:00:aa:00:10"}
    line = '2026-12-03T05:27:44.675511Z 10.77.0.20 "GET /rhel9/images/pxeboot/vmlinuz HTTP/1.1" 200 -'
    steps = pxelab._http_steps([(3.5, line)], ips, {"52:54:00:aa:00:10": 1.0})
    assert steps["52:54:00:aa:00:10"] == [Step(2.5, "http", "HTTP GET /rhel9/images/pxeboot/vmlinuz: 200", line)]


def _boot(**kw) -> VmBoot:
    base = dict(label="h (BIOS)", host="h", mac="52:54:00:aa:00:10", firmware="bios", expect="booted",
                outcome="booted", passed=True, wall_s=6.0, qemu_exit=0, stage="booted", verdict="ran",
                steps=(Step(0.1, "console", "SeaBIOS started", ""), Step(2.0, "dnsmasq", "DHCPDISCOVER", ""),
                       Step(6.0, "lab", "qemu exited 0", "")), argv=("qemu",), console="SeaBIOS\r\n")
    base.update(kw)
    return VmBoot(**base)


def _result(*boots: VmBoot) -> PxeLabResult:
    return PxeLabResult("6.1", "inv.yaml", "site", "Dnsmasq version 2.90", "QEMU 7.2", ("iPXE 1.0",), {}, 10,
                        boots, ("no UEFI host",), ("dnsmasq",), "", "", 0.3, 6.0, 6.5, cleanup="cleaned up")


def test_a_result_passes_only_when_every_boot_ended_as_expected():
    assert _result(_boot()).passed
    assert not _result(_boot(), _boot(passed=False, outcome="timed out")).passed
    assert not _result().passed  # nothing booted proves nothing
    assert _boot().phases() == [("SeaBIOS started", 0.1), ("DHCPDISCOVER", 1.9), ("qemu exited 0", 4.0)]


def test_result_views_text_json_html():
    r = _result(_boot(), _boot(label="u", host=None, expect="unknown-mac", outcome="timed out", passed=False))
    text = r.to_text()
    assert "2 network boots of inv.yaml (1 as expected)" in text and "UNEXPECTED" in text
    assert "skipped: no UEFI host" in text
    doc = json.loads(json.dumps(r.to_json()))
    assert doc["schema"] == "hftinfra.lab.pxe" and doc["passed"] is False
    assert doc["boots"][0]["phases"][1] == {"step": "DHCPDISCOVER", "seconds": 1.9}
    html = r._repr_html_()
    assert "lab-pxe-timeline" in html and "serial console" in html


# ---------------------------------------------------------------------------------------
# Without the means: one line, exit 2, nothing raised by a page


def test_without_capability_the_lab_says_why(monkeypatch):
    monkeypatch.setattr(pxelab, "lab_capability", lambda: harness.LabCapability(False, "needs root", None))
    with pytest.raises(LabUnavailable, match="^lab pxe needs root"):
        run_pxe_lab()
    monkeypatch.setattr(harness, "lab_capability", lambda refresh=False: harness.LabCapability(False, "needs root", None))
    note = pxelab.lab_view(progress=False)
    assert str(note).startswith("skipped: lab pxe needs root")


def test_without_qemu_the_lab_names_the_package(monkeypatch):
    if not lab_capability():
        pytest.skip("tools are checked after capability")
    real = harness.find_tool
    monkeypatch.setattr(harness, "find_tool", lambda name: None if name == "qemu-system-x86_64" else real(name))
    with pytest.raises(LabUnavailable, match="qemu-system-x86"):
        run_pxe_lab()


def test_cli_bad_choices_exit_2_with_one_line(capsys):
    for argv in (["--host", "nope"], ["--unknown-mac", "zz"], ["--inventory", "/nonexistent/inv.yaml"]):
        assert cli.main(["lab", "pxe", "-q", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("hftinfra lab: error: "), err


# ---------------------------------------------------------------------------------------
# The real lab (root, dnsmasq, qemu)


@pytest.fixture(scope="module")
def ran():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    steps: list[str] = []
    started = time.monotonic()
    result = run_pxe_lab(on_step=steps.append)
    return {"result": result, "steps": steps, "seconds": time.monotonic() - started}


def _boot_of(result: PxeLabResult, expect: str, firmware: str) -> VmBoot:
    return next(b for b in result.boots if b.expect == expect and b.firmware == firmware)


@pytest.mark.root
def test_a_bios_host_boots_its_own_script_and_fetches_its_kernel_over_http(ran):
    b = _boot_of(ran["result"], "booted", "bios")
    assert b.passed, ran["result"].to_text()
    assert (b.host, b.outcome, b.stage, b.qemu_exit) == ("ld4-md01", "booted", "booted", 0)
    steps = [s.step for s in b.steps]
    script = "ipxe/hosts/0c-c4-7a-3e-90-10.ipxe"
    assert f"DHCPACK (iPXE): boot file {script}" in steps or f"DHCPACK: boot file {script}" in steps
    assert f"TFTP sent {script}" in steps and "ld4-md01's script runs" in steps
    assert "HTTP GET /rhel9/images/pxeboot/vmlinuz: 200" in steps
    assert "HTTP GET /rhel9/images/pxeboot/initrd.img: 200" in steps
    assert "the stand-in kernel runs as ld4-md01" in steps and steps[-1] == "qemu exited 0"
    assert steps.index("ld4-md01's script runs") < steps.index("the stand-in kernel runs as ld4-md01")
    assert any("hftinfra: host ld4-md01 (0c:c4:7a:3e:90:10) install" in ln for ln in b.console_lines())


@pytest.mark.root
def test_a_uefi_host_walks_the_whole_chain_through_ipxe_efi(ran):
    if find_ovmf() is None:
        pytest.skip("OVMF is not installed (Debian package ovmf)")
    b = _boot_of(ran["result"], "booted", "uefi")
    assert b.passed and b.host == "ld4-trade01", ran["result"].to_text()
    steps = [s.step for s in b.steps]
    # Firmware PXE says architecture 7 and gets iPXE; iPXE says who it is and gets the script.
    first = steps.index("DHCPOFFER: boot file ipxe.efi")
    assert steps[first - 1] == "DHCPDISCOVER (PXE, architecture 7)"
    assert "TFTP sent ipxe.efi" in steps and "OVMF downloaded the loader by TFTP" in steps
    script = steps.index("DHCPOFFER: boot file ipxe/hosts/b8-59-9f-1a-2b-01.ipxe")
    assert steps[script - 1] == "DHCPDISCOVER (iPXE)" and script > first
    assert "the stand-in kernel runs as ld4-trade01" in steps
    assert b.wall_s < 60, "the UEFI boot took a minute or more under TCG"


@pytest.mark.root
def test_an_unknown_mac_shows_the_fallback_message_at_its_console(ran):
    b = _boot_of(ran["result"], "unknown-mac", "bios")
    assert b.passed and b.outcome == "unknown-mac" and b.stage == "unknown-mac", ran["result"].to_text()
    steps = [s.step for s in b.steps]
    assert "DHCPOFFER: boot file ipxe/unknown.ipxe" in steps and "TFTP sent ipxe/unknown.ipxe" in steps
    assert f"fallback script: unknown MAC {UNKNOWN_MAC}" in steps and steps[-1] == "stopped by the lab"
    line = next(ln for ln in b.console_lines() if "hftinfra: unknown MAC" in ln)
    assert line.startswith(f"hftinfra: unknown MAC {UNKNOWN_MAC} (10.20.0.") and "on site ld4-pod1" in line
    assert any(f"replace-mac HOST {UNKNOWN_MAC}" in ln for ln in b.console_lines())


@pytest.mark.root
def test_dnsmasq_ran_the_generated_configuration_unchanged(ran):
    r = ran["result"]
    conf = next(a for a in r.dnsmasq_argv if a.startswith("--conf-file="))
    assert conf.endswith("/out/dnsmasq/dnsmasq.conf")
    assert "--enable-ra" in r.dnsmasq_argv and not any(a.startswith("--dhcp-boot") for a in r.dnsmasq_argv)
    assert "TFTP root is " + conf[len("--conf-file="):-len("dnsmasq/dnsmasq.conf")] + "srv" in r.dnsmasq_log
    assert r.generated_files > 10


@pytest.mark.root
def test_the_lab_cleans_up_everything_it_made(ran):
    r: PxeLabResult = ran["result"]
    report = r.report
    assert report is not None and report.clean, report.to_text()
    kinds = [x.kind for x in report.created]
    assert kinds.count("netns") == 2 and kinds.count("veth") == 1
    assert kinds.count("process") == 2 + len(r.boots)  # dnsmasq, the HTTP server, a qemu per VM
    assert not {x.name for x in report.created if x.kind == "netns"} & netns_list()
    tmpdir = next(x.name for x in report.created if x.kind == "tempdir")
    assert not Path(tmpdir).exists() and processes_mentioning(tmpdir) == []
    assert ran["steps"][-1] == report.summary()


@pytest.mark.root
def test_cli_runs_one_bios_boot_and_prints_json(tmp_path):
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    out = tmp_path / "pxe.json"
    assert cli.main(["lab", "pxe", "--no-uefi", "--no-unknown", "--json", "-q", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == "hftinfra.lab.pxe" and doc["passed"] is True
    assert [b["host"] for b in doc["boots"]] == ["ld4-md01"]
    assert sum(p["seconds"] for p in doc["boots"][0]["phases"]) == pytest.approx(doc["boots"][0]["wall_s"], abs=0.01)


@pytest.mark.root
def test_a_boot_that_times_out_is_reported_and_exits_1(capsys):
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    assert cli.main(["lab", "pxe", "--no-uefi", "--no-unknown", "--timeout", "1", "-q"]) == 1
    out = capsys.readouterr().out
    assert "ld4-md01 (BIOS): timed out after 1 s" in out and "UNEXPECTED" in out
    assert not lab_namespaces("pxe", os.getpid())


@pytest.mark.root
def test_ctrl_c_stops_the_lab_and_cleans_up():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    run = interrupt_lab_cli(["lab", "pxe", "--no-uefi"], "pxe: booting unknown MAC", wait_s=60, settle_s=1)
    try:
        assert run.seen and "pxe: booting" in run.seen[-1], "".join(run.seen)
        assert run.returncode == 130, run.err
        assert "cleaned up" in run.err and run.err.rstrip().endswith("hftinfra lab: interrupted")
        assert not lab_namespaces("pxe", run.pid) and processes_mentioning(f"hft-pxe-{run.pid}-", settle_s=3) == []
        started = [int(ln.rsplit("(pid ", 1)[1].rstrip(")\n")) for ln in run.seen if "(pid " in ln]
        assert len(started) >= 3  # dnsmasq, the HTTP server, a VM at least
        assert not [p for p in started if Path(f"/proc/{p}").exists()]
    finally:
        leftovers = remove_lab_namespaces("pxe", run.pid)
    assert not leftovers
