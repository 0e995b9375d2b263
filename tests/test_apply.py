"""``hftinfra apply`` and ``hftinfra rollback``: a dry run changes nothing; apply writes the
rollback file first, goes on past a refused write, and after rollback every setting it
touched reads byte for byte as before; bad rollback files and changed settings write
nothing. The writes happen on this machine as root (skipped otherwise) and are restored."""

from __future__ import annotations

import glob
import json
import os
import stat

import pytest

from hftinfra.apply import ApplyError, apply_plan, plan_apply, rollback
from hftinfra.apply import engine as E
from hftinfra.apply import knobs as K
from hftinfra.apply.engine import ApplyPlan, load_rollback
from hftinfra.apply.knobs import Knob, Target
from hftinfra.cli import main

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="writes kernel settings: needs root")
# Areas whose settings this kind of machine can write (net would retune the VM's own NIC).
AREAS = ["memory", "kernel", "irq", "cpu"]


def _online() -> int:
    return len(os.sched_getaffinity(0))


def _vars() -> list[str]:
    # The last CPU isolated, the rest housekeeping: IRQs and the workqueue mask have somewhere to go.
    n = os.cpu_count() or 1
    return [f"isolated_cpus={n - 1}"] if n > 1 else []


def raw_values(plan: ApplyPlan) -> dict[str, bytes]:
    """Every file a plan may touch, read as bytes (the byte-for-byte comparison)."""
    out = {}
    for k in plan.knobs:
        for t in k.targets:
            if t.kind in ("file", "thp", "irqbalance"):
                try:
                    with open(t.where, "rb") as fh:
                        out[t.where] = fh.read()
                except OSError as exc:
                    out[t.where] = f"unreadable: {exc.errno}".encode()
    return out


def every_affinity() -> dict[str, bytes]:
    out = {}
    for p in sorted(glob.glob("/proc/irq/*/smp_affinity_list")) + ["/proc/irq/default_smp_affinity"]:
        try:
            out[p] = open(p, "rb").read()
        except OSError:
            pass
    return out


@pytest.fixture(scope="module")
def live_plan():
    return plan_apply("hft-isolated", _vars(), AREAS)


def test_plan_splits_runtime_reboot_and_disruptive(live_plan):
    assert live_plan.knobs, "a Linux host has at least its sysctls"
    sysctls = [k for k in live_plan.knobs if k.name.startswith("sysctl ")]
    assert sysctls and all(t.where.startswith("/proc/sys/") for k in sysctls for t in k.targets)
    # Kernel arguments are reported with the command that persists them, never a knob.
    assert all(r.fix.startswith("grubby --update-kernel=ALL --args=") for r in live_plan.reboot)
    assert not any("cmdline" in k.name for k in live_plan.knobs)
    for k in live_plan.knobs:
        assert k.check_id and k.reason and k.targets
    for cid, what, why in live_plan.not_runtime:
        assert cid and what and why


def test_dry_run_changes_nothing_and_says_what_would(live_plan):
    before = raw_values(live_plan) | every_affinity()
    result = apply_plan(live_plan, dry_run=True)
    assert result.rollback_path is None and not result.changed
    assert raw_values(live_plan) | every_affinity() == before
    for s in result.steps:
        assert s.before is not None or s.error
        assert s.state_before in E.STATES


def test_dry_run_cli_as_any_user(capsys):
    code = main(["apply", "--only", "memory", *sum((["--var", v] for v in _vars()), [])])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "dry run: nothing is changed" in out
    assert "sysctl" in out or "vm." in out


