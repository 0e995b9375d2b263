"""cpulists and cpumasks as the kernel writes and accepts them (hftinfra.cpulist)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.cpulist import (
    format_cpulist,
    format_cpumask,
    parse_cpulist,
    parse_cpumask,
    parse_isolcpus,
)

cpu_sets = st.frozensets(st.integers(min_value=0, max_value=1023), max_size=200)


@pytest.mark.parametrize("text, cpus", [
    ("0-1", {0, 1}),  # /sys/devices/system/cpu/online on this project's VM
    ("", set()),  # /sys/devices/system/cpu/isolated with nothing isolated
    ("1,2-7,9", {1, 2, 3, 4, 5, 6, 7, 9}),  # procfs fixture's isolated
    ("9-15,25-31", set(range(9, 16)) | set(range(25, 32))),
    ("0-15:2/4", {0, 1, 4, 5, 8, 9, 12, 13}),  # kernel-parameters.rst "cpu lists" example
    ("0-3:1/4", {0}),
    ("2-7:3/3", {2, 3, 4, 5, 6, 7}),  # a full stride is the plain range
    ("7", {7}),
    ("0-7\n", set(range(8))),
])
def test_parse_cpulist_samples(text, cpus):
    assert parse_cpulist(text) == frozenset(cpus)


def test_n_is_the_last_cpu():
    assert parse_cpulist("2-N", nr_cpus=8) == frozenset(range(2, 8))
    assert parse_cpulist("N", nr_cpus=384) == frozenset({383})
    with pytest.raises(ValueError):
        parse_cpulist("2-N")


def test_all_is_every_cpu():
    # kernel-parameters.rst, "cpu lists": "nohz_full=all" is "nohz_full=0-N", case-tolerant.
    assert parse_cpulist("all", nr_cpus=8) == frozenset(range(8))
    assert parse_cpulist("ALL", nr_cpus=2) == frozenset({0, 1})
    assert parse_cpulist("all,3", nr_cpus=4) == frozenset(range(4))
    # lib/bitmap.c takes a stride after 'all' (commit b18def121f07: rcu_nocbs=all:1/2).
    assert parse_cpulist("all:1/2", nr_cpus=8) == frozenset({0, 2, 4, 6})
    with pytest.raises(ValueError, match="needs the number of CPUs"):
        parse_cpulist("all")
    _, cpus = parse_isolcpus("domain,all", nr_cpus=4)
    assert cpus == frozenset(range(4))
    for bad in ("all-3", "alll", "all:0/2", "all:1/", "1-all"):
        with pytest.raises(ValueError):
            parse_cpulist(bad, nr_cpus=8)


@pytest.mark.parametrize("bad", ["a", "1-", "-1", "3-1", "0-15:0/4", "0-15:5/4", "0-15:2/0", "1,,2", "0x3",
                                 "1 2", "0-99999999"])
def test_parse_cpulist_refuses(bad):
    with pytest.raises(ValueError):
        parse_cpulist(bad)


@pytest.mark.parametrize("cpus, text", [
    ({0, 1, 2, 3, 8}, "0-3,8"), (set(), ""), ({5}, "5"), ({0, 2, 4}, "0,2,4"),
    (set(range(9, 16)) | set(range(25, 32)), "9-15,25-31"),
])
def test_format_cpulist(cpus, text):
    assert format_cpulist(cpus) == text


@pytest.mark.parametrize("text, flags, cpus", [
    ("managed_irq,domain,9-15,25-31", {"managed_irq", "domain"}, set(range(9, 16)) | set(range(25, 32))),
    ("2-7", {"domain"}, set(range(2, 8))),  # no flag: the kernel implies domain
    ("nohz,domain,1-3", {"nohz", "domain"}, {1, 2, 3}),
    ("domain,managed_irq,0", {"managed_irq", "domain"}, {0}),
])
def test_parse_isolcpus(text, flags, cpus):
    assert parse_isolcpus(text) == (frozenset(flags), frozenset(cpus))


@pytest.mark.parametrize("text, cpus", [
    ("3", {0, 1}),  # 2-CPU VM: the kernel prints only the bits it has
    ("00010001", {0, 16}),  # thread_siblings on a 32-CPU host
    ("01ff01ff", set(range(0, 9)) | set(range(16, 25))),
    ("ffffffff,00000000,0000000f", {0, 1, 2, 3} | set(range(64, 96))),
    ("00000000,00000000,00000001", {0}),
    ("0xff", set(range(8))),
    ("FF", set(range(8))),
])
def test_parse_cpumask_samples(text, cpus):
    assert parse_cpumask(text) == frozenset(cpus)


@pytest.mark.parametrize("bad", ["", "zz", "ff,zz", "123456789", "ff,,ff", "0x", "f f"])
def test_parse_cpumask_refuses(bad):
    with pytest.raises(ValueError):
        parse_cpumask(bad)


def test_format_cpumask_pads_groups():
    assert format_cpumask({0, 64}, nr_cpus=96) == "00000001,00000000,00000001"
    assert format_cpumask(set(), nr_cpus=384).count(",") == 11
    assert format_cpumask({383}, nr_cpus=384).startswith("80000000,")


@given(cpu_sets)
def test_cpulist_round_trip(cpus):
    assert parse_cpulist(format_cpulist(cpus)) == cpus


@given(cpu_sets)
def test_cpumask_round_trip(cpus):
    text = format_cpumask(cpus)
    assert parse_cpumask(text) == cpus
    groups = text.split(",")
    # The kernel pads every group but the most significant one to 8 digits.
    assert all(len(g) == 8 for g in groups[1:]) and 1 <= len(groups[0]) <= 8


@given(cpu_sets, st.integers(min_value=1, max_value=2048))
def test_cpumask_round_trip_with_width(cpus, nr):
    assert parse_cpumask(format_cpumask(cpus, nr_cpus=nr)) == cpus


@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 16), st.integers(1, 16))
def test_stride_matches_its_definition(a, length, used, size):
    """kernel-parameters.rst: ``a-b:used/group`` takes the first ``used`` CPUs of each
    group of ``group`` CPUs starting at ``a``, never past ``b``."""
    b = a + length
    if used > size:
        with pytest.raises(ValueError):
            parse_cpulist(f"{a}-{b}:{used}/{size}")
        return
    expected = {c for c in range(a, b + 1) if (c - a) % size < used}
    assert parse_cpulist(f"{a}-{b}:{used}/{size}") == frozenset(expected)


@settings(max_examples=300)
@given(st.text())
def test_cpulist_parsers_only_raise_valueerror(text):
    for parse in (parse_cpulist, parse_cpumask, parse_isolcpus):
        try:
            parse(text)
        except ValueError:
            pass


@settings(max_examples=300)
@given(st.text(alphabet="0123456789,-:/N abcdefxlL", max_size=30))
def test_cpulist_near_misses_only_raise_valueerror(text):
    for parse in (parse_cpulist, parse_cpumask, parse_isolcpus):
        try:
            result = parse(text) if parse is not parse_cpulist else parse(text, nr_cpus=64)
        except ValueError:
            continue
        cpus = result[1] if parse is parse_isolcpus else result
        assert all(isinstance(c, int) and c >= 0 for c in cpus)


def test_same_cpus_reads_each_form():
    from hftinfra.cpulist import same_cpus

    assert same_cpus("ff", "000000ff", "mask") and same_cpus("00000000,000000f0", "f0", "mask")
    assert same_cpus("0-3", "0,1,2,3", "cpulist") and not same_cpus("0-3", "0-4", "cpulist")
    assert not same_cpus("zz", "zz", "mask") and not same_cpus("0-3", "ff", "cpulist")
