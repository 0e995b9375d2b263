"""The synthetic fleet generator: its archives open, and its manifest tells the truth.

Each drift is applied alone to the tuned fixture and audited: exactly the checks the drift
names leave pass (for fail or warn), the persistence column moves as documented, and
nothing else in the report changes. That is what makes manifest.json ground truth for
the fleet view.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import tarfile
from pathlib import Path

import pytest

from hftinfra.audit import run_audit
from hftinfra.fleet.synth import DRIFTS, Drift, GeneratedHost, load_base, make_fleet, make_host
from hftinfra.host import open_host

BASE = Path(__file__).parent / "hosts" / "tuned-2s"
BASE_HOSTNAME = "ny4-trade-07"


def verdicts(path) -> dict[str, tuple[str, str | None]]:
    report = run_audit(str(path))
    return {f.id: (f.status, f.persistence.state if f.persistence else None) for f in report.findings}


@pytest.fixture(scope="module")
def base():
    return load_base(BASE)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, base):
    """The audit of a clean generated host: the tuned base's, under another name."""
    out = tmp_path_factory.mktemp("clean") / "fleet"
    (host,) = make_fleet(out, count=1, base=base, drift_share=0.0)
    assert host.drifts == ()
    return verdicts(host.path)


@pytest.fixture(scope="module")
def single(tmp_path_factory, base, clean):
    """Per drift: the checks whose (status, persistence) differ from the clean host's."""
    out = {}
    for name in DRIFTS:
        path = tmp_path_factory.mktemp("one") / f"{name}.tar.gz"
        path.write_bytes(base.archive(make_host(base, "ny4-trade-100", [name])))
        got = verdicts(path)
        out[name] = {k: v for k, v in got.items() if v != clean[k]}
    return out


def test_clean_copy_audits_as_the_base(clean):
    assert clean == verdicts(BASE)
    statuses = [s for s, _ in clean.values()]
    assert statuses.count("fail") == 0 and statuses.count("pass") == 50


def test_drift_table_is_documented():
    assert len(DRIFTS) >= 7
    assert list(DRIFTS)[:4] == ["irqbalance-restarted", "thp-always", "bios-cstates", "nic-wrong-numa"]
    for name, drift in DRIFTS.items():
        assert isinstance(drift, Drift) and drift.name == name
        assert drift.story.endswith(".") and drift.story.count(". ") == 0, name  # one sentence
        assert drift.apply.__doc__, name
        assert drift.checks or drift.persistence, f"{name} changes nothing the audit shows"


@pytest.mark.parametrize("name", list(DRIFTS))
def test_each_drift_changes_exactly_its_checks(tmp_path, clean, name):
    drift = DRIFTS[name]
    hosts = make_fleet(tmp_path / "fleet", count=2, drifts=[name], drift_share=1.0)
    assert [h.drifts for h in hosts] == [(name,), (name,)]
    got = verdicts(hosts[0].path)
    assert got.keys() == clean.keys()
    for check in drift.checks:
        assert clean[check][0] == "pass", check
        assert got[check][0] in ("fail", "warn"), (check, got[check])
    for check, status in drift.also.items():
        assert got[check][0] == status, (check, got[check])
    for check, state in drift.persistence.items():
        assert got[check][1] == state, (check, got[check])
    changed_status = {c for c in clean if got[c][0] != clean[c][0]}
    assert changed_status == set(drift.checks) | set(drift.also)
    changed_state = {c for c in clean if got[c][1] != clean[c][1]}
    assert changed_state <= set(drift.persistence)
    manifest = json.loads((tmp_path / "fleet" / "manifest.json").read_text())
    assert manifest["drifts"] == {name: drift.to_json()}


def test_persistence_only_drift(tmp_path, clean):
    drift = DRIFTS["kernel-update-lost-cmdline"]
    assert drift.checks == ()
    (host,) = make_fleet(tmp_path / "f", count=1, drifts=[drift.name], drift_share=1.0)
    report = run_audit(host.path)
    by_id = {f.id: f for f in report.findings}
    for check in ("cpu.isolated", "cpu.nohz_full", "cpu.rcu_nocbs", "cpu.irqaffinity", "irq.default_affinity"):
        assert clean[check] == ("pass", "persisted")
        finding = by_id[check]
        assert finding.status == "pass"
        assert finding.persistence.state == "runtime-only"
        assert "lacks" in finding.persistence.message and "5.14.0-362.24." in finding.persistence.message


@pytest.mark.parametrize("pair", [p for p in itertools.combinations(DRIFTS, 2)
                                  if not DRIFTS[p[0]].touches & DRIFTS[p[1]].touches])