@root_only
def test_apply_then_rollback_restores_every_setting_byte_for_byte(live_plan, tmp_path):
    from hftinfra.audit import run_audit

    before = raw_values(live_plan) | every_affinity()
    qos_before = K.pmqos_in_effect()
    path = str(tmp_path / "rb.json")
    result = apply_plan(live_plan, dry_run=False, rollback_path=path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        doc = load_rollback(path)
        assert doc["status"] == "complete" and doc["host"]["boot_id"]
        recorded = {e["target"]["where"]: e["previous"] for e in doc["entries"]}
        for s in result.steps:
            if s.before is not None:
                assert recorded[s.target.where] == s.before
        # Each write the kernel took now reads as the profile wants; refused ones are named.
        for s in result.steps:
            if s.written:
                assert K.same(s.target, s.after, s.target.wanted), s
            if s.error:
                assert s.target.where in s.error or "ethtool" in s.error
        after_apply = {k.check_id for k, _b, a in result.knob_states if a == "configured"}
        report = run_audit(None, "hft-isolated", variables=_vars(), only=AREAS)
        for f in report.findings:
            whole = all(a == "configured" for k, _b, a in result.knob_states if k.check_id == f.id)
            # irq.affinity judges the effective affinity, which x86 moves at the IRQ's next
            # interrupt (kernel/irq/migration.c): a configured mask may not be effective yet.
            if f.id in after_apply and whole and f.id != "irq.affinity" and f.status == "fail":
                settings = [k for k in live_plan.knobs if k.check_id == f.id]
                # A check with a setting apply cannot make at runtime (a kernel argument) may still fail.
                assert any(r.check_id == f.id for r in live_plan.reboot) or not settings, (f.id, f.message)
    finally:
        back = rollback(path)
    assert not back.failed, [(i.target.where, i.error) for i in back.failed]
    assert raw_values(live_plan) | every_affinity() == before
    assert K.pmqos_holder_pid() is None
    assert K.pmqos_in_effect() == qos_before
    assert load_rollback(path)["status"] == "rolled back"


# ---- hermetic knobs: files in a temp dir stand for kernel settings -----------------------------


def file_plan(tmp_path, values: dict[str, tuple[str, str]], refused: bool = False) -> ApplyPlan:
    knobs = []
    for name, (now, wanted) in values.items():
        p = tmp_path / name
        p.write_text(now + "\n")
        knobs.append(Knob(f"knob {name}", f"test.{name}", "why", ("source",), (Target("file", str(p), wanted),)))
    if refused:
        # A procfs file no one may write: the kernel refuses (EACCES/EPERM) and apply goes on.
        knobs.insert(0, Knob("osrelease", "test.refused", "why", (),
                             (Target("file", "/proc/sys/kernel/osrelease", "9.9"),)))
    return ApplyPlan(profile="test", knobs=tuple(knobs), reboot=(), not_runtime=())


@root_only
def test_a_refused_write_is_reported_and_the_rest_goes_on(tmp_path):
    plan = file_plan(tmp_path, {"a": ("1", "2"), "b": ("x", "y")}, refused=True)
    result = apply_plan(plan, dry_run=False, rollback_path=str(tmp_path / "rb.json"))
    (bad,) = result.failed
    assert bad.target.where == "/proc/sys/kernel/osrelease" and ("EACCES" in bad.error or "EPERM" in bad.error)
    assert (tmp_path / "a").read_text() == "2\n" and (tmp_path / "b").read_text() == "y\n"
    assert result.exit_code == 1
    states = {k.name: (b, a) for k, b, a in result.knob_states}
    assert states["knob a"] == ("not configured", "configured")
    assert states["osrelease"] == ("not configured", "not configured")
    back = rollback(str(tmp_path / "rb.json"))
    assert not back.failed
    assert (tmp_path / "a").read_text() == "1\n" and (tmp_path / "b").read_text() == "x\n"


@root_only
def test_an_interrupted_apply_leaves_a_file_that_restores_what_was_done(tmp_path, monkeypatch):
    plan = file_plan(tmp_path, {"a": ("1", "2"), "b": ("3", "4"), "c": ("5", "6")})
    real_write, calls = K.write, []

    def write(target, value):
        calls.append(target.where)
        if len(calls) == 2:
            real_write(target, value)  # the write lands, then Ctrl-C arrives
            raise KeyboardInterrupt
        real_write(target, value)

    monkeypatch.setattr(K, "write", write)
    path = str(tmp_path / "rb.json")
    with pytest.raises(KeyboardInterrupt):
        apply_plan(plan, dry_run=False, rollback_path=path)
    monkeypatch.setattr(K, "write", real_write)
    doc = load_rollback(path)
    assert doc["status"] == "applying"
    assert [e["written"] for e in doc["entries"]] == [True, True, False]
    assert (tmp_path / "c").read_text() == "5\n"
    back = rollback(path)
    assert not back.failed
    assert [(tmp_path / n).read_text() for n in "abc"] == ["1\n", "3\n", "5\n"]


@root_only
def test_rollback_refuses_a_setting_changed_since_apply_unless_forced(tmp_path, capsys):
    plan = file_plan(tmp_path, {"a": ("1", "2"), "b": ("3", "4")})
    path = str(tmp_path / "rb.json")
    apply_plan(plan, dry_run=False, rollback_path=path)
    (tmp_path / "b").write_text("someone else\n")
    code = main(["rollback", path])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "changed since apply" in err and "--force" in err
    # Nothing half-written: a, which could have been restored, was left too.
    assert (tmp_path / "a").read_text() == "2\n"
    code = main(["rollback", path, "--force"])
    capsys.readouterr()
    assert code == 0
    assert (tmp_path / "a").read_text() == "1\n" and (tmp_path / "b").read_text() == "3\n"


@root_only
def test_rollback_file_is_never_overwritten(tmp_path):
    plan = file_plan(tmp_path, {"a": ("1", "2")})
    path = tmp_path / "rb.json"
    path.write_text("an earlier apply's values\n")
    with pytest.raises(ApplyError, match="exists"):
        apply_plan(plan, dry_run=False, rollback_path=str(path))
    assert path.read_text() == "an earlier apply's values\n" and (tmp_path / "a").read_text() == "1\n"


def _rollback_doc(tmp_path, **host) -> str:
    doc = {"schema": E.SCHEMA, "host": {**E.host_identity(), **host}, "profile": "test", "status": "complete",
           "entries": [{"knob": "k", "check": "c", "previous": "1", "written": True,
                        "target": Target("file", str(tmp_path / "a"), "2").to_json()}]}
    (tmp_path / "a").write_text("2\n")
    path = tmp_path / "rb.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("change,needle", [
    (lambda p: p.write_text("{not json"), "damaged rollback file (not JSON"),
    (lambda p: p.write_text(json.dumps({"schema": "other/1"})), "not a rollback file"),
    (lambda p: p.write_text(json.dumps({"schema": E.SCHEMA, "host": {}, "entries": [{"knob": "k"}]})),
     "entry 1 is incomplete"),
    (lambda p: p.unlink(), "no such rollback file"),
])
def test_a_damaged_rollback_file_is_one_line(tmp_path, capsys, change, needle):
    path = _rollback_doc(tmp_path)
    change(tmp_path / "rb.json")
    code = main(["rollback", path])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err
    assert (tmp_path / "a").read_text() == "2\n"


