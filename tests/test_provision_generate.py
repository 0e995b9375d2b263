"""hftinfra provision: generated files for the sample inventory (against reviewed golden
files), determinism, refusal to overwrite, the one-line server swap, install states and the
HTTP side that ends the install loop; Kickstarts pass ksvalidator, dnsmasq accepts its
configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hftinfra.cli import main
from hftinfra.cpulist import parse_cpulist, parse_isolcpus
from hftinfra.provision.generate import MANIFEST, generate, read_manifest, write_tree
from hftinfra.provision.inventory import load_inventory

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "provisioning" / "sample-inventory.yaml"
GOLDEN = Path(__file__).resolve().parent / "data" / "provision-golden"
KSVALIDATOR = Path(sys.executable).parent / "ksvalidator"


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def inventory(tmp_path) -> Path:
    path = tmp_path / "sample-inventory.yaml"
    shutil.copy(SAMPLE, path)
    return path


def test_sample_matches_reviewed_golden_files():
    """The generated tree is what was reviewed. After a deliberate change, regenerate with
    HFTINFRA_UPDATE_GOLDEN=1 pytest tests/test_provision_generate.py and review the diff."""
    generated = generate(load_inventory(SAMPLE))
    files = {**generated.files, MANIFEST: generated.manifest_bytes()}
    if os.environ.get("HFTINFRA_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, content in files.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(content)
    golden = tree(GOLDEN)
    assert sorted(files) == sorted(golden), "files differ from tests/data/provision-golden"
    for rel, content in files.items():
        assert content == golden[rel], f"{rel} differs from its golden file"


def test_output_is_deterministic_across_processes(tmp_path):
    outs = []
    for seed in ("1", "4242"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "hftinfra", "provision", "--inventory", str(SAMPLE), "--out", str(out),
                        "-q"], check=True, env=env, cwd=tmp_path, timeout=120)
        outs.append(tree(out))
    assert outs[0] == outs[1]


def test_layout_and_what_each_host_gets():
    inv = load_inventory(SAMPLE)
    g = generate(inv)
    for host in inv.hosts:
        for mac in host.macs:
            script = g.text(f"srv/ipxe/hosts/{mac.replace(':', '-')}.ipxe")
            assert script.startswith("#!ipxe\n")
            assert f"echo hftinfra: host {host.name} ({mac})" in script
        if host.is_linux:
            ks = g.text(f"srv/ks/{host.name}.ks")
            assert f"inst.ks={inv.site.http_url}/ks/{host.name}.ks" in g.text(
                f"srv/ipxe/hosts/{host.mac.replace(':', '-')}.ipxe")
            assert "%post --interpreter=/usr/bin/bash --erroronfail --log=/root/hftinfra-post.log" in ks
        else:
            script = g.text(f"srv/ipxe/hosts/{host.mac.replace(':', '-')}.ipxe")
            assert "/wimboot" in script and "startnet.cmd" in script
    unknown = g.text("srv/ipxe/unknown.ipxe")
    assert "unknown MAC ${net0/mac}" in unknown
    conf = g.text("dnsmasq/dnsmasq.conf")
    assert "dhcp-boot=tag:ipxe,tag:!known,ipxe/unknown.ipxe" in conf
    assert "dhcp-option-force=tag:efi-http,option:vendor-class,HTTPClient" in conf
    assert "dhcp-range=10.20.0.0,proxy" in g.text("dnsmasq/dnsmasq-proxy.conf")
    # Secure Boot: risk01 goes shim -> GRUB, desk01 iPXE's signed shim -> autoexec.ipxe.
    assert "configfile $prefix/hosts/3c-fd-fe-b0-44-a1.cfg" in g.text("srv/grub/grub.cfg")
    assert "/ipxe/hosts/${net0/mac:hexhyp}.ipxe" in g.text("srv/sb/autoexec.ipxe")
    supplied = {s["path"] for s in g.manifest()["supply"]}
    assert {"srv/undionly.kpxe", "srv/ipxe.efi", "srv/grub/shimx64.efi", "srv/sb/shimx64.efi"} <= supplied


def test_kernel_arguments_come_from_the_profile_and_the_host_variables():
    inv = load_inventory(SAMPLE)
    g = generate(inv)
    host = inv.host("ld4-md01")
    ks = g.text("srv/ks/ld4-md01.ks")
    append = next(line for line in ks.splitlines() if line.startswith("bootloader "))
    args = dict(a.split("=", 1) if "=" in a else (a, None)
                for a in append.split('--append="', 1)[1].rstrip('"').split())
    flags, cpus = parse_isolcpus(args["isolcpus"])
    assert cpus == host.variables["isolated_cpus"] and {"domain", "managed_irq"} <= flags
    assert parse_cpulist(args["nohz_full"]) == host.variables["isolated_cpus"]
    assert parse_cpulist(args["irqaffinity"]) == host.variables["housekeeping_cpus"]
    assert (args["hugepagesz"], args["hugepages"]) == ("2M", "4096")
    assert "ExecStart=/usr/local/bin/hftinfra audit --profile hft-isolated --var housekeeping_cpus=0-3 " \
           "--var isolated_cpus=4-7 --var trading_nics=ens2f0" in ks
    assert "vm.swappiness = 10" in ks and "banned_cpus=4-7" in ks


@pytest.mark.skipif(not KSVALIDATOR.exists(), reason="ksvalidator (pykickstart) is not installed in this venv")
def test_every_kickstart_passes_ksvalidator_rhel9(tmp_path):
    g = generate(load_inventory(SAMPLE))
    kickstarts = [p for p in g.files if p.startswith("srv/ks/")]
    assert len(kickstarts) == 4
    for rel in kickstarts:
        path = tmp_path / Path(rel).name
        path.write_bytes(g.files[rel])
        res = subprocess.run([str(KSVALIDATOR), "-v", "RHEL9", str(path)], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, f"{rel}: {res.stdout}{res.stderr}"


def test_ksvalidator_catches_a_broken_kickstart(tmp_path):
    """The check can fail: a misspelt option is refused."""
    if not KSVALIDATOR.exists():
        pytest.skip("ksvalidator (pykickstart) is not installed in this venv")
    text = generate(load_inventory(SAMPLE)).text("srv/ks/ld4-trade01.ks").replace("--boot-drive=", "--bootdrive=")
    path = tmp_path / "broken.ks"
    path.write_text(text)
    res = subprocess.run([str(KSVALIDATOR), "-v", "RHEL9", str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0


@pytest.mark.skipif(shutil.which("dnsmasq") is None and not Path("/usr/sbin/dnsmasq").exists(),
                    reason="dnsmasq is not installed")
@pytest.mark.parametrize("conf", ["dnsmasq/dnsmasq.conf", "dnsmasq/dnsmasq-proxy.conf"])
def test_dnsmasq_accepts_the_generated_configuration(tmp_path, conf):
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    g = generate(load_inventory(SAMPLE), root=str(tmp_path))
    path = tmp_path / "test.conf"
    path.write_bytes(g.files[conf])
    res = subprocess.run([dnsmasq, "--test", "-C", str(path)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and "syntax check OK" in res.stderr + res.stdout, res.stderr


def test_refuses_a_directory_with_files_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    rc = main(["provision", "--inventory", str(SAMPLE), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "notes.txt" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main(["provision", "--inventory", str(SAMPLE), "--out", str(out), "--force", "-q"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / MANIFEST).is_file()


def test_rerun_into_its_own_output_is_allowed_and_an_edited_file_is_not(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["provision", "--inventory", str(SAMPLE), "--out", str(out), "-q"]) == 0
    before = tree(out)
    assert main(["provision", "--inventory", str(SAMPLE), "--out", str(out), "-q"]) == 0
    assert tree(out) == before
    edited = out / "dnsmasq" / "dnsmasq.conf"
    edited.write_text(edited.read_text() + "# local change\n")
    assert main(["provision", "--inventory", str(SAMPLE), "--out", str(out)]) == 2
    assert "dnsmasq/dnsmasq.conf was edited" in capsys.readouterr().err
    assert edited.read_text().endswith("# local change\n")


def test_a_bad_inventory_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SAMPLE.read_text().replace("b8:59:9f:1a:2b:02", "b8:59:9f:1a:2b:01"))
    out = tmp_path / "out"
    assert main(["provision", "--inventory", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "host ld4-trade02" in err and "macs[0]" in err and "ld4-trade01" in err
    assert not out.exists()


def test_validate_lists_the_hosts(capsys):
    assert main(["provision", "validate", "--inventory", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "5 hosts" in out and "ld4-risk01: risk, rhel9, uefi, Secure Boot via shim-grub" in out


def _mac_forms(mac: str) -> list[tuple[str, str]]:
    return [mac, mac.replace(":", "-"), "mac-" + mac.replace(":", "")]


def test_a_server_swap_is_one_line_and_every_file_follows_it(inventory, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["provision", "--inventory", str(inventory), "--out", str(out), "-q"]) == 0
    before_text = inventory.read_text()
    before = tree(out)
    leases = tmp_path / "dnsmasq.leases"
    leases.write_text("1764720000 b8:59:9f:1a:2b:01 10.20.0.11 ld4-trade01 01:b8:59:9f:1a:2b:01\n"
                      "1764720000 0c:c4:7a:3e:90:10 10.20.0.21 ld4-md01 *\n")
    old, new = "b8:59:9f:1a:2b:01", "b8:59:9f:1a:2b:99"
    capsys.readouterr()
    assert main(["provision", "replace-mac", "ld4-trade01", new.upper(), "--inventory", str(inventory),
                 "--out", str(out), "--leases", str(leases)]) == 0
    report = capsys.readouterr().out
    after_text = inventory.read_text()
    changed = [(a, b) for a, b in zip(before_text.splitlines(), after_text.splitlines(), strict=True) if a != b]
    assert changed == [("    macs: [b8:59:9f:1a:2b:01]", "    macs: [b8:59:9f:1a:2b:99]")]
    after = tree(out)

    def follow(text: bytes | str):
        t = text.decode() if isinstance(text, bytes) else text
        for (o, n) in zip(_mac_forms(old), _mac_forms(new), strict=True):
            t = t.replace(o, n)
        return t

    expected = {follow(p): follow(c) for p, c in before.items() if p != MANIFEST}
    got = {p: c.decode() for p, c in after.items() if p != MANIFEST}
    assert sorted(got) == sorted(expected)
    for rel in got:
        assert got[rel] == expected[rel], f"{rel} changed beyond the MAC"
    assert not any(old in c or old.replace(":", "-") in c for c in got.values())
    assert "stale files of b8:59:9f:1a:2b:01 removed: srv/ipxe/hosts/b8-59-9f-1a-2b-01.ipxe" in report
    assert "1 lease(s) of the old MAC b8:59:9f:1a:2b:01 remain" in report and "10.20.0.11" in report


def test_a_swap_to_a_mac_another_host_has_is_refused_and_changes_nothing(inventory, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["provision", "--inventory", str(inventory), "--out", str(out), "-q"]) == 0
    text, files = inventory.read_text(), tree(out)
    assert main(["provision", "replace-mac", "ld4-trade01", "b8:59:9f:1a:2b:02", "--inventory", str(inventory),
                 "--out", str(out)]) == 2
    assert "already host ld4-trade02's" in capsys.readouterr().err
    assert inventory.read_text() == text and tree(out) == files


def test_a_failed_regeneration_puts_the_inventory_back(inventory, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "foreign.txt").write_text("x")
    text = inventory.read_text()
    assert main(["provision", "replace-mac", "ld4-trade01", "b8:59:9f:1a:2b:99", "--inventory", str(inventory),
                 "--out", str(out)]) == 2
    assert inventory.read_text() == text


def test_mark_installed_boots_the_disk_and_reinstall_turns_it_back(inventory, tmp_path):
    out = tmp_path / "out"
    assert main(["provision", "--inventory", str(inventory), "--out", str(out), "-q"]) == 0
    bios = out / "srv/ipxe/hosts/0c-c4-7a-3e-90-10.ipxe"
    uefi = out / "srv/ipxe/hosts/b8-59-9f-1a-2b-01.ipxe"
    assert main(["provision", "mark", "ld4-md01", "installed", "--inventory", str(inventory), "--out", str(out)]) == 0
    assert main(["provision", "mark", "ld4-trade01", "installed", "--inventory", str(inventory),
                 "--out", str(out)]) == 0
    assert "sanboot --no-describe --drive 0x80" in bios.read_text() and "kernel " not in bios.read_text()
    assert "exit 1" in uefi.read_text() and "kernel " not in uefi.read_text()
    assert load_inventory(inventory).host("ld4-md01").install == "local"
    assert main(["provision", "mark", "ld4-md01", "reinstall", "--inventory", str(inventory), "--out", str(out)]) == 0
    assert "inst.ks=" in bios.read_text()


def test_serve_marks_a_host_installed_when_its_kickstart_calls_home(inventory, tmp_path):
    from hftinfra.provision.serve import make_server

    out = tmp_path / "out"
    write_tree(generate(load_inventory(inventory)), out)
    log = open(tmp_path / "http.log", "w")  # noqa: SIM115 (kept open while the server runs)
    server = make_server(inventory, out, bind="127.0.0.1", port=0, log=log)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert b"%post" in urllib.request.urlopen(f"{base}/ks/ld4-trade01.ks", timeout=10).read()
        with pytest.raises(urllib.error.HTTPError) as listing:
            urllib.request.urlopen(f"{base}/ks/", timeout=10)
        assert listing.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as unknown:
            urllib.request.urlopen(f"{base}/installed/nobody", timeout=10)
        assert unknown.value.code == 404
        # What the Kickstart's last %post line asks for:
        ks = (out / "srv/ks/ld4-trade01.ks").read_text()
        assert '"http://10.20.0.2:8080/installed/ld4-trade01"' in ks
        reply = urllib.request.urlopen(f"{base}/installed/ld4-trade01", timeout=10).read().decode()
        assert "ld4-trade01 marked installed" in reply
    finally:
        server.shutdown()
        server.server_close()
        log.close()
    assert load_inventory(inventory).host("ld4-trade01").install == "local"
    assert "kernel " not in (out / "srv/ipxe/hosts/b8-59-9f-1a-2b-01.ipxe").read_text()
    assert "marked installed" in (tmp_path / "http.log").read_text()
    assert read_manifest(out) is not None


# --- reading the generated dnsmasq configuration back (boot_choice, boot_paths, boot_files) ---

def test_boot_choice_per_architecture_and_stage():
    from hftinfra.provision.generate import boot_choice

    g = generate(load_inventory(SAMPLE))
    conf = g.text("dnsmasq/dnsmasq.conf")
    lines = conf.splitlines()
    cases = [("b8:59:9f:1a:2b:01", 7, False, "ipxe.efi"), ("B8-59-9F-1A-2B-01", 9, False, "ipxe.efi"),
             ("b8:59:9f:1a:2b:01", 7, True, "ipxe/hosts/b8-59-9f-1a-2b-01.ipxe"),
             ("0c:c4:7a:3e:90:11", 0, False, "undionly.kpxe"),
             ("0c:c4:7a:3e:90:11", 0, True, "ipxe/hosts/0c-c4-7a-3e-90-11.ipxe"),
             ("3c:fd:fe:b0:44:a1", 7, False, "grub/shimx64.efi"), ("00:15:5d:0a:7c:21", 7, False, "sb/shimx64.efi"),
             ("52:54:00:99:99:99", 7, True, "ipxe/unknown.ipxe"), ("52:54:00:99:99:99", 11, False, "arm64-efi/ipxe.efi"),
             ("52:54:00:99:99:99", 16, False, "http://10.20.0.2:8080/ipxe.efi")]
    for mac, arch, ipxe, want in cases:
        c = boot_choice(conf, mac, arch, ipxe=ipxe)
        assert c.boot_file == want, (mac, arch, ipxe, c)
        assert c.directive == "dhcp-boot" and lines[c.line - 1] == c.text and c.line == c.matched[-1]
    known = boot_choice(conf, "b8:59:9f:1a:2b:01", 7)
    assert {"known", "efi-x64", "mac-b8599f1a2b01", "eth1"} <= set(known.tags) and "ipxe" not in known.tags
    http = boot_choice(conf, "52:54:00:99:99:99", 16)
    assert http.options == ("dhcp-option-force=tag:efi-http,option:vendor-class,HTTPClient",)
    # Two lines match an iPXE request with architecture 16; the later one in the file wins.
    both = boot_choice(conf, "52:54:00:99:99:99", 16, ipxe=True)
    assert len(both.matched) == 2 and both.boot_file == "ipxe/unknown.ipxe"


def test_boot_choice_takes_the_last_tagged_line_and_untagged_only_as_fallback():
    from hftinfra.provision.generate import boot_choice

    conf = ("dhcp-match=set:bios,option:client-arch,0\ndhcp-boot=untagged.kpxe\ndhcp-boot=tag:bios,first.kpxe\n"
            "dhcp-boot=tag:bios,second.kpxe\ndhcp-boot=tag:efi,efi.efi\n")
    assert boot_choice(conf, "52:54:00:aa:00:01", 0).boot_file == "second.kpxe"
    assert boot_choice(conf, "52:54:00:aa:00:01", 0).matched == (3, 4)
    assert boot_choice(conf, "52:54:00:aa:00:02", 7).boot_file == "untagged.kpxe"
    none = boot_choice("dhcp-boot=tag:efi,x.efi\n", "52:54:00:aa:00:02", 7)
    assert none.boot_file is None and none.directive is None and "no dhcp-boot" in none.note


def test_boot_choice_in_proxy_mode():
    from hftinfra.provision.generate import boot_choice

    conf = generate(load_inventory(SAMPLE)).text("dnsmasq/dnsmasq-proxy.conf")
    bios = boot_choice(conf, "0c:c4:7a:3e:90:10", 0)
    assert bios.directive == "pxe-service" and bios.boot_file == "undionly.kpxe"
    assert boot_choice(conf, "3c:fd:fe:b0:44:a1", 7).boot_file == "grub/shimx64.efi"
    assert boot_choice(conf, "b8:59:9f:1a:2b:01", 7, ipxe=True).boot_file == "ipxe/hosts/b8-59-9f-1a-2b-01.ipxe"
    http = boot_choice(conf, "52:54:00:99:99:99", 16)
    assert http.boot_file is None and "PXEClient" in http.note and http.options == ()
    # pxe-service's x86-64_EFI is architecture 7 only.
    assert boot_choice(conf, "52:54:00:99:99:99", 9).boot_file is None


def test_boot_paths_and_boot_files_for_the_sample():
    from hftinfra.provision.generate import boot_files, boot_paths

    inv = load_inventory(SAMPLE)
    g = generate(inv)
    paths = boot_paths(inv, g)
    assert [p.mac for p in paths] == [m for h in inv.hosts for m in h.macs]
    first = {p.host: p.first_file for p in paths}
    assert first == {"ld4-trade01": "ipxe.efi", "ld4-trade02": "ipxe.efi", "ld4-md01": "undionly.kpxe",
                     "ld4-risk01": "grub/shimx64.efi", "ld4-desk01": "sb/shimx64.efi"}
    for p in paths:
        if p.chain == "shim-grub":
            assert p.script is None
        else:
            assert p.script == f"ipxe/hosts/{p.mac.replace(':', '-')}.ipxe" and f"srv/{p.script}" in g.files
        assert p.steps[0].startswith(f"DHCP: firmware PXE, option 93 = {p.arch}")
    files = {f.path: f.status for f in boot_files(g)}
    assert files["undionly.kpxe"] == "supply" and files["ipxe/unknown.ipxe"] == "generated"
    assert files["http://10.20.0.2:8080/ipxe.efi"] == "url"
    # No host in the sample is IA32 or arm64 UEFI: those loaders are nobody's to supply.
    assert {p for p, s in files.items() if s == "absent"} == {"i386-efi/ipxe.efi", "arm64-efi/ipxe.efi"}


NETNS_OK = os.geteuid() == 0 and shutil.which("ip") and shutil.which("busybox") and Path("/usr/sbin/dnsmasq").exists()


@pytest.mark.skipif(not NETNS_OK, reason="needs root, ip, busybox and /usr/sbin/dnsmasq")
def test_boot_choice_agrees_with_a_running_dnsmasq(tmp_path):
    """The generated dnsmasq.conf served for real over a veth pair; busybox udhcpc plays the
    PXE ROM (option 93) and iPXE (user class iPXE); the boot file dnsmasq logs is the one
    boot_choice names."""
    from hftinfra.provision.generate import boot_choice

    g = generate(load_inventory(SAMPLE), root=str(tmp_path / "srv"))
    (tmp_path / "srv").mkdir()
    conf = g.text("dnsmasq/dnsmasq.conf").replace("interface=eth1", "interface=hfv0")
    log = tmp_path / "dnsmasq.log"
    (tmp_path / "t.conf").write_text(conf + f"dhcp-leasefile={tmp_path}/leases\nlog-facility={log}\n")
    a, b = f"hfa{os.getpid()}", f"hfb{os.getpid()}"
    # (MAC, option 93, user class iPXE) -> the boot file a reader of the inventory expects.
    expected = {("b8:59:9f:1a:2b:01", 7, False): "ipxe.efi", ("b8:59:9f:1a:2b:02", 9, False): "ipxe.efi",
                ("b8:59:9f:1a:2b:02", 6, False): "i386-efi/ipxe.efi", ("b8:59:9f:1a:2b:02", 11, False): "arm64-efi/ipxe.efi",
                ("b8:59:9f:1a:2b:02", 16, False): "http://10.20.0.2:8080/ipxe.efi",
                ("0c:c4:7a:3e:90:10", 0, False): "undionly.kpxe",
                ("0c:c4:7a:3e:90:10", 0, True): "ipxe/hosts/0c-c4-7a-3e-90-10.ipxe",
                ("3c:fd:fe:b0:44:a1", 7, False): "grub/shimx64.efi", ("00:15:5d:0a:7c:21", 7, False): "sb/shimx64.efi",
                ("52:54:00:99:99:99", 7, True): "ipxe/unknown.ipxe"}
    cases = list(expected)
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, timeout=30)  # noqa: E731
    try:
        run("ip", "netns", "add", a)
        run("ip", "netns", "add", b)
        run("ip", "link", "add", "hfv0", "netns", a, "type", "veth", "peer", "name", "hfv1", "netns", b)
        run("ip", "-n", a, "addr", "add", "10.20.0.2/24", "dev", "hfv0")
        run("ip", "-n", a, "link", "set", "hfv0", "up")
        run("ip", "netns", "exec", a, "/usr/sbin/dnsmasq", "-C", str(tmp_path / "t.conf"),
            f"--pid-file={tmp_path}/pid", "--user=root")  # the log lies in a folder only root can enter
        got = []
        for mac, arch, ipxe in cases:
            run("ip", "-n", b, "link", "set", "hfv1", "down")
            run("ip", "-n", b, "link", "set", "hfv1", "address", mac)
            run("ip", "-n", b, "link", "set", "hfv1", "up")
            extra = ["-x", "0x4d:69505845"] if ipxe else []  # user class "iPXE"
            subprocess.run(["ip", "netns", "exec", b, "busybox", "udhcpc", "-f", "-q", "-n", "-t", "3", "-T", "1",
                            "-i", "hfv1", "-V", f"PXEClient:Arch:{arch:05d}", "-x", f"0x5d:{arch:04x}", *extra,
                            "-s", "/bin/true"], capture_output=True, timeout=30)
            got.append(log.read_text())
        texts = got
    finally:
        pid = tmp_path / "pid"
        if pid.exists():
            subprocess.run(["kill", pid.read_text().strip()], capture_output=True)
        subprocess.run(["ip", "netns", "del", a], capture_output=True)
        subprocess.run(["ip", "netns", "del", b], capture_output=True)
    import re

    previous = ""
    for (mac, arch, ipxe), text in zip(cases, texts, strict=True):
        new = text[len(previous):]
        previous = text
        sent = re.findall(r"(?:bootfile name: |option: 67 bootfile-name  )(\S+)", new)
        assert sent, f"{mac} arch {arch} ipxe {ipxe}: dnsmasq sent no boot file:\n{new[-2000:]}"
        assert set(sent) == {expected[mac, arch, ipxe]}, (mac, arch, ipxe, sent)
        assert boot_choice(conf, mac, arch, ipxe=ipxe).boot_file == expected[mac, arch, ipxe]
        if arch == 16:  # UEFI HTTP boot ignores a reply without vendor class HTTPClient
            # dnsmasq logs a forced option's bytes in hex: 48:54:... is "HTTPClient".
            hex_name = ":".join(f"{b:02x}" for b in b"HTTPClient")
            assert re.search(rf"option: 60 vendor-class\s+(?:HTTPClient|{hex_name})$", new, re.M), new[-2000:]


def test_text_diff_and_swap_checklist(inventory):
    from hftinfra.provision.edit import replace_mac, swap_checklist, text_diff

    before = inventory.read_text()
    edit = replace_mac(inventory, "ld4-md01", "0c:c4:7a:3e:90:99", old_mac="0c:c4:7a:3e:90:11")
    diff = text_diff(before, inventory.read_text(), "sample-inventory.yaml")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == ["-    macs: [0c:c4:7a:3e:90:10, 0c:c4:7a:3e:90:11]",
                       "+    macs: [0c:c4:7a:3e:90:10, 0c:c4:7a:3e:90:99]"]
    assert text_diff(before, before) == ""
    items = swap_checklist(edit.after.host("ld4-md01"), "0c:c4:7a:3e:90:99")
    assert any("legacy (BIOS/CSM)" in i for i in items) and any("0c:c4:7a:3e:90:99" in i for i in items)
    assert any("other MACs (0c:c4:7a:3e:90:10)" in i for i in items)
    risk = swap_checklist(edit.after.host("ld4-risk01"))
    assert any("Secure Boot: on" in i and "shim -> GRUB" in i for i in risk)
    assert any("3c:fd:fe:b0:44:a1" in i for i in risk)
