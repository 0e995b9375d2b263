"""Profiles: the shipped chain, includes and overrides, variables, and one clear line for
every mistake (naming the file and the key)."""

from __future__ import annotations

import pytest

from hftinfra.checks import catalog
from hftinfra.profiles import (
    ProfileError,
    load_profile,
    parse_var_overrides,
    shipped_profiles,
)


def test_shipped_profiles_load_and_chain():
    assert shipped_profiles() == ["hft-isolated", "latency-performance", "network-latency"]
    lp = load_profile("latency-performance")
    nl = load_profile("network-latency")
    hft = load_profile("hft-isolated")
    assert lp.chain == ("latency-performance",)
    assert nl.chain == ("latency-performance", "network-latency")
    assert hft.chain == ("latency-performance", "network-latency", "hft-isolated")
    # Each layer adds to the one it includes.
    assert set(lp.rules) < set(nl.rules) < set(hft.rules)
    assert set(hft.rules) == set(catalog()), "hft-isolated judges every check in the catalog"
    assert hft.rules["memory.swappiness"].defined_in.endswith("latency-performance.yaml")


def test_every_shipped_value_has_reason_and_source():
    for name in shipped_profiles():
        for rule in load_profile(name).rules.values():
            assert rule.reason and "\n" not in rule.reason, (name, rule.check_id)
            assert rule.sources and all(s.strip() for s in rule.sources), (name, rule.check_id)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_user_profile_includes_and_overrides(tmp_path):
    p = write(tmp_path, "ours.yaml", """
summary: our desks
include: hft-isolated
checks:
  memory.swappiness:
    expect: "<=1"
    reason: we never want swap-outs
  cpu.turbo:
    enabled: false
""")
    prof = load_profile(str(p))
    assert prof.chain[-1] == "ours" and prof.chain[:-1] == load_profile("hft-isolated").chain
    rule = prof.rules["memory.swappiness"]
    assert rule.expect == "<=1" and rule.reason == "we never want swap-outs"
    # The source came from the included profile: overrides merge key by key.
    assert any("vm.rst" in s for s in rule.sources)
    assert "cpu.turbo" not in prof.rules
    assert prof.variables["isolated_cpus"].default_from == "host.isolated_cpus"


def test_relative_include_between_user_files(tmp_path):
    write(tmp_path, "base.yaml", "checks:\n  memory.ksm:\n    expect: 0\n    reason: r\n    source: s\n")
    p = write(tmp_path, "child.yaml", "include: ./base.yaml\n")
    assert "memory.ksm" in load_profile(str(p)).rules


