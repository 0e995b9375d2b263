"""Where settings are persisted: sysctl.d precedence, the boot loader's next kernel
arguments, tuned's active profile; and what the audit says of each finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.audit import run_audit
from hftinfra.persist import (
    normalise_sysctl_key,
    parse_bls_entry,
    parse_default_grub,
    parse_grubenv,
    parse_sysctl_conf,
    persistence_of,
    read_boot_config,
    read_persisted,
    read_sysctl_config,
    read_tuned_config,
)
from hftinfra.settings import Setting

HOSTS = Path(__file__).resolve().parent / "hosts"


@pytest.fixture
def tree(tmp_path):
    """``tree({...})`` -> a fresh snapshot Host over those files (a new folder per call)."""
    from conftest import write_tree

    from hftinfra.host import open_host

    made = []

    def make(files):
        root = tmp_path / f"snap{len(made)}"
        made.append(root)
        write_tree(root, {"/proc/version": "Linux version 5.14.0", **files})
        return open_host(root)

    return make


# ---- sysctl.d ---------------------------------------------------------------------------------


def test_sysctl_line_syntax():
    text = "# comment\n; also\n\nvm.swappiness = 10\n-net.ipv4.conf.all.rp_filter=2\nno equals sign\n" \
           "net/ipv4/conf/eth0.100/rp_filter = 1\n"
    got = parse_sysctl_conf(text, "/etc/sysctl.d/x.conf")
    assert [(a.key, a.value, a.ignore_errors) for a in got] == [
        ("vm.swappiness", "10", False), ("net.ipv4.conf.all.rp_filter", "2", True),
        ("net.ipv4.conf.eth0/100.rp_filter", "1", False)]
    assert got[0].source == "/etc/sysctl.d/x.conf:4"


def test_slash_first_keys_swap_separators():
    # sysctl.d(5): with '/' first, a '.' inside a name (a VLAN interface) stays part of it.
    assert normalise_sysctl_key("net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0/100.rp_filter"
    assert normalise_sysctl_key("vm.swappiness") == "vm.swappiness"


def test_precedence_across_directories(tree):
    host = tree({
        "/usr/lib/sysctl.d/10-default.conf": "vm.swappiness = 30\nkernel.timer_migration = 1",
        "/etc/sysctl.d/10-default.conf": "vm.swappiness = 20",  # same name: masks /usr/lib's
        "/run/sysctl.d/50-run.conf": "vm.swappiness = 40",
        "/usr/lib/sysctl.d/60-vendor.conf": "kernel.timer_migration = 0",
        "@/etc/sysctl.d/60-vendor.conf": "/dev/null",  # masked outright
        "/usr/lib/sysctl.d/90-late.conf": "vm.dirty_ratio = 5",
        "/etc/sysctl.conf": "vm.dirty_ratio = 7",  # procps reads it last
    })
    cfg = read_sysctl_config(host)
    assert cfg.files == ("/etc/sysctl.d/10-default.conf", "/run/sysctl.d/50-run.conf",
                         "/usr/lib/sysctl.d/90-late.conf", "/etc/sysctl.conf")
    assert set(cfg.masked) == {"/usr/lib/sysctl.d/10-default.conf", "/usr/lib/sysctl.d/60-vendor.conf",
                               "/etc/sysctl.d/60-vendor.conf"}
    assert cfg.winner("vm.swappiness").value == "40"  # files in name order: 50-run after 10-default
    # Both files that set it are masked: /usr/lib's 10-default by /etc's, 60-vendor by /dev/null.
    assert cfg.winner("kernel.timer_migration") is None
    assert cfg.winner("vm.dirty_ratio").source == "/etc/sysctl.conf:1"


def test_sysctl_conf_through_a_link_counts_once_in_its_place(tree):
    host = tree({"/etc/sysctl.d/50-a.conf": "vm.swappiness = 10", "@/etc/sysctl.d/99-sysctl.conf": "../sysctl.conf",
                 "/etc/sysctl.conf": "vm.swappiness = 60", "/etc/sysctl.d/98-b.conf": "vm.swappiness = 5"})
    cfg = read_sysctl_config(host)
    assert cfg.files[-1] == "/etc/sysctl.d/99-sysctl.conf" and "/etc/sysctl.conf" not in cfg.files
    assert cfg.winner("vm.swappiness").value == "60"


def test_glob_keys_match(tree):
    host = tree({"/etc/sysctl.d/50-rp.conf": "net.ipv4.conf.*.rp_filter = 2"})
    assert read_sysctl_config(host).winner("net.ipv4.conf.eth0.rp_filter").value == "2"


# ---- boot configuration -----------------------------------------------------------------------


BLS = "title Rocky Linux ({v})\nversion {v}\nlinux /vmlinuz-{v}\noptions {o}\ngrub_class rocky\n"


def test_bls_default_entry(tree):
    files = {f"/boot/loader/entries/abc-{v}.conf": BLS.format(v=v, o=f"root=/dev/x ro nohz_full={n}")
             for v, n in (("5.14.0-362.el9.x86_64", "2-7"), ("5.14.0-70.el9.x86_64", "4-7"))}
    cfg = read_boot_config(tree(files))
    assert cfg.default.version == "5.14.0-362.el9.x86_64" and cfg.default_rule == "the newest version"
    files["/boot/grub2/grubenv"] = "# GRUB Environment Block\nsaved_entry=abc-5.14.0-70.el9.x86_64\n" + "#" * 900
    cfg = read_boot_config(tree(files))
    assert cfg.default.version == "5.14.0-70.el9.x86_64" and cfg.default_rule == "grubenv saved_entry"
    assert cfg.next_boot()[0] == "root=/dev/x ro nohz_full=4-7"


def test_kernelopts_from_grubenv(tree):
    files = {"/boot/loader/entries/a-4.18.conf": BLS.format(v="4.18.0", o="$kernelopts nohz_full=2-3"),
             "/boot/grub2/grubenv": "kernelopts=root=/dev/y ro quiet\n"}
    assert read_boot_config(tree(files)).default.options == "root=/dev/y ro quiet nohz_full=2-3"


def test_default_grub_shell_quoting():
    got = parse_default_grub('GRUB_CMDLINE_LINUX="rhgb quiet isolcpus=2-7"\nGRUB_TIMEOUT=5\n'
                             "GRUB_CMDLINE_LINUX_DEFAULT='nohz_full=2-7' # note\nbroken=\"x\n")
    assert got["GRUB_CMDLINE_LINUX"] == "rhgb quiet isolcpus=2-7"
    assert got["GRUB_CMDLINE_LINUX_DEFAULT"] == "nohz_full=2-7"
    assert "broken" not in got


def test_grubenv_and_bls_samples():
    assert parse_grubenv("# GRUB Environment Block\nsaved_entry=x-1\n#####")["saved_entry"] == "x-1"
    assert parse_bls_entry("options a=1\noptions b\n")["options"] == "a=1 b"


# ---- tuned ------------------------------------------------------------------------------------


def test_tuned_include_chain_and_precedence(tree):
    host = tree({
        "/etc/tuned/active_profile": "mine",
        "/etc/tuned/tuned-main.conf": "reapply_sysctl = 0  # tuned's default is 1",
        "/etc/tuned/mine/tuned.conf": "[main]\ninclude=base, extra\n[sysctl]\nvm.swappiness=5\n",
        "/usr/lib/tuned/base/tuned.conf": "[main]\n[sysctl]\nvm.swappiness=30\nvm.dirty_ratio=10\n[vm]\n"
                                          "transparent_hugepages=never\n",
        "/usr/lib/tuned/extra/tuned.conf": "[main]\n[sysctl]\nvm.dirty_ratio=12 # a comment\n",
        "/etc/tuned/extra/tuned.conf": "[main]\n[sysctl]\nvm.dirty_ratio=15\n",  # /etc wins over /usr/lib
    })
    cfg = read_tuned_config(host)
    assert cfg.active == ("mine",) and cfg.reapply_sysctl is False
    assert cfg.chain == ("base", "extra", "mine")
    assert cfg.option("sysctl", "vm.swappiness") == ("5", "mine")
    assert cfg.option("sysctl", "vm.dirty_ratio") == ("15", "extra")
    assert cfg.option("vm", "transparent_hugepages") == ("never", "base")


def test_tuned_missing_profile_is_named(tree):
    cfg = read_tuned_config(tree({"/etc/tuned/active_profile": "gone"}))
    assert cfg.problems and "profile gone" in cfg.problems[0]


# ---- one setting's state ------------------------------------------------------------------------


def _cfg(tree, files):
    return read_persisted(tree(files))


def test_states_of_a_sysctl(tree):
    s = Setting("sysctl", "vm.swappiness", "10", "memory.swappiness")
    base = {"/proc/cmdline": "ro"}
    p = persistence_of(_cfg(tree, {**base, "/etc/sysctl.d/90.conf": "vm.swappiness = 10"}), s, passed=True,
                       runtime="10")
    assert p.state == "persisted" and "/etc/sysctl.d/90.conf:1" in p.message
    p = persistence_of(_cfg(tree, base), s, passed=True, runtime="10")
    assert p.state == "runtime-only" and p.message.startswith("in effect but lost at reboot")
    p = persistence_of(_cfg(tree, {**base, "/etc/sysctl.d/90.conf": "vm.swappiness = 10"}), s, passed=False,
                       runtime="60")
    assert p.state == "pending-reboot"
    p = persistence_of(_cfg(tree, {**base, "/etc/sysctl.d/50.conf": "vm.swappiness = 10",
                                   "/etc/sysctl.d/99.conf": "vm.swappiness = 60"}), s, passed=False, runtime="60")
    assert p.state == "overridden" and "99.conf" in p.message
    tuned = {"/etc/tuned/active_profile": "t", "/etc/tuned/t/tuned.conf": "[main]\n[sysctl]\nvm.swappiness=60\n"}
    p = persistence_of(_cfg(tree, {**base, **tuned, "/etc/tuned/tuned-main.conf": "reapply_sysctl = 0",
                                   "/etc/sysctl.d/50.conf": "vm.swappiness = 10"}), s, passed=True, runtime="10")
    assert p.state == "overridden" and "tuned's profile t" in p.message
    # reapply_sysctl = 1 (tuned's default): the system's file wins over tuned's [sysctl].
    p = persistence_of(_cfg(tree, {**base, **tuned, "/etc/sysctl.d/50.conf": "vm.swappiness = 10"}), s, passed=True,
                       runtime="10")
    assert p.state == "persisted"


def test_states_of_a_kernel_argument(tree):
    s = Setting("cmdline", "nohz_full", "2-7", "cpu.nohz_full")
    entry = {"/boot/loader/entries/a-5.14.conf": BLS.format(v="5.14", o="ro nohz_full=2-7")}
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro nohz_full=2-7", **entry}), s, passed=True)
    assert p.state == "persisted"
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro", **entry}), s, passed=False)
    assert p.state == "pending-reboot" and "reboot pending" in p.message
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro nohz_full=2-7",
                                   "/boot/loader/entries/a-5.14.conf": BLS.format(v="5.14", o="ro")}), s, passed=True)
    assert p.state == "runtime-only"
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro nohz_full=2-7"}), s, passed=True)
    assert p.state == "unknown"
    # A CPU list is a set: 2-7 and 2,3,4,5,6,7 are one value.
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro nohz_full=2,3,4,5,6,7", **entry}), s, passed=True)
    assert p.state == "persisted"


def test_tuned_bootloader_persists_a_kernel_argument(tree):
    s = Setting("cmdline", "skew_tick", "1", "kernel.skew_tick")
    files = {"/proc/cmdline": "ro", "/etc/tuned/active_profile": "t",
             "/etc/tuned/t/tuned.conf": "[main]\n[bootloader]\ncmdline_t=+skew_tick=1 tsc=reliable\n",
             "/boot/loader/entries/a-5.14.conf": BLS.format(v="5.14", o="ro")}
    p = persistence_of(_cfg(tree, files), s, passed=False)
    assert p.state == "pending-reboot" and "tuned profile t [bootloader]" in p.message


# ---- the audit ------------------------------------------------------------------------------------


def test_fixture_findings_say_where_they_stand():
    tuned = {f.id: f for f in run_audit(str(HOSTS / "tuned-2s"), "hft-isolated").findings}
    assert tuned["cpu.nohz_full"].persistence.state == "persisted"
    assert "grubenv saved_entry" in tuned["cpu.nohz_full"].persistence.message
    assert tuned["memory.swappiness"].persistence.state == "persisted"
    assert tuned["cpu.governor"].persistence.message == "tuned profile hft-latency [cpu] governor=performance"
    assert tuned["net.busy_poll"].persistence.state == "persisted"  # network-latency's [sysctl], included
    untuned = {f.id: f for f in run_audit(str(HOSTS / "untuned-2s"), "hft-isolated",
                                          variables=["isolated_cpus=4-15,20-31"]).findings}
    assert untuned["cpu.nohz_full"].persistence.state == "pending-reboot"
    assert untuned["memory.swappiness"].persistence.state == "overridden"
    assert "99-sysctl.conf" in untuned["memory.swappiness"].persistence.message
    assert untuned["memory.dirty"].persistence.state == "overridden"
    assert "reapply_sysctl off" in untuned["memory.dirty"].persistence.message
    assert untuned["memory.thp"].persistence.state == "overridden"
    # Measurements and hardware have no setting, so no persistence.
    assert untuned["irq.isolated_noise"].persistence is None
    assert untuned["net.pcie_link"].persistence is None


def test_persistence_in_json_and_text():
    report = run_audit(str(HOSTS / "untuned-2s"), "hft-isolated", variables=["isolated_cpus=4-15,20-31"])
    doc = json.loads(json.dumps(report.to_json()))
    f = next(x for x in doc["findings"] if x["id"] == "cpu.nohz_full")
    assert f["persistence"]["state"] == "pending-reboot" and f["persistence"]["where"]
    assert "reboot pending" in report.to_text(width=400)


def test_live_host_persistence_is_honest():
    report = run_audit(None, "network-latency")
    for f in report.findings:
        if f.persistence is not None:
            assert f.status in ("pass", "fail", "warn")
            assert f.persistence.state in ("persisted", "runtime-only", "pending-reboot", "overridden",
                                           "not-persisted", "unknown")
            assert f.persistence.message


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parsers_never_crash(text):
    parse_sysctl_conf(text, "f")
    parse_bls_entry(text)
    parse_grubenv(text)
    parse_default_grub(text)


@pytest.mark.parametrize("name", ["tuned-2s", "untuned-2s"])
def test_snapshot_round_trip_keeps_persistence(name, tmp_path):
    from hftinfra import snapshot
    from hftinfra.host import open_host

    src = open_host(str(HOSTS / name))
    result = snapshot.capture(src, counter_window_s=0)
    out = snapshot.write(result.captured, tmp_path / "copy")
    a = {f.id: f.persistence for f in run_audit(src, "hft-isolated").findings}
    b = {f.id: f.persistence for f in run_audit(str(out), "hft-isolated").findings}
    assert a == b
