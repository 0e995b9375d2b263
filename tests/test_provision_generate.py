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