@pytest.mark.parametrize("host,needle", [({"hostname": "box-7"}, "from host 'box-7'"),
                                         ({"boot_id": "0000-other-boot"}, "from another boot")])
def test_a_rollback_file_of_another_host_or_boot_restores_nothing(tmp_path, capsys, host, needle):
    path = _rollback_doc(tmp_path, **host)
    code = main(["rollback", path])
    _out, err = capsys.readouterr()
    assert code == 2 and needle in err and "nothing restored" in err
    assert (tmp_path / "a").read_text() == "2\n"


def test_not_root_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code = main(["apply", "--yes"])
    _out, err = capsys.readouterr()
    assert code == 2 and "run as root" in err and err.count("\n") == 1


def test_unknown_profile_is_one_line(capsys):
    code = main(["apply", "--profile", "nope"])
    _out, err = capsys.readouterr()
    assert code == 2 and "unknown profile 'nope'" in err and err.count("\n") == 1


@root_only
def test_pm_qos_hold_starts_and_stops():
    if not os.path.exists(K.CPU_DMA_LATENCY):
        pytest.skip(f"no {K.CPU_DMA_LATENCY} on this kernel")
    before = K.pmqos_in_effect()
    target = Target("pmqos", K.CPU_DMA_LATENCY, "3")
    try:
        K.write(target, "3")
        assert K.read(target) == "3"
        assert K.pmqos_in_effect() <= 3
    finally:
        K.write(target, "none")
    assert K.read(target) == "none" and K.pmqos_holder_pid() is None
    assert K.pmqos_in_effect() == before


def test_values_compare_by_their_kind():
    assert K.same(Target("file", "x", "0-3", "cpulist"), "0,1,2,3", "0-3")
    assert K.same(Target("file", "x", "f", "mask"), "0000000f", "f")
    assert K.same(Target("file", "x", "4 4 1 7"), "4\t4\t1\t7", "4 4 1 7")
    assert not K.same(Target("file", "x", "1", "mask"), "3", "1")


@pytest.fixture
def veth():
    """A veth pair in this namespace (ethtool -K and -l answer on veth; -c does not)."""
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ethtool") is None:
        pytest.skip("needs root, ip and ethtool")
    name = f"hfa{os.getpid() % 10000}"
    peer = f"{name}p"
    made = subprocess.run(["ip", "link", "add", name, "numtxqueues", "4", "numrxqueues", "4", "type", "veth",
                           "peer", "name", peer, "numtxqueues", "4", "numrxqueues", "4"], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot make a veth pair: {made.stderr.decode().strip()}")
    try:
        for dev in (name, peer):
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        subprocess.run(["ethtool", "-K", name, "gro", "on"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_nic_settings_through_ethtool_and_disruptive_ones_apart(veth, tmp_path):
    import subprocess

    def features() -> str:
        return subprocess.run(["ethtool", "-k", veth], capture_output=True, text=True).stdout

    def channels() -> str:
        return subprocess.run(["ethtool", "-l", veth], capture_output=True, text=True).stdout

    feats, chans = features(), channels()
    plan = plan_apply("hft-isolated", [f"trading_nics={veth}", *_vars()], ["net"])
    gro = [t for k in plan.knobs for t in k.targets if t.kind == "ethtool" and t.param("name") == "gro"]
    assert gro and gro[0].param("iface") == veth and gro[0].wanted == "off"
    assert K.read(gro[0]) == "on"
    # Four queues on a machine with fewer CPUs: the channel change is listed apart, not made.
    if (os.cpu_count() or 1) < 4:
        assert any(k.check_id == "net.channels" for k in plan.disruptive)
    assert all(k.disruptive for k in plan.disruptive)
    path = str(tmp_path / "rb.json")
    result = apply_plan(plan, dry_run=False, rollback_path=path)
    try:
        assert not any(s.knob.disruptive for s in result.steps)
        assert set(result.skipped_disruptive) == set(plan.disruptive)
        assert K.read(gro[0]) == "off"
        assert channels() == chans
    finally:
        back = rollback(path)
    assert not back.failed
    assert features() == feats
