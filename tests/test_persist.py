"""Where settings are persisted: sysctl.d precedence, the boot loader's next kernel
arguments, tuned's active profile; and what the audit says of each finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.audit import run_audit
from hftinfra.host import Reason, Unread
from hftinfra.persist import (
    STATE_MEANING,
    STATES,
    BootEntry,
    Persistence,
    default_entry,
    expand_grub_vars,
    merge_tuned_profiles,
    normalise_sysctl_key,
    order_sysctl_files,
    parse_bls_entry,
    parse_default_grub,
    parse_grubenv,
    parse_sysctl_conf,
    persistence_of,
    read_boot_config,
    read_persisted,
    read_sysctl_config,
    read_tuned_config,
    sort_boot_entries,
    summarise,
    sysctl_at_boot,
)
from hftinfra.report import status_label, to_html, to_markdown
from hftinfra.settings import Setting

HOSTS = Path(__file__).resolve().parent / "hosts"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


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
        "/usr/local/lib/sysctl.d/20-local.conf": "vm.stat_interval = 5",
        "/lib/sysctl.d/20-local.conf": "vm.stat_interval = 9",  # masked by /usr/local/lib's
        "/lib/sysctl.d/30-lib.conf": "vm.stat_interval = 10",
        "/etc/sysctl.d/README": "not a .conf file",
        "/etc/sysctl.conf": "vm.dirty_ratio = 7",  # procps reads it last; systemd-sysctl never
    })
    cfg = read_sysctl_config(host)
    assert cfg.tool == "systemd-sysctl"
    assert cfg.files == ("/etc/sysctl.d/10-default.conf", "/usr/local/lib/sysctl.d/20-local.conf",
                         "/lib/sysctl.d/30-lib.conf", "/run/sysctl.d/50-run.conf", "/usr/lib/sysctl.d/90-late.conf")
    assert set(cfg.masked) == {"/usr/lib/sysctl.d/10-default.conf", "/usr/lib/sysctl.d/60-vendor.conf",
                               "/etc/sysctl.d/60-vendor.conf", "/lib/sysctl.d/20-local.conf"}
    assert cfg.winner("vm.swappiness").value == "40"  # files in name order: 50-run after 10-default
    assert [a.value for a in cfg.shadowed("vm.swappiness")] == ["20"]
    # Both files that set it are masked: /usr/lib's 10-default by /etc's, 60-vendor by /dev/null.
    assert cfg.winner("kernel.timer_migration") is None
    assert cfg.winner("vm.stat_interval").source == "/lib/sysctl.d/30-lib.conf:1"
    assert cfg.winner("vm.dirty_ratio").source == "/usr/lib/sysctl.d/90-late.conf:1"
    procps = read_sysctl_config(host, tool="procps")
    assert procps.files[-1] == "/etc/sysctl.conf"
    assert procps.winner("vm.dirty_ratio").source == "/etc/sysctl.conf:1"
    assert cfg.effective()["vm.swappiness"].value == "40"
    with pytest.raises(ValueError):
        read_sysctl_config(host, tool="busybox")


def test_order_sysctl_files_is_pure():
    files, masked = order_sysctl_files(
        {"/etc/sysctl.d": ["99-z.conf", "10-a.conf"], "/run/sysctl.d": ["10-a.conf", "50-m.conf", "x.txt"]},
        {"/run/sysctl.d/50-m.conf": "/dev/null"})
    assert files == ["/etc/sysctl.d/10-a.conf", "/etc/sysctl.d/99-z.conf"]
    assert masked == ["/run/sysctl.d/10-a.conf", "/run/sysctl.d/50-m.conf"]


def test_unreadable_sysctl_folder_is_unknown_not_empty(tree):
    host = tree({"/proc/cmdline": "ro", "/hftinfra/unread.json": '{"/etc/sysctl.d": {"reason": "denied"}}'})
    cfg = read_sysctl_config(host)
    assert cfg.unread and cfg.unread[0].reason is Reason.DENIED
    p = persistence_of(read_persisted(host), Setting("sysctl", "vm.swappiness", "10", "memory.swappiness"),
                       passed=True, runtime="10")
    assert p.state == "unknown" and "denied" in p.message


def test_sysctl_conf_through_a_link_counts_once_in_its_place(tree):
    host = tree({"/etc/sysctl.d/50-a.conf": "vm.swappiness = 10", "@/etc/sysctl.d/99-sysctl.conf": "../sysctl.conf",
                 "/etc/sysctl.conf": "vm.swappiness = 60", "/etc/sysctl.d/98-b.conf": "vm.swappiness = 5"})
    cfg = read_sysctl_config(host)
    assert cfg.files[-1] == "/etc/sysctl.d/99-sysctl.conf" and "/etc/sysctl.conf" not in cfg.files
    assert cfg.winner("vm.swappiness").value == "60"


def test_glob_keys_match(tree):
    host = tree({"/etc/sysctl.d/50-rp.conf": "net.ipv4.conf.*.rp_filter = 2"})
    assert read_sysctl_config(host).winner("net.ipv4.conf.eth0.rp_filter").value == "2"


def test_explicit_key_beats_a_later_glob_and_exclusions_hold(tree):
    # sysctl.d(5): keys with an explicit assignment are left out of glob matches, whatever
    # the order; '-key' alone keeps the patterns off a key.
    host = tree({"/etc/sysctl.d/10-lo.conf": "net.ipv4.conf.lo.rp_filter = 0\n-net.ipv4.conf.all.rp_filter",
                 "/etc/sysctl.d/50-rp.conf": "net.ipv4.conf.*.rp_filter = 2"})
    cfg = read_sysctl_config(host)
    assert cfg.winner("net.ipv4.conf.lo.rp_filter").value == "0"
    assert cfg.winner("net.ipv4.conf.all.rp_filter") is None
    assert cfg.winner("net/ipv4/conf/eth0/rp_filter").value == "2"  # '/' and '.' are one separator
    excluded = [a for a in cfg.assignments if a.excluded]
    assert [(a.key, a.source) for a in excluded] == [("net.ipv4.conf.all.rp_filter", "/etc/sysctl.d/10-lo.conf:2")]


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


def test_grub_variables_expand_like_grub():
    # RHEL 8: 'options $kernelopts $tuned_params'; tuned's bootloader plugin writes tuned_params.
    env = {"kernelopts": "root=/dev/mapper/rhel-root ro", "tuned_params": "skew_tick=1 nohz=on"}
    assert expand_grub_vars("$kernelopts ${tuned_params} $unset quiet", env) == \
        "root=/dev/mapper/rhel-root ro skew_tick=1 nohz=on quiet"


def _entry(name, version, sort_key="", title=""):
    return BootEntry(f"/boot/loader/entries/{name}.conf", title or name, version, "ro", sort_key)


def test_bls_sort_rules():
    old, new, rescue = (_entry("m-5.14.0-70.el9", "5.14.0-70.el9"), _entry("m-5.14.0-362.el9", "5.14.0-362.el9"),
                        _entry("m-0-rescue", "0-rescue"))
    # Versions compare by numeric runs: 362 is newer than 70 (a string sort says otherwise).
    assert [e.id for e in sort_boot_entries([old, rescue, new])] == ["m-5.14.0-362.el9", "m-5.14.0-70.el9",
                                                                     "m-0-rescue"]
    keyed = _entry("z-1", "1", sort_key="aaa")
    assert sort_boot_entries([new, keyed])[0] is keyed  # an entry with a sort-key comes first
    assert default_entry([old, new], {})[0] is new
    assert default_entry([old, new], {"saved_entry": "m-5.14.0-70.el9"}) == (old, "grubenv saved_entry")
    by_title = _entry("m-a", "1", title="Rocky Linux (a)")
    assert default_entry([by_title, new], {"saved_entry": "Rocky Linux (a)"})[0] is by_title
    assert default_entry([old, new], {"saved_entry": "1"})[0] is old  # a menu index
    e, why = default_entry([old, new], {"saved_entry": "gone"})
    assert e is new and "names no entry" in why
    assert default_entry([], {"saved_entry": "x"}) == (None, "")


def test_no_bls_falls_back_to_default_grub_then_kernel_install(tree):
    cfg = read_boot_config(tree({"/etc/default/grub": 'GRUB_CMDLINE_LINUX="quiet"\nGRUB_CMDLINE_LINUX_DEFAULT="splash"',
                                 "/etc/kernel/cmdline": "root=/dev/z ro"}))
    assert cfg.next_boot() == ("quiet splash", "/etc/default/grub (GRUB_CMDLINE_LINUX, once grub-mkconfig runs)")
    assert cfg.kernel_cmdline == "root=/dev/z ro"
    cfg = read_boot_config(tree({"/etc/kernel/cmdline": "root=/dev/z ro nohz_full=1"}))
    assert cfg.next_boot() == ("root=/dev/z ro nohz_full=1", "/etc/kernel/cmdline")
    assert read_boot_config(tree({"/proc/cmdline": "ro"})).next_boot()[0] is None


def test_default_grub_shell_quoting():
    got = parse_default_grub('GRUB_CMDLINE_LINUX="rhgb quiet isolcpus=2-7"\nGRUB_TIMEOUT=5\n'
                             "GRUB_CMDLINE_LINUX_DEFAULT='nohz_full=2-7' # note\nbroken=\"x\n")
    assert got["GRUB_CMDLINE_LINUX"] == "rhgb quiet isolcpus=2-7"
    assert got["GRUB_CMDLINE_LINUX_DEFAULT"] == "nohz_full=2-7"
    assert "broken" not in got


def test_default_grub_real_samples():
    # Debian 12's file as installed, and RHEL 9's after anaconda.
    debian = ('# If you change this file, run \'update-grub\' afterwards to update\n'
              'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n'
              'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n#GRUB_TERMINAL=console\n')
    got = parse_default_grub(debian)
    assert (got["GRUB_CMDLINE_LINUX"], got["GRUB_CMDLINE_LINUX_DEFAULT"]) == ("", "quiet")
    rhel = ('GRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR="$(sed \'s, release .*$,,g\' /etc/system-release)"\n'
            'GRUB_DEFAULT=saved\nGRUB_CMDLINE_LINUX="crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M '
            'resume=/dev/mapper/rl-swap rd.lvm.lv=rl/root rd.lvm.lv=rl/swap"\nGRUB_ENABLE_BLSCFG=true\n')
    got = parse_default_grub(rhel)
    assert got["GRUB_CMDLINE_LINUX"].split()[1] == "resume=/dev/mapper/rl-swap"
    assert got["GRUB_ENABLE_BLSCFG"] == "true"


def test_default_grub_appends_and_grub_d_snippets(tree):
    got = parse_default_grub('A="x y"\nA="$A z"\nB=\'$A\'\nexport C=${A}\n')
    assert got == {"A": "x y z", "B": "$A", "C": "x y z"}
    cfg = read_boot_config(tree({"/etc/default/grub": 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""',
                                 "/etc/default/grub.d/50-hft.cfg":
                                     'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT nohz_full=2-7"',
                                 "/etc/default/grub.d/README": "GRUB_CMDLINE_LINUX=ignored"}))
    assert cfg.grub_cmdline == "quiet nohz_full=2-7"


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


def test_tuned_2_24_layout_and_profile_dirs(tree):
    # tuned 2.24.1 keeps profiles under profiles/; a copy left in /etc/tuned/NAME is ignored.
    files = {"/etc/tuned/active_profile": "p",
             "/usr/lib/tuned/profiles/p/tuned.conf": "[main]\n[vm]\ntransparent_hugepages=never\n",
             "/etc/tuned/profiles/p/tuned.conf": "[main]\n[vm]\ntransparent_hugepages=madvise\n",
             "/etc/tuned/p/tuned.conf": "[main]\n[vm]\ntransparent_hugepages=always\n"}
    cfg = read_tuned_config(tree(files))
    assert cfg.profile_dirs == ("/usr/lib/tuned/profiles", "/etc/tuned/profiles")
    assert cfg.paths == {"p": "/etc/tuned/profiles/p/tuned.conf"}
    assert cfg.option("vm", "transparent_hugepages") == ("madvise", "p")
    # profile_dirs in tuned-main.conf (tuned 2.23) replaces the list; the later one wins.
    files["/etc/tuned/tuned-main.conf"] = "profile_dirs = /etc/tuned/profiles, /etc/tuned"
    cfg = read_tuned_config(tree(files))
    assert cfg.profile_dirs == ("/etc/tuned/profiles", "/etc/tuned")
    assert cfg.option("vm", "transparent_hugepages") == ("always", "p")


def test_tuned_include_variables_loops_and_replace(tree):
    files = {"/etc/tuned/active_profile": "a",
             "/etc/tuned/a/tuned.conf": "[main]\ninclude=b,${f:virt_check:virtual-guest:c}\n[sysctl]\nreplace=1\n"
                                        "vm.swappiness=5\n[cpu]\ndrop=governor\n",
             "/etc/tuned/b/tuned.conf": "[main]\ninclude=a\n[sysctl]\nvm.dirty_ratio=10\n[cpu]\n"
                                        "governor=performance\nforce_latency=1\n"}
    cfg = read_tuned_config(tree(files))
    assert cfg.chain == ("b", "a")  # the loop back to a ends there
    assert any("${f:virt_check" in p and "not followed" in p for p in cfg.problems)
    assert cfg.options["sysctl"] == {"vm.swappiness": ("5", "a")}  # replace=1 dropped b's [sysctl]
    assert cfg.options["cpu"] == {"force_latency": ("1", "b")}  # drop=governor


def test_merge_tuned_profiles_is_pure():
    got = merge_tuned_profiles([("base", {"main": {"summary": "x"}, "sysctl": {"a": "1", "b": "2"}}),
                                ("top", {"sysctl": {"b": "3"}, "variables": {"v": "1"}})])
    assert got == {"sysctl": {"a": ("1", "base"), "b": ("3", "top")}}


def test_tuned_reapply_is_tuned_default(tree):
    cfg = read_tuned_config(tree({"/etc/tuned/active_profile": "t", "/etc/tuned/t/tuned.conf": "[main]\n"}))
    assert cfg.reapply_sysctl is True and "default" in cfg.reapply_source
    cfg = read_tuned_config(tree({"/etc/tuned/active_profile": "t", "/etc/tuned/t/tuned.conf": "[main]\n",
                                  "/etc/tuned/tuned-main.conf": "reapply_sysctl = 1\nreapply_sysctl_exclude = vm.*"}))
    assert cfg.reapplied("kernel.x") and not cfg.reapplied("vm.swappiness")


def test_no_tuned_is_missing_not_empty(tree):
    got = read_tuned_config(tree({"/proc/cmdline": "ro"}))
    assert isinstance(got, Unread) and got.reason is Reason.MISSING


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
    assert p.state == "persisted" and p.where == ("/etc/sysctl.d/50.conf:1",)
    # ... but tuned applies again only /run/sysctl.d, /etc/sysctl.d and /etc/sysctl.conf, so
    # its value beats a vendor file in /usr/lib/sysctl.d.
    p = persistence_of(_cfg(tree, {**base, **tuned, "/usr/lib/sysctl.d/50.conf": "vm.swappiness = 10"}), s,
                       passed=True, runtime="10")
    assert p.state == "overridden" and p.message.startswith("overridden by tuned's profile t")
    # A tuned value that matches, with a system file that says otherwise and wins.
    tuned10 = {"/etc/tuned/active_profile": "t", "/etc/tuned/t/tuned.conf": "[main]\n[sysctl]\nvm.swappiness=10\n"}
    p = persistence_of(_cfg(tree, {**base, **tuned10, "/etc/sysctl.d/50.conf": "vm.swappiness = 60"}), s,
                       passed=False, runtime="60")
    assert p.state == "overridden" and "reapply_sysctl" in p.message and "/etc/sysctl.d/50.conf:1" in p.message
    # /etc/sysctl.conf with no link in sysctl.d: only tuned's reapply reads it.
    p = persistence_of(_cfg(tree, {**base, **tuned10, "/etc/sysctl.conf": "vm.swappiness = 30"}), s,
                       passed=False, runtime="30")
    assert p.state == "overridden" and "/etc/sysctl.conf:1" in p.message
    # The kernel's default needs no file.
    p = persistence_of(_cfg(tree, base), Setting("sysctl", "vm.zone_reclaim_mode", "0", "memory.zone_reclaim"),
                       passed=True, runtime="0")
    assert p.state == "persisted" and "default" in p.message
    p = persistence_of(_cfg(tree, base), s, passed=False, runtime="60")
    assert p.state == "not-persisted"
    # A value tuned computes from its variables is not guessed at.
    var = {"/etc/tuned/active_profile": "t",
           "/etc/tuned/t/tuned.conf": "[main]\n[variables]\nv=10\n[sysctl]\nvm.swappiness=${v}\n"}
    p = persistence_of(_cfg(tree, {**base, **var}), s, passed=True, runtime="10")
    assert p.state == "unknown" and "${v}" in p.message


def test_sysctl_at_boot_names_what_it_overrides(tree):
    cfg = _cfg(tree, {"/etc/sysctl.d/50.conf": "vm.swappiness = 10", "/etc/sysctl.d/99.conf": "vm.swappiness = 60"})
    got = sysctl_at_boot(cfg, "vm.swappiness")
    assert (got.value, got.where, got.by_tuned) == ("60", "/etc/sysctl.d/99.conf:1", False)
    assert got.shadowed == (("10", "/etc/sysctl.d/50.conf:1"),)
    assert sysctl_at_boot(cfg, "vm.dirty_ratio").value is None


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
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro", "/boot/loader/entries/a-5.14.conf": BLS.format(v="5.14", o="ro")}),
                       s, passed=False)
    assert p.state == "not-persisted"
    # Quotes and '--' as the kernel reads them: after '--' the words are init's.
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro", "/boot/loader/entries/a-5.14.conf":
                                   BLS.format(v="5.14", o='ro dyndbg="a nohz_full=2-7" -- nohz_full=2-7')}),
                       s, passed=False)
    assert p.state == "not-persisted"
    # '-' and '_' are one character in a parameter name (kernel/params.c).
    flag = Setting("cmdline", "rcu_nocb_poll", None, "cpu.rcu_nocbs")
    p = persistence_of(_cfg(tree, {"/proc/cmdline": "ro", "/boot/loader/entries/a-5.14.conf":
                                   BLS.format(v="5.14", o="ro rcu-nocb-poll")}), flag, passed=False)
    assert p.state == "pending-reboot"


def test_tuned_options_states(tree):
    s = Setting("tuned", "vm.transparent_hugepages", "never", "memory.thp")
    prof = {"/etc/tuned/active_profile": "t", "/etc/tuned/t/tuned.conf": "[main]\n[vm]\ntransparent_hugepages=never\n"}
    assert persistence_of(_cfg(tree, prof), s, passed=True).state == "persisted"
    assert persistence_of(_cfg(tree, prof), s, passed=False).state == "pending-reboot"
    other = {**prof, "/etc/tuned/t/tuned.conf": "[main]\n[vm]\ntransparent_hugepages=always\n"}
    p = persistence_of(_cfg(tree, other), s, passed=False)
    assert p.state == "overridden" and p.message == "overridden by tuned's profile t: [vm] transparent_hugepages=always"
    empty = {**prof, "/etc/tuned/t/tuned.conf": "[main]\n"}
    assert persistence_of(_cfg(tree, empty), s, passed=True).state == "runtime-only"
    assert persistence_of(_cfg(tree, empty), s, passed=False).state == "not-persisted"
    assert persistence_of(_cfg(tree, {"/proc/cmdline": "ro"}), s, passed=True).state == "runtime-only"
    denied = {"/hftinfra/unread.json": '{"/etc/tuned/active_profile": {"reason": "denied"}}'}
    assert persistence_of(_cfg(tree, denied), s, passed=True).state == "unknown"
    # [net] coalescing: a smaller rx-usecs is stricter; devices must cover the wanted NICs.
    net = {**prof, "/etc/tuned/t/tuned.conf": "[main]\n[net]\ndevices=eth0,eth1\n"
           "coalesce=adaptive-rx off adaptive-tx off rx-usecs 0 tx-usecs 16\n"}
    for key, value in (("net.coalesce", "adaptive-rx off adaptive-tx off rx-usecs 10"), ("net.devices", "eth1")):
        assert persistence_of(_cfg(tree, net), Setting("tuned", key, value, "net.coalescing"), passed=True).state \
            == "persisted"
    p = persistence_of(_cfg(tree, net), Setting("tuned", "net.coalesce", "adaptive-rx on", "x"), passed=False)
    assert p.state == "overridden"


def test_summarise_one_check():
    ok, lost = Persistence("persisted", "a"), Persistence("runtime-only", "b")
    # Every setting of one mechanism must hold; one mechanism that holds is enough.
    assert summarise({"sysctl": [ok, lost]}).state == "runtime-only"
    assert summarise({"sysctl": [lost], "cmdline": [ok]}).state == "persisted"
    assert summarise({}) is None
    with pytest.raises(ValueError):
        Persistence("maybe", "x")
    assert set(STATE_MEANING) == set(STATES)


def test_tuned_bootloader_persists_a_kernel_argument(tree):
    s = Setting("cmdline", "skew_tick", "1", "kernel.skew_tick")
    files = {"/proc/cmdline": "ro", "/etc/tuned/active_profile": "t",
             "/etc/tuned/t/tuned.conf": "[main]\n[bootloader]\ncmdline_t=+skew_tick=1 tsc=reliable\n",
             "/boot/loader/entries/a-5.14.conf": BLS.format(v="5.14", o="ro")}
    p = persistence_of(_cfg(tree, files), s, passed=False)
    assert p.state == "pending-reboot" and "tuned profile t [bootloader]" in p.message


def test_tuned_kernel_args_follow_the_modifiers(tree):
    from hftinfra.persist import tuned_kernel_args

    files = {"/etc/tuned/active_profile": "child",
             "/etc/tuned/base/tuned.conf": "[main]\n[bootloader]\ncmdline_base=+rhgb quiet skew_tick=1\n",
             "/etc/tuned/child/tuned.conf": "[main]\ninclude=base\n[bootloader]\ncmdline_child=-quiet\n"
                                            "cmdline=nohz_full=${isolated_cores}\n"}
    cfg = read_tuned_config(tree(files))
    assert [w for w, _ in tuned_kernel_args(cfg)] == ["rhgb", "skew_tick=1", "nohz_full=${isolated_cores}"]
    persisted = read_persisted(tree({**files, "/proc/cmdline": "ro quiet"}))
    p = persistence_of(persisted, Setting("cmdline", "quiet", None, "x"), passed=True)
    assert p.state == "unknown"  # removed by tuned; no boot entry to say more
    p = persistence_of(persisted, Setting("cmdline", "nohz_full", "2-7", "x"), passed=False)
    assert p.state == "unknown" and "${isolated_cores}" in p.message


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
    assert "reapply_sysctl = 0" in untuned["memory.dirty"].persistence.message
    assert untuned["memory.dirty"].persistence.message.startswith("overridden by tuned's profile throughput-performance")
    assert untuned["memory.thp"].persistence.state == "overridden"
    # Measurements and hardware have no setting, so no persistence.
    assert untuned["irq.isolated_noise"].persistence is None
    assert untuned["net.pcie_link"].persistence is None


def test_each_state_on_the_fixtures():
    tuned = {f.id: f for f in run_audit(str(HOSTS / "tuned-2s"), "hft-isolated").findings}
    untuned = {f.id: f for f in run_audit(str(HOSTS / "untuned-2s"), "hft-isolated").findings}
    # tuned-2s keeps every setting it has in a file: nothing is lost at reboot.
    assert {f.persistence.state for f in tuned.values() if f.persistence and f.status == "pass"} == {"persisted"}
    assert tuned["memory.compact_unevictable"].persistence.where == ("/etc/sysctl.d/90-latency.conf:11",)
    assert tuned["net.coalescing"].persistence.message.startswith("tuned profile hft-latency [net]")
    assert "network-latency [bootloader] cmdline_network_latency" in tuned["kernel.skew_tick"].persistence.message
    # untuned-2s: one of each.
    f = untuned["kernel.timer_migration"]
    assert (f.status, f.persistence.state) == ("pass", "runtime-only")
    assert status_label(f) == "pass — in effect but lost at reboot"
    f = untuned["kernel.skew_tick"]
    assert (f.status, f.persistence.state) == ("fail", "pending-reboot")
    assert status_label(f) == "fail — reboot pending"
    assert f.persistence.where[0].endswith("el9_3.x86_64.conf (grubenv saved_entry)")
    assert untuned["memory.swappiness"].persistence.message.startswith(
        "overridden by /etc/sysctl.d/99-sysctl.conf:2 (vm.swappiness = 60)")
    assert untuned["kernel.stat_interval"].persistence.state == "not-persisted"
    assert untuned["cpu.governor"].persistence.state == "pending-reboot"  # tuned's [cpu], tuned not applied
    assert untuned["kernel.sched_rt_runtime"].persistence.state == "persisted"
    assert untuned["cpu.nohz_full"].persistence is None  # not planned: isolated_cpus unknown here
    # A snapshot with no boot or tuned files says unknown for kernel arguments, never a pass.
    bare = {f.id: f for f in run_audit(str(HOSTS / "cpu0-offline"), "hft-isolated").findings}
    assert bare["kernel.skew_tick"].persistence.state == "unknown"
    # Either a kernel argument or a sysctl would do: the unread one may be it, so unknown leads.
    f = bare["kernel.nmi_watchdog"]
    assert f.persistence.state == "unknown" and "otherwise not-persisted" in f.persistence.message
    assert bare["cpu.governor"].persistence.message == "no tuned profile is active (/etc/tuned/active_profile is missing)"


def test_views_show_the_combined_status():
    report = run_audit(str(HOSTS / "untuned-2s"), "hft-isolated")
    text = report.to_text(width=400)
    assert "PASS — in effect but lost at reboot" in text and "FAIL — reboot pending" in text
    md = to_markdown(report)
    assert "| **pass** — in effect but lost at reboot | `kernel.timer_migration`" in md
    assert "| **fail** — reboot pending | `kernel.skew_tick`" in md
    html = to_html(report)
    assert "in effect but lost at reboot" in html and "overridden by tuned&#x27;s profile" in html
    doc = report.to_json()
    f = next(x for x in doc["findings"] if x["id"] == "kernel.timer_migration")
    assert f["persistence"] == {"state": "runtime-only", "where": [],
                                "message": "in effect but lost at reboot: no sysctl.d file or tuned profile sets "
                                           "kernel.timer_migration"}
    assert next(x for x in doc["findings"] if x["id"] == "irq.isolated_noise")["persistence"] is None


@pytest.mark.skipif(not (CORPUS / "procfs" / "proc").is_dir(), reason="../shared/corpus is absent")
def test_corpus_tree_has_no_boot_configuration():
    from hftinfra.host import open_host

    host = open_host(CORPUS / "procfs")
    cfg = read_persisted(host)
    assert isinstance(cfg.cmdline, str) and cfg.cmdline
    assert cfg.sysctl.files == () and cfg.sysctl.unread == ()
    assert isinstance(cfg.tuned, Unread) and cfg.tuned.reason is Reason.MISSING
    p = persistence_of(cfg, Setting("cmdline", "nohz_full", "2-7", "cpu.nohz_full"), passed=False)
    assert p.state == "unknown"


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
    expand_grub_vars(text, {"kernelopts": text})
    normalise_sysctl_key(text)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["/etc/sysctl.d/a.conf", "/run/sysctl.d/a.conf", "/usr/lib/sysctl.d/b.conf",
                                        "/etc/sysctl.conf", "/etc/tuned/active_profile", "/etc/tuned/t/tuned.conf",
                                        "/etc/tuned/tuned-main.conf", "/boot/loader/entries/x.conf",
                                        "/boot/grub2/grubenv", "/etc/default/grub", "/proc/cmdline"]),
                       st.text(alphabet=st.sampled_from(list("ab=.-*[]$ {}#;\n\t\"'\\1tuned,")), max_size=60),
                       max_size=6))
def test_reading_arbitrary_files_never_crashes(tmp_path_factory, files):
    from conftest import write_tree

    from hftinfra.host import open_host

    root = write_tree(tmp_path_factory.mktemp("h"), {"/proc/version": "Linux", **files})
    cfg = read_persisted(open_host(root))
    for s in (Setting("sysctl", "vm.swappiness", "10", "x"), Setting("cmdline", "nohz_full", "2-7", "x"),
              Setting("tuned", "vm.transparent_hugepages", "never", "x")):
        for passed in (True, False):
            assert persistence_of(cfg, s, passed=passed, runtime="10").state in STATES


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