@pytest.mark.parametrize("files,entry,needle", [
    ({"a.yaml": "include: ./b.yaml\n", "b.yaml": "include: ./a.yaml\n"}, "a.yaml", "include cycle"),
    ({"a.yaml": "include: ./a.yaml\n"}, "a.yaml", "include cycle"),
    ({"a.yaml": "include: nope-profile\n"}, "a.yaml", "unknown profile 'nope-profile'"),
    ({"a.yaml": "include: ./missing.yaml\n"}, "a.yaml", "no such profile file"),
    ({"a.yaml": "chekcs: {}\n"}, "a.yaml", "chekcs: unknown key; did you mean 'checks'?"),
    ({"a.yaml": "checks:\n  memory.swapiness:\n    expect: 1\n    reason: r\n    source: s\n"}, "a.yaml",
     "checks.memory.swapiness: unknown check; did you mean 'memory.swappiness'?"),
    ({"a.yaml": "checks:\n  memory.swappiness:\n    expect: lots\n    reason: r\n    source: s\n"}, "a.yaml",
     "checks.memory.swappiness.expect: expected an integer"),
    ({"a.yaml": "checks:\n  memory.swappiness:\n    expect: 1\n    reason: r\n    sorce: s\n"}, "a.yaml",
     "checks.memory.swappiness.sorce: unknown key; did you mean 'source'?"),
    ({"a.yaml": "checks:\n  memory.swappiness:\n    expect: 1\n    reason: r\n"}, "a.yaml",
     "checks.memory.swappiness.source: missing"),
    ({"a.yaml": "checks:\n  memory.swappiness:\n    expect: 1\n    source: s\n"}, "a.yaml",
     "checks.memory.swappiness.reason: missing"),
    ({"a.yaml": "checks:\n  memory.swappiness:\n    expect: 1\n    reason: 5\n    source: s\n"}, "a.yaml",
     "checks.memory.swappiness.reason: expected one line of text"),
    ({"a.yaml": "checks:\n  memory.swappiness:\n    expect: 1\n    reason: r\n    source: s\n"
                "    severity: fatal\n"}, "a.yaml", "severity: 'fatal' is not one of fail, warn"),
    ({"a.yaml": "checks:\n  cpu.nohz_full:\n    expect: '${cpus}'\n    reason: r\n    source: s\n"}, "a.yaml",
     "checks.cpu.nohz_full.expect: unknown variable ${cpus}"),
    ({"a.yaml": "checks:\n  memory.dirty:\n    expect: {dirty_ratoi: 5}\n    reason: r\n    source: s\n"},
     "a.yaml", "dirty_ratoi: unknown field; did you mean 'dirty_ratio'?"),
    ({"a.yaml": "checks:\n  memory.dirty:\n    expect: 5\n    reason: r\n    source: s\n"},
     "a.yaml", "memory.dirty.expect: expected a mapping"),
    ({"a.yaml": ""}, "a.yaml", "a.yaml: no checks and no include"),
    ({"a.yaml": "summary: ours\nchecks: {}\n"}, "a.yaml", "a.yaml: no checks and no include"),
    ({"a.yaml": "include: ./b.yaml\n", "b.yaml": "# nothing yet\n"}, "a.yaml", "b.yaml: no checks and no include"),
    ({"a.yaml": "include: ./sub\n", "sub/x.yaml": "include: hft-isolated\n"}, "a.yaml", "is a directory"),
    ({"a.yaml": "variables:\n  x:\n    type: cpuset\n    default: banana\n"}, "a.yaml",
     "variables.x.default: expected a cpulist"),
    ({"a.yaml": "variables:\n  x:\n    type: float\n"}, "a.yaml", "variables.x.type: 'float' is not one of"),
    ({"a.yaml": "variables:\n  x:\n    default_from: host.magic\n"}, "a.yaml", "default_from: 'host.magic'"),
    ({"a.yaml": "- just\n- a list\n"}, "a.yaml", "a profile is a mapping"),
    ({"a.yaml": "checks: [\n"}, "a.yaml", "not valid YAML at line"),
    ({"a.yaml": "include: 5\n"}, "a.yaml", "include: expected a profile name"),
    # YAML booleans and floats where the check's kind cannot hold them (true would become 1).
    ({"a.yaml": "include: hft-isolated\nchecks:\n  memory.swappiness:\n    expect: true\n"}, "a.yaml",
     "a.yaml: checks.memory.swappiness.expect: expected an integer, got a boolean"),
    ({"a.yaml": "include: hft-isolated\nchecks:\n  memory.swappiness:\n    expect: [10, yes]\n"}, "a.yaml",
     "checks.memory.swappiness.expect: expected an integer, got a boolean"),
    ({"a.yaml": "include: hft-isolated\nchecks:\n  memory.swappiness:\n    expect: 1.5\n"}, "a.yaml",
     "checks.memory.swappiness.expect: expected an integer, got the number 1.5"),
    ({"a.yaml": "include: hft-isolated\nchecks:\n  memory.swappiness:\n    expect: [[1, 2]]\n"}, "a.yaml",
     "checks.memory.swappiness.expect: expected an integer, got a list"),
    ({"a.yaml": "include: hft-isolated\nchecks:\n  cpu.workqueue_mask:\n    expect: yes\n"}, "a.yaml",
     "checks.cpu.workqueue_mask.expect: expected a cpulist or 0x mask, got a boolean"),
    ({"a.yaml": "include: hft-isolated\nchecks:\n  cpu.isolated:\n    expect: {flags: on}\n"}, "a.yaml",
     "checks.cpu.isolated.expect: flags: expected a comma-separated list of words, got a boolean"),
    ({"a.yaml": "include: hft-isolated\nchecks:\n  kernel.watchdog:\n    expect: 2\n"}, "a.yaml",
     "checks.kernel.watchdog.expect: expected on/off (1/0, yes/no), got 2"),
    ({"a.yaml": "include: hft-isolated\nchecks:\n  kernel.sched_rt_runtime:\n    warn: false\n"}, "a.yaml",
     "checks.kernel.sched_rt_runtime.warn: expected an integer, got a boolean"),
    ({"a.yaml": "variables:\n  x:\n    type: cpuset\n    default: true\n"}, "a.yaml",
     "variables.x.default: expected a cpulist or 0x mask, got a boolean"),
    ({"a.yaml": "variables:\n  x:\n    type: int\n    default: off\n"}, "a.yaml",
     "variables.x.default: expected an integer, got a boolean"),
])
def test_profile_mistakes_are_one_clear_line(tmp_path, files, entry, needle):
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(ProfileError) as exc:
        load_profile(str(tmp_path / entry))
    msg = str(exc.value)
    assert needle in msg
    assert "\n" not in msg
    assert ".yaml" in msg or "profile" in msg  # names the file


def test_profile_with_every_check_disabled_is_an_error(tmp_path):
    base = load_profile("latency-performance")
    text = "include: latency-performance\nchecks:\n" + "".join(
        f"  {cid}:\n    enabled: false\n" for cid in base.rules)
    with pytest.raises(ProfileError, match="a.yaml: no checks left"):
        load_profile(str(write(tmp_path, "a.yaml", text)))


def test_unknown_shipped_name_suggests():
    with pytest.raises(ProfileError, match="did you mean 'network-latency'"):
        load_profile("network-latncy")


def test_var_overrides():
    prof = load_profile("hft-isolated")
    assert parse_var_overrides(prof, ["isolated_cpus=2-7"]) == {"isolated_cpus": frozenset(range(2, 8))}
    assert parse_var_overrides(prof, ["housekeeping_cpus=0x3"]) == {"housekeeping_cpus": frozenset({0, 1})}
    for bad, needle in (("isolated_cpus", "expected NAME=VALUE"), ("nope=1", "no such variable"),
                        ("isolated_cpus=7-2", "expected a cpulist")):
        with pytest.raises(ProfileError, match=needle):
            parse_var_overrides(prof, [bad])
    with pytest.raises(ProfileError, match="no such variable"):
        parse_var_overrides(load_profile("network-latency"), ["isolated_cpus=1"])
