"""Which NICs are trading NICs, and what a wrong name does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hftinfra.audit import run_audit
from hftinfra.host import open_host

HOSTS = Path(__file__).parent / "hosts"


def test_trading_nics_default_to_physical_interfaces_with_link_up():
    r = run_audit(str(HOSTS / "tuned-2s"), "hft-isolated")
    v = r.variables["trading_nics"]
    assert v.value == frozenset({"ens1f0", "eno1"}) and v.origin == "host: physical interfaces with link up"


def test_named_trading_nics_are_the_only_ones_judged():
    r = run_audit(str(HOSTS / "tuned-2s"), "hft-isolated", variables=["trading_nics=ens1f0"])
    assert r.variables["trading_nics"].origin == "--var"
    for cid in ("net.coalescing", "net.gro_lro", "net.pcie_link", "irq.nic_numa_local"):
        f = r.finding(cid)
        assert "ens1f0" in f.observed and "eno1" not in f.observed, (cid, f.observed)


def test_an_interface_the_host_lacks_is_one_line_and_exit_2():
    run = subprocess.run([sys.executable, "-m", "hftinfra", "audit", "--host", str(HOSTS / "tuned-2s"),
                          "--var", "trading_nics=ens1f0,ens9"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "no interface ens9 on this host" in lines[0] and "Traceback" not in run.stderr
    assert run.stdout == ""


def test_untuned_host_fails_the_chain_it_should():
    r = run_audit(str(HOSTS / "untuned-2s"), "hft-isolated", variables=["isolated_cpus=9-15,25-31"])
    f = r.finding("irq.nic_numa_local")
    assert f.status == "fail" and "(isolated)" in f.message
    assert r.finding("net.coalescing").status == "fail"
    assert "ethtool -C ens1f0 adaptive-rx off adaptive-tx off rx-usecs" in r.finding("net.coalescing").fix


@pytest.mark.live
def test_live_trading_nics_match_sysfs():
    base = Path("/sys/class/net")
    expected = set()
    for d in base.iterdir() if base.is_dir() else ():
        if d.name == "lo" or not (d / "device").exists():
            continue
        try:
            if (d / "carrier").read_text().strip() == "1":
                expected.add(d.name)
        except OSError:
            pass  # down interfaces answer EINVAL for carrier
    r = run_audit(open_host(None), "hft-isolated", only=["net"])
    v = r.variables["trading_nics"]
    assert (v.value or frozenset()) == expected, v.origin
    for f in r.findings:
        assert f.status in ("pass", "fail", "warn", "skip", "unknown")
        if not expected and f.id in ("net.coalescing", "net.gro_lro", "net.channels", "net.pcie_link"):
            assert f.status == "skip" and "--var trading_nics" in f.message