def test_two_drifts_add_up(tmp_path, base, clean, single, pair):
    path = tmp_path / "two.tar.gz"
    path.write_bytes(base.archive(make_host(base, "ny4-trade-101", list(pair))))
    got = verdicts(path)
    assert {k: v for k, v in got.items() if v != clean[k]} == {**single[pair[0]], **single[pair[1]]}


def test_hostname_changes_everywhere(tmp_path):
    hosts = make_fleet(tmp_path / "fleet", count=12, drift_share=0.5, seed=3)
    assert [h.hostname for h in hosts] == [f"ny4-trade-{i:03d}" for i in range(1, 13)]
    for h in hosts[:3]:
        assert Path(h.path).name == f"{h.hostname}.tar.gz"
        assert run_audit(h.path).host["hostname"] == h.hostname
        snap = open_host(h.path)
        assert snap.meta["hostname"] == h.hostname
        assert snap.read("/proc/sys/kernel/hostname") == h.hostname
        uname = snap.run(["uname", "-a"])
        assert uname.stdout.split()[1] == h.hostname
        raw = gzip.decompress(Path(h.path).read_bytes())
        assert not re.search(re.escape(BASE_HOSTNAME.encode()) + rb"(?![0-9])", raw)
        assert h.hostname.encode() in raw


def test_same_seed_same_bytes(tmp_path):
    a = make_fleet(tmp_path / "a", count=20, seed=7, drift_share=0.5, clones=1)
    b = make_fleet(tmp_path / "b", count=20, seed=7, drift_share=0.5, clones=1)
    assert [(Path(h.path).name, h.drifts) for h in a] == [(Path(h.path).name, h.drifts) for h in b]
    for x, y in zip(a, b, strict=True):
        assert Path(x.path).read_bytes() == Path(y.path).read_bytes()
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    c = make_fleet(tmp_path / "c", count=20, seed=8, drift_share=0.5)
    assert [h.drifts for h in c] != [h.drifts for h in a[:20]]


def test_drift_share_and_limits(tmp_path):
    hosts = make_fleet(tmp_path / "f", count=200, seed=1, drift_share=0.3, drifts=["thp-always", "bios-cstates"])
    drifted = [h for h in hosts if h.drifts]
    assert len(drifted) == 60
    assert {d for h in drifted for d in h.drifts} == {"thp-always", "bios-cstates"}
    assert any(len(h.drifts) == 2 for h in drifted)
    manifest = json.loads((tmp_path / "f/manifest.json").read_text())
    assert manifest["schema"] == "hftinfra.synth/1" and manifest["seed"] == 1
    assert set(manifest["drifts"]) == {"thp-always", "bios-cstates"}
    assert [(e["file"], e["hostname"], tuple(e["drifts"])) for e in manifest["hosts"]] == \
        [(Path(h.path).name, h.hostname, h.drifts) for h in hosts]
    assert not any(h.drifts for h in make_fleet(tmp_path / "g", count=30, drift_share=0.0))


def test_clones_share_a_hostname_not_a_path(tmp_path):
    hosts = make_fleet(tmp_path / "f", count=4, clones=2, seed=2)
    assert len(hosts) == 6 and all(isinstance(h, GeneratedHost) for h in hosts)
    clones = hosts[4:]
    assert all(h.clone_of for h in clones) and not any(h.clone_of for h in hosts[:4])
    assert len({h.path for h in hosts}) == 6
    for clone in clones:
        original = next(h for h in hosts[:4] if Path(h.path).name == clone.clone_of)
        assert clone.hostname == original.hostname and clone.path != original.path
        assert re.fullmatch(rf"{re.escape(clone.hostname)}\.clone-\d+\.tar\.gz", Path(clone.path).name)
        assert Path(clone.path).read_bytes() == Path(original.path).read_bytes()
        assert run_audit(clone.path).host["hostname"] == original.hostname
    entries = json.loads((tmp_path / "f/manifest.json").read_text())["hosts"]
    assert [e.get("clone_of") for e in entries[4:]] == [h.clone_of for h in clones]


@pytest.mark.parametrize("kwargs, message", [
    ({"drifts": ["no-such-drift"]}, "unknown drift 'no-such-drift'"),
    ({"count": 0}, "count must be"),
    ({"count": -3}, "count must be"),
    ({"drift_share": 1.5}, "drift_share must be"),
    ({"clones": -1}, "clones must be"),
])
def test_bad_arguments_write_nothing(tmp_path, kwargs, message):
    out = tmp_path / "fleet"
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        make_fleet(out, **{"count": 3, **kwargs})
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_out_dir_that_is_a_file(tmp_path):
    out = tmp_path / "fleet"
    out.write_text("mine\n")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        make_fleet(out, count=2)
    assert out.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet"]


