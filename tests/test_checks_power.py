"""The power checks (governor, P-state floor, turbo, EPP, C-states, PM QoS) where their
verdict depends on more than one file: the P-state floor and EPP only matter while the
frequency can drop, and the deepest usable idle state follows both PM QoS limits."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_checks import CPU, tuned_host_with

from hftinfra.audit import run_audit
from hftinfra.cpu import parse_resume_latency, read_idle
from hftinfra.host import Reason, Unread, open_host

NO_REQUEST = struct.pack("<i", 2_000_000_000)


def _percpu(tail: str, value: str, cpus=range(8)) -> dict:
    return {f"{CPU}/cpu{n}/{tail}": value for n in cpus}


@pytest.fixture
def host_from(tmp_path):
    counter = iter(range(1000))

    return lambda changes: tuned_host_with(tmp_path / f"p{next(counter)}", changes)


def finding(host, check_id):
    return run_audit(host, "hft-isolated").finding(check_id)


POWERSAVE = _percpu("cpufreq/scaling_governor", "powersave")
LOW_FLOOR = {f"{CPU}/intel_pstate/min_perf_pct": "30"}


# ---- cpu.pstate_min_perf ----------------------------------------------------------------

def test_low_floor_under_performance_governor_is_skipped_as_immaterial(host_from):
    f = finding(host_from(LOW_FLOOR), "cpu.pstate_min_perf")
    assert f.status == "skip", (f.observed, f.message)
    assert f.observed == "30%"
    assert "does not matter" in f.message and "performance governor" in f.message
    assert f.fix is None


def test_low_floor_under_powersave_fails_and_says_why_it_matters(host_from):
    f = finding(host_from({**LOW_FLOOR, **POWERSAVE}), "cpu.pstate_min_perf")
    assert f.status == "fail", (f.observed, f.message)
    assert "powersave" in f.message and "0-7" in f.message
    assert "echo 100 > /sys/devices/system/cpu/intel_pstate/min_perf_pct" in f.fix


def test_full_floor_passes_whatever_the_governor(host_from):
    assert finding(host_from(POWERSAVE), "cpu.pstate_min_perf").status == "pass"


def test_equal_scaling_limits_hold_the_range_too(host_from):
    limits = {**_percpu("cpufreq/scaling_min_freq", "3000000"), **_percpu("cpufreq/scaling_max_freq", "3000000")}
    f = finding(host_from({**LOW_FLOOR, **POWERSAVE, **limits}), "cpu.pstate_min_perf")
    assert f.status == "skip", (f.observed, f.message)
    assert "scaling_min_freq = scaling_max_freq" in f.message


def test_low_floor_with_an_unread_governor_is_unknown(host_from):
    host = host_from({**LOW_FLOOR, f"{CPU}/cpu5/cpufreq/scaling_governor": None,
                      f"{CPU}/cpufreq/policy5/scaling_governor": None})
    f = finding(host, "cpu.pstate_min_perf")
    assert f.status == "unknown", (f.observed, f.message)
    assert f.message.startswith("could not read") and "cpu5/cpufreq/scaling_governor" in f.message


# ---- cpu.epp ------------------------------------------------------------------------------

BALANCE_POWER = _percpu("cpufreq/energy_performance_preference", "balance_power")


def test_epp_under_performance_governor_is_not_judged(host_from):
    f = finding(host_from(BALANCE_POWER), "cpu.epp")
    assert f.status == "skip", (f.observed, f.message)
    assert "not used" in f.message and "balance_power" in f.observed


def test_epp_where_the_frequency_can_drop_warns(host_from):
    f = finding(host_from({**BALANCE_POWER, **POWERSAVE, **LOW_FLOOR}), "cpu.epp")
    assert f.status == "warn", (f.observed, f.message)
    assert "whose frequency can drop" in f.message
    assert "energy_performance_preference" in f.fix


def test_epp_under_a_full_floor_is_not_judged(host_from):
    f = finding(host_from({**BALANCE_POWER, **POWERSAVE}), "cpu.epp")
    assert f.status == "skip", (f.observed, f.message)
    assert "min_perf_pct 100" in f.message


def test_epp_performance_under_powersave_passes(host_from):
    f = finding(host_from({**POWERSAVE, **LOW_FLOOR}), "cpu.epp")
    assert f.status == "pass", (f.observed, f.message)


def test_epp_is_judged_only_on_cpus_whose_frequency_can_drop(host_from):
    changes = {**LOW_FLOOR, **_percpu("cpufreq/scaling_governor", "powersave", range(4)),
               **_percpu("cpufreq/energy_performance_preference", "balance_power", range(4, 8))}
    f = finding(host_from(changes), "cpu.epp")
    assert f.status == "pass", (f.observed, f.message)
    assert "balance_power on 4-7" in f.observed and "not on 4-7" in f.message


def test_missing_epp_where_it_matters_is_unknown(host_from):
    changes = {**POWERSAVE, **LOW_FLOOR, f"{CPU}/cpu3/cpufreq/energy_performance_preference": None}
    f = finding(host_from(changes), "cpu.epp")
    assert f.status == "unknown", (f.observed, f.message)
    assert "cpu3/cpufreq/energy_performance_preference" in f.message


# ---- cpu.turbo ----------------------------------------------------------------------------

def test_turbo_fix_says_tuned_turns_it_on(host_from):
    f = finding(host_from({f"{CPU}/intel_pstate/no_turbo": "0"}), "cpu.turbo")
    assert f.status == "warn"
    assert "echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo" in f.fix
    assert "boost=0" in f.fix and "boost=1" in f.fix


# ---- cpu.cstates and the per-CPU resume latency -----------------------------------------

C6_ON = {**_percpu("cpuidle/state2/disable", "0"), "/dev/cpu_dma_latency": NO_REQUEST}


def test_parse_resume_latency():
    assert parse_resume_latency("0\n") is None
    assert parse_resume_latency("n/a\n") == 0
    assert parse_resume_latency("25") == 25
    with pytest.raises(ValueError):
        parse_resume_latency("-3")
    with pytest.raises(ValueError):
        parse_resume_latency("soon")


@given(st.text(max_size=20))
def test_parse_resume_latency_never_crashes_otherwise(text):
    try:
        v = parse_resume_latency(text)
    except ValueError:
        return
    assert v is None or (isinstance(v, int) and v > 0) or v == 0


def test_no_constraint_per_cpu_leaves_c6_usable(host_from):
    f = finding(host_from({**C6_ON, **_percpu("power/pm_qos_resume_latency_us", "0")}), "cpu.cstates")
    assert f.status == "fail", (f.observed, f.message)
    assert f.observed == "170 us on all 8 CPUs"


def test_per_cpu_resume_latency_limits_only_its_cpus(host_from):
    changes = {**C6_ON, **_percpu("power/pm_qos_resume_latency_us", "0"),
               **_percpu("power/pm_qos_resume_latency_us", "n/a", (2, 3, 6, 7))}
    f = finding(host_from(changes), "cpu.cstates")
    assert f.status == "fail", (f.observed, f.message)
    assert f.observed == "170 us on 0-1,4-5; 0 us on 2-3,6-7"
    assert "on CPUs 0-1,4-5" in f.message and "0 us on 2-3,6-7" in f.message


def test_per_cpu_resume_latency_below_c6_passes(host_from):
    f = finding(host_from({**C6_ON, **_percpu("power/pm_qos_resume_latency_us", "20")}), "cpu.cstates")
    assert f.status == "pass", (f.observed, f.message)
    assert f.observed == "2 us on all 8 CPUs" and "per-CPU resume latency limit 20 us" in f.message


def test_smaller_of_global_and_per_cpu_limit_applies(host_from):
    changes = {**C6_ON, "/dev/cpu_dma_latency": struct.pack("<i", 1),
               **_percpu("power/pm_qos_resume_latency_us", "200")}
    f = finding(host_from(changes), "cpu.cstates")
    assert f.status == "pass" and f.observed == "0 us on all 8 CPUs", (f.observed, f.message)


def test_unreadable_per_cpu_limit_with_c6_enabled_is_unknown(host_from):
    f = finding(host_from({**C6_ON, **_percpu("power/pm_qos_resume_latency_us", "soon")}), "cpu.cstates")
    assert f.status == "unknown", (f.observed, f.message)
    assert f.message.startswith("could not read") and "pm_qos_resume_latency_us" in f.message
    assert "170 us" in f.message


def test_unreadable_per_cpu_limit_cannot_make_shallow_states_deeper(host_from):
    f = finding(host_from(_percpu("power/pm_qos_resume_latency_us", "soon")), "cpu.cstates")
    assert f.status == "pass", (f.observed, f.message)


NO_PER_CPU = {f"{CPU}/cpu{n}/power": None for n in range(8)}


def test_per_cpu_limits_a_snapshot_did_not_hold_are_unknown(host_from):
    # Every CONFIG_PM kernel has the files, and a snapshot keeps only what was read: missing
    # there is not "this kernel has none".
    f = finding(host_from({**C6_ON, **NO_PER_CPU}), "cpu.cstates")
    assert f.status == "unknown", (f.observed, f.message)
    assert "pm_qos_resume_latency_us" in f.message


def test_kernel_without_per_cpu_files_is_judged_on_the_global_limit(host_from):
    config = {"/boot/config-6.12.43+deb13-amd64": "CONFIG_HZ=1000\n# CONFIG_PM is not set\n"}
    f = finding(host_from({**C6_ON, **NO_PER_CPU, **config}), "cpu.cstates")
    assert f.status == "fail", (f.observed, f.message)
    assert "CONFIG_PM is not set" in f.message


def test_cstates_fix_offers_the_per_cpu_limit(host_from):
    f = finding(host_from(C6_ON), "cpu.cstates")
    assert "echo 2 > /sys/devices/system/cpu/cpuN/power/pm_qos_resume_latency_us" in f.fix
    assert "intel_idle.max_cstate=1" in f.fix


# ---- the idle probe and where its limits come from --------------------------------------

def test_idle_probe_reads_the_limits(host_from):
    host = host_from({**_percpu("power/pm_qos_resume_latency_us", "0"),
                      f"{CPU}/cpu2/power/pm_qos_resume_latency_us": "n/a",
                      "/sys/module/intel_idle/parameters/states_off": "8"})
    idle = read_idle(host)
    assert [c.resume_latency_us for c in idle.cpus[:3]] == [None, None, 0]
    assert idle.intel_idle_states_off == 8
    assert f"{CPU}/cpu*/power/pm_qos_resume_latency_us" in idle.sources
    rows = {r.limit: r for r in idle.limits().rows}
    assert rows["PM QoS, per CPU"].value == "0 (no constraint) on 0-1,3-7; n/a (0 us: the polling state only) on 2"
    assert rows["intel_idle.states_off"].value == 8
    assert "<table>" in idle.limits()._repr_html_()


def test_unread_limits_show_as_unknown_never_as_none(host_from):
    idle = read_idle(host_from(NO_PER_CPU))  # no /sys/module, no cpuN/power
    rows = {r.limit: r for r in idle.limits().rows}
    states_off = rows["intel_idle.states_off"].value
    assert isinstance(states_off, Unread) and states_off.reason is Reason.MISSING
    assert rows["PM QoS, per CPU"].value == "unknown (missing)"
    assert "no constraint" not in idle.limits()._repr_html_()


@pytest.mark.live
def test_live_resume_latency_matches_sysfs():
    import os

    idle = read_idle(open_host(None))
    for c in idle.cpus:
        path = f"{CPU}/cpu{c.cpu}/power/pm_qos_resume_latency_us"
        if not os.path.exists(path):
            assert isinstance(c.resume_latency_us, Unread)
            continue
        with open(path) as fh:
            text = fh.read().strip()
        expected = None if text == "0" else 0 if text == "n/a" else int(text)
        assert c.resume_latency_us == expected
