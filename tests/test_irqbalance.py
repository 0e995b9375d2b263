"""irqbalance: found by a /proc scan, its ban worked out by its own precedence (cputree.c
setup_banned_cpus, irqbalance(1)), from its environment and its configuration file."""

from __future__ import annotations

import json
import os

import pytest

from hftinfra.host import Reason, Unread, open_host
from hftinfra.irq import irqbalance_ban, parse_environ, parse_proc_cmdline, read_irqbalance
from hftinfra.records import to_jsonable

CPU = "/sys/devices/system/cpu"
LISTED = {"/hftinfra/meta.json": json.dumps({"listed": ["/proc"]})}


def daemon(pid: int, env: bytes, args: bytes = b"/usr/sbin/irqbalance\0--foreground\0") -> dict:
    return {f"/proc/{pid}/comm": "irqbalance", f"/proc/{pid}/environ": env, f"/proc/{pid}/cmdline": args}


def test_environ_and_cmdline_parsers():
    env = parse_environ(b"A=1\0IRQBALANCE_BANNED_CPULIST=\0B=x=y\0junk\0")
    assert env == {"A": "1", "IRQBALANCE_BANNED_CPULIST": "", "B": "x=y"}
    assert parse_proc_cmdline(b"") == ()


ISO = frozenset({2, 3})
NOHZ = frozenset({3, 4})


@pytest.mark.parametrize("env, banned, words", [
    # The hex mask wins when non-empty (and is deprecated)...
    ({"IRQBALANCE_BANNED_CPUS": "c0", "IRQBALANCE_BANNED_CPULIST": "1"}, {6, 7}, "deprecated"),
    # ...an empty one is ignored, and the list applies, even empty.
    ({"IRQBALANCE_BANNED_CPUS": "", "IRQBALANCE_BANNED_CPULIST": "8-9"}, {8, 9}, "CPULIST=8-9"),
    ({"IRQBALANCE_BANNED_CPULIST": ""}, set(), "no CPU is banned"),
    # Neither: the kernel's isolated and nohz_full CPUs.
    ({}, {2, 3, 4}, "isolated and nohz_full"),
])
def test_ban_precedence(env, banned, words):
    got, why = irqbalance_ban(env, ISO, NOHZ, "the environment of PID 7")
    assert got == frozenset(banned) and words in why


def test_a_bad_ban_is_malformed_not_empty():
    got, _ = irqbalance_ban({"IRQBALANCE_BANNED_CPULIST": "banana"}, ISO, NOHZ, "x")
    assert isinstance(got, Unread) and got.reason is Reason.MALFORMED


def test_running_daemon_with_its_environment(tree):
    host = tree({**LISTED, f"{CPU}/isolated": "2-3", f"{CPU}/nohz_full": "2-3",
                 "/proc/1/comm": "systemd",
                 **daemon(812, b"IRQBALANCE_BANNED_CPULIST=2-3\0", b"/usr/sbin/irqbalance\0--foreground\0"
                                                                    b"--banirq=24\0--banirq=25\0"),
                 "/etc/sysconfig/irqbalance": '# set by tuned\nIRQBALANCE_BANNED_CPULIST="2-3"\n'})
    ib = read_irqbalance(host)
    assert ib.pids == (812,) and ib.running is True and ib.oneshot is False
    assert ib.banned_irqs == (24, 25)
    assert ib.banned_in_effect == frozenset({2, 3}) and "PID 812" in ib.banned_in_effect_from
    assert ib.config_path == "/etc/sysconfig/irqbalance" and ib.banned_configured == frozenset({2, 3})
    json.dumps(to_jsonable(ib))
    assert "812" in ib._repr_html_()


def test_denied_environment_is_unknown_not_the_config(tree):
    host = tree({**LISTED, f"{CPU}/isolated": "", **daemon(90, b"x"),
                 "/etc/default/irqbalance": "IRQBALANCE_BANNED_CPULIST=1\n",
                 "/hftinfra/unread.json": json.dumps({"/proc/90/environ": {"reason": "denied", "detail": ""}})})
    ib = read_irqbalance(host)
    assert ib.running is True
    assert isinstance(ib.banned_in_effect, Unread) and ib.banned_in_effect.reason is Reason.DENIED
    assert ib.banned_configured == frozenset({1}) and ib.config_path == "/etc/default/irqbalance"


def test_not_running_and_no_config(tree):
    ib = read_irqbalance(tree({**LISTED, "/proc/1/comm": "init", f"{CPU}/isolated": "5"}))
    assert ib.pids == () and ib.running is False and ib.banned_in_effect is None
    # Without a file and without nohz_full, the next start would ban the isolated CPUs.
    assert ib.banned_configured == frozenset({5}) and "no configuration file" in ib.banned_configured_from


def test_a_snapshot_without_the_process_list_does_not_say_stopped(tree):
    ib = read_irqbalance(tree({"/proc/1/comm": "init", f"{CPU}/isolated": ""}))
    assert isinstance(ib.running, Unread) and "process list" in ib.running.detail


def test_oneshot(tree):
    ib = read_irqbalance(tree({**LISTED, **daemon(5, b"", b"irqbalance\0--oneshot\0")}))
    assert ib.oneshot is True


@pytest.mark.live
def test_live_matches_a_scan_of_proc():
    ib = read_irqbalance(open_host(None))
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as fh:
                    if fh.read().strip() == "irqbalance":
                        found.append(int(name))
            except OSError:
                continue
    assert set(ib.pids) == set(found)
    if not found:
        assert ib.banned_in_effect is None