def test_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("keep\n")
    with pytest.raises(ValueError, match="holds no synthetic fleet"):
        make_fleet(tmp_path, count=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_bad_base(tmp_path):
    with pytest.raises(ValueError, match="no such snapshot"):
        make_fleet(tmp_path / "f", count=2, base=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a snapshot"):
        make_fleet(tmp_path / "f", count=2, base=tmp_path / "empty")
    assert not (tmp_path / "f").exists()


def test_regenerating_replaces_the_old_fleet(tmp_path):
    out = tmp_path / "fleet"
    make_fleet(out, count=5)
    hosts = make_fleet(out, count=3, seed=4)
    assert sorted(p.name for p in out.iterdir()) == sorted([*(Path(h.path).name for h in hosts), "manifest.json"])


def test_archives_hold_exactly_the_tree(tmp_path, base):
    drifts = ["bios-cstates", "nic-wrong-numa"]
    tree = make_host(base, "ny4-trade-042", drifts)
    path = tmp_path / "ny4-trade-042.tar.gz"
    path.write_bytes(base.archive(tree))
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert "hftinfra/meta.json" in names or "./hftinfra/meta.json" in names
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == set(tree.paths())
        for name, m in members.items():
            kind = tree.kind(name)
            if m.issym():
                assert kind == "link" and m.linkname == tree.readlink(name), name
            elif m.isdir():
                assert kind == "dir", name
            else:
                assert kind == "file" and tar.extractfile(m).read() == tree.read(name), name
            assert m.mtime == members["hftinfra/meta.json"].mtime and m.uid == 0
    snap = open_host(path)
    assert snap.readlink("/sys/class/net/ens1f0").startswith("../../devices/pci0000:30/0000:30:02.0/0000:31:00.0")
    assert snap.read("/sys/class/net/ens1f0/device/numa_node") == "0"
    assert snap.read("/sys/class/dmi/id/bios_version") != "1.10.2"


def test_base_from_an_archive(tmp_path, base):
    """A base given as a .tar.gz, holding /etc/hostname too: that file is renamed as well."""
    tree = base.tree.variant()
    tree.write("etc/hostname", BASE_HOSTNAME)
    archive = tmp_path / "base.tar.gz"
    archive.write_bytes(base.archive(tree))
    (host,) = make_fleet(tmp_path / "f", count=1, base=archive, drift_share=0.0)
    snap = open_host(host.path)
    assert snap.read("/etc/hostname") == snap.read("/proc/sys/kernel/hostname") == "ny4-trade-001"
    assert json.loads((tmp_path / "f/manifest.json").read_text())["base"] == str(archive)


def test_drifted_files_look_like_the_kernel_wrote_them(base):
    tree = make_host(base, "ny4-trade-050", list(DRIFTS))
    assert not base.tree.dirty  # drifts change the variant only
    assert tree.text("sys/kernel/mm/transparent_hugepage/enabled") == "[always] madvise never"
    assert tree.text("sys/kernel/mm/transparent_hugepage/defrag") == "[always] defer defer+madvise madvise never"
    irqbalance = [p for p in tree.listdir("proc") if p.isdigit() and tree.text(f"proc/{p}/comm") == "irqbalance"]
    assert len(irqbalance) == 1
    assert b"IRQBALANCE_BANNED_CPULIST=\0" in tree.read(f"proc/{irqbalance[0]}/environ")
    # The queue vectors now land on isolated CPUs, and all four affinity files agree.
    isolated = {9, 10, 11, 12, 13, 14, 15, 25, 26, 27, 28, 29, 30, 31}
    landed = set()
    for irq in range(125, 133):
        eff = tree.text(f"proc/irq/{irq}/effective_affinity_list")
        assert int(tree.text(f"proc/irq/{irq}/effective_affinity"), 16) == 1 << int(eff)
        landed.add(int(eff))
    assert landed & isolated
    state = [tree.text(f"sys/devices/system/cpu/cpu{c}/cpuidle/state3/{f}") for c in (0, 9) for f in ("name", "disable")]
    assert state == ["C6", "0", "C6", "0"]
    assert tree.read("dev/cpu_dma_latency") == (2_000_000_000).to_bytes(4, "little")
    entries = tree.listdir("boot/loader/entries")
    assert len(entries) == 2
    saved = re.search(r"saved_entry=(\S+)", tree.text("boot/grub2/grubenv")).group(1)
    assert f"{saved}.conf" in entries and len(tree.read("boot/grub2/grubenv")) == 1024
    assert "isolcpus" not in tree.text(f"boot/loader/entries/{saved}.conf")
    assert "isolcpus" in tree.text("proc/cmdline")
