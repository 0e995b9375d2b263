"""Pure parsers: literal samples as the kernel writes them, and property tests that they
never crash on arbitrary text (ValueError is their only way to refuse) and round-trip
where the format allows."""

from __future__ import annotations

import gzip
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.kernel import decompress_config, kconfig_preempt_model, version_flags
from hftinfra.memory import hugepage_size_kb, parse_distance, parse_memory_cmdline
from hftinfra.parsers import (
    parse_bracketed_choice,
    parse_cmdline,
    parse_cmdline_pairs,
    parse_cpuinfo,
    parse_int,
    parse_kconfig,
    parse_marked_choice,
    parse_meminfo,
    parse_memsize,
    parse_swaps,
    parse_words,
    sysctl_name,
    sysctl_path,
    vulnerability_state,
)

# ---- literal samples ---------------------------------------------------------------------

MEMINFO = """\
MemTotal:       24684096 kB
MemFree:        24296924 kB
MemAvailable:   24298000 kB
Active(anon):       1540 kB
AnonHugePages:         0 kB
HugePages_Total:       4
HugePages_Free:        3
HugePages_Rsvd:        1
HugePages_Surp:        0
Hugepagesize:    1048576 kB
Hugetlb:         4194304 kB
DirectMap1G:    25165824 kB
"""

NODE_MEMINFO = """\
Node 1 MemTotal:       134217728 kB
Node 1 MemFree:        39634788 kB
Node 1 MemUsed:        94582940 kB
Node 1 Active(file):    5014032 kB
Node 1 HugePages_Total:     8
Node 1 HugePages_Free:      8
Node 1 HugePages_Surp:      0
"""


def test_meminfo_sample():
    info = parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 24684096
    assert info["Active(anon)"] == 1540
    assert info["HugePages_Total"] == 4
    assert info["HugePages_Rsvd"] == 1
    assert info["Hugepagesize"] == 1048576
    assert len(info) == 12


def test_node_meminfo_drops_the_node_prefix():
    info = parse_meminfo(NODE_MEMINFO)
    assert info == {"MemTotal": 134217728, "MemFree": 39634788, "MemUsed": 94582940,
                    "Active(file)": 5014032, "HugePages_Total": 8, "HugePages_Free": 8,
                    "HugePages_Surp": 0}


@pytest.mark.parametrize("bad", ["", "\n\n", "MemTotal: lots kB", "garbage line", "MemTotal 12 kB"])
def test_meminfo_refuses_what_it_cannot_read(bad):
    with pytest.raises(ValueError):
        parse_meminfo(bad)


@pytest.mark.parametrize("name, path", [
    ("vm.swappiness", "/proc/sys/vm/swappiness"),
    ("kernel.numa_balancing", "/proc/sys/kernel/numa_balancing"),
    ("net.ipv4.conf.eth0/1.rp_filter", "/proc/sys/net/ipv4/conf/eth0.1/rp_filter"),
    ("net/ipv4/conf/eth0.1/rp_filter", "/proc/sys/net/ipv4/conf/eth0.1/rp_filter"),
    ("kernel/domainname", "/proc/sys/kernel/domainname"),
    ("fs.file-max", "/proc/sys/fs/file-max"),
])
def test_sysctl_path_as_sysctl_d_reads_it(name, path):
    assert sysctl_path(name) == path


@pytest.mark.parametrize("bad", ["", "vm..swappiness", ".vm", "vm.", "vm/../../etc/passwd",
                                 "../etc", "vm. swappiness", "a/./b"])
def test_sysctl_path_refuses_escapes_and_empty_parts(bad):
    with pytest.raises(ValueError):
        sysctl_path(bad)


def test_sysctl_name_is_what_sysctl_a_prints():
    assert sysctl_name("/proc/sys/net/ipv4/conf/eth0.1/rp_filter") == "net.ipv4.conf.eth0/1.rp_filter"
    assert sysctl_name("/proc/sys/vm/swappiness") == "vm.swappiness"
    with pytest.raises(ValueError):
        sysctl_name("/sys/kernel/mm/ksm/run")


SWAPS = (
    "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    "/dev/dm-1                               partition\t8388604\t\t0\t\t-2\n"
    "/swap\\040file                           file\t\t1048572\t\t2048\t\t-3\n"
)


def test_swaps_sample_with_an_escaped_space():
    assert parse_swaps(SWAPS) == [
        {"filename": "/dev/dm-1", "type": "partition", "size_kb": 8388604, "used_kb": 0, "priority": -2},
        {"filename": "/swap file", "type": "file", "size_kb": 1048572, "used_kb": 2048, "priority": -3},
    ]


def test_swaps_header_only_is_no_swap():
    assert parse_swaps("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n") == []


@pytest.mark.parametrize("bad", ["", "/dev/sda2 partition 10 0 -2", "Filename Type\n/dev/x partition ten 0 -2",
                                 "Filename Type\n/dev/x partition"])
def test_swaps_refuses(bad):
    with pytest.raises(ValueError):
        parse_swaps(bad)


@pytest.mark.parametrize("text, size", [("2M", 2 << 20), ("1G", 1 << 30), ("1GB", 1 << 30), ("4096", 4096),
                                        ("64k", 64 << 10), ("0x200000", 2 << 20), ("16g", 16 << 30)])
def test_memsize(text, size):
    assert parse_memsize(text) == size


@pytest.mark.parametrize("bad", ["", "G", "1X", "-1G", "1.5G", "1 G"])
def test_memsize_refuses(bad):
    with pytest.raises(ValueError):
        parse_memsize(bad)


KCONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.18.44 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"
CONFIG_NO_HZ_COMMON=y
CONFIG_NO_HZ_IDLE=y
# CONFIG_NO_HZ_FULL is not set
CONFIG_PREEMPT_NONE=y
# CONFIG_PREEMPT_VOLUNTARY is not set
# CONFIG_PREEMPT is not set
CONFIG_PREEMPT_DYNAMIC=y
CONFIG_HZ_250=y
CONFIG_HZ=250
CONFIG_KSM=m
"""


def test_kconfig_sample():
    opts = parse_kconfig(KCONFIG)
    assert opts["CONFIG_HZ"] == "250"
    assert opts["CONFIG_NO_HZ_FULL"] == "n"
    assert opts["CONFIG_PREEMPT"] == "n"
    assert opts["CONFIG_KSM"] == "m"
    assert opts["CONFIG_CC_VERSION_TEXT"] == "gcc (Debian 12.2.0-14) 12.2.0"
    assert kconfig_preempt_model(opts) == "none"


@pytest.mark.parametrize("options, model", [
    ({"CONFIG_PREEMPT_RT": "y", "CONFIG_PREEMPT": "n"}, "rt"),
    ({"CONFIG_PREEMPT_LAZY": "y"}, "lazy"),
    ({"CONFIG_PREEMPT": "y", "CONFIG_PREEMPT_NONE": "n"}, "full"),
    ({"CONFIG_PREEMPT_VOLUNTARY": "y"}, "voluntary"),
])
def test_kconfig_preempt_model(options, model):
    assert kconfig_preempt_model(options) == model


def test_kconfig_refuses_text_without_options():
    with pytest.raises(ValueError):
        parse_kconfig("# just a comment\nhello\n")
    with pytest.raises(ValueError):
        kconfig_preempt_model({"CONFIG_HZ": "250"})


def test_config_gz_decompress():
    assert decompress_config(gzip.compress(KCONFIG.encode())) == KCONFIG
    with pytest.raises(ValueError):
        decompress_config(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ValueError):
        decompress_config(gzip.compress(KCONFIG.encode())[:40])


@pytest.mark.parametrize("text, state", [
    ("Not affected", "not-affected"),
    ("Mitigation: Retpolines; STIBP: disabled; RSB filling; PBRSB-eIBRS: Not affected; BHI: Not affected",
     "mitigated"),
    ("Mitigation: usercopy/swapgs barriers and __user pointer sanitization", "mitigated"),
    ("Vulnerable", "vulnerable"),
    ("Vulnerable: Safe RET, no microcode", "vulnerable"),
    ("Vulnerable: Clear CPU buffers attempted, no microcode; SMT vulnerable", "vulnerable"),
    ("KVM: Mitigation: VMX unsupported", "mitigated"),
    ("KVM: Vulnerable", "vulnerable"),
    ("Unknown: Dependent on hypervisor status", "unknown"),
    ("Processor vulnerable", "vulnerable"),
    ("Something a future kernel says", "unknown"),
])
def test_vulnerability_state(text, state):
    assert vulnerability_state(text) == state


def test_marked_choice_as_debugfs_writes_it():
    # kernel/sched/debug.c, sched_dynamic_show: "(mode)" with a trailing space.
    assert parse_marked_choice("none voluntary (full) lazy \n") == ("full", ("none", "voluntary", "full", "lazy"))
    assert parse_marked_choice("(none) voluntary full ") == ("none", ("none", "voluntary", "full"))
    for bad in ("none voluntary full", "(none) (full)", "", "()"):
        with pytest.raises(ValueError):
            parse_marked_choice(bad)


def test_bracketed_choice_thp():
    assert parse_bracketed_choice("always defer defer+madvise [madvise] never") == (
        "madvise", ("always", "defer", "defer+madvise", "madvise", "never"))


def test_words_clocksource():
    assert parse_words("tsc hpet acpi_pm \n") == ("tsc", "hpet", "acpi_pm")


@pytest.mark.parametrize("version, flags", [
    ("#1 SMP PREEMPT_DYNAMIC @0", {"SMP", "PREEMPT_DYNAMIC"}),
    ("#1 SMP PREEMPT_RT Debian 6.1.99-1 (2024-07-15)", {"SMP", "PREEMPT_RT"}),
    ("#1 SMP PREEMPT RT Thu Aug 1 10:00:00 UTC 2019", {"SMP", "PREEMPT", "PREEMPT_RT"}),
    ("#161-Ubuntu SMP Tue Jul 22 14:25:40 UTC 2025", {"SMP"}),
    ("#1 SMP PREEMPT Sun Jan 23 19:27:23 UTC 2022 (c76af22)", {"SMP", "PREEMPT"}),
])
def test_version_flags(version, flags):
    assert version_flags(version) == flags


def test_cmdline_pairs_keep_order_and_repeats():
    text = "BOOT_IMAGE=/vmlinuz ro hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=512 quiet"
    assert parse_cmdline_pairs(text) == [
        ("BOOT_IMAGE", "/vmlinuz"), ("ro", None), ("hugepagesz", "1G"), ("hugepages", "4"),
        ("hugepagesz", "2M"), ("hugepages", "512"), ("quiet", None)]
    # parse_cmdline keeps only the last, which is why the pairs exist.
    assert parse_cmdline(text)["hugepages"] == "512"


# This project's VM (a Firecracker guest) boots with init's arguments after "--".
FIRECRACKER_CMDLINE = (
    "console=ttyS0 quiet reboot=k panic=1 nomodule swiotlb=noforce rdinit=/process_api -- "
    "--firecracker-init --addr 0.0.0.0:2024 --max-ws-buffer-size 32768 --auth-required")


def test_cmdline_stops_at_a_standalone_double_dash():
    # kernel-parameters.rst: 'Everything after "--" is passed as an argument to init.'
    args = parse_cmdline(FIRECRACKER_CMDLINE)
    assert list(args) == ["console", "quiet", "reboot", "panic", "nomodule", "swiotlb", "rdinit"]
    assert "--addr" not in args and "--firecracker-init" not in args
    assert parse_cmdline_pairs(FIRECRACKER_CMDLINE)[-1] == ("rdinit", "/process_api")
    assert parse_cmdline_pairs("hugepages=4 -- hugepages=8") == [("hugepages", "4")]
    assert parse_cmdline("ro\t--\tsingle") == {"ro": None}
    assert parse_cmdline("ro --") == {"ro": None}
    assert parse_cmdline("-- ro") == {}


def test_cmdline_double_dash_that_is_not_the_separator():
    # Inside quotes it is part of a value; glued to other text or given a value it is a word.
    assert parse_cmdline('dyndbg="file x -- +p" ro') == {"dyndbg": "file x -- +p", "ro": None}
    assert parse_cmdline('a="x -- y" -- init') == {"a": "x -- y"}
    assert parse_cmdline("--x ro a-- --=1") == {"--x": None, "ro": None, "a--": None, "--": "1"}
    assert parse_cmdline('x="unbalanced -- rest') == {"x": "unbalanced -- rest"}


def test_memory_cmdline_pairs_sizes_with_counts():
    p = parse_memory_cmdline("default_hugepagesz=1G hugepagesz=1G hugepages=16 hugepagesz=2M hugepages=1024 "
                             "transparent_hugepage=never numa_balancing=disable")
    assert [(r.size_kb, r.count) for r in p.hugepages] == [(1048576, 16), (2048, 1024)]
    assert p.default_hugepagesz_kb == 1048576
    assert p.transparent_hugepage == "never"
    assert p.numa_balancing == "disable"
    assert p.ignored == ()
    assert p.requested(1048576) == 16 and p.requested(2048) == 1024 and p.requested(4) is None


def test_memory_cmdline_first_hugepages_is_the_default_size():
    p = parse_memory_cmdline("hugepages=64 default_hugepagesz=1G")
    assert p.hugepages[0].size_kb is None and p.hugepages[0].count == 64
    assert p.requested(1048576) == 64
    # without default_hugepagesz=, the default size has to come from the running kernel
    q = parse_memory_cmdline("hugepages=64")
    assert q.requested(2048) is None and q.requested(2048, default_size_kb=2048) == 64


def test_memory_cmdline_node_format_and_bad_values():
    p = parse_memory_cmdline("hugepagesz=1G hugepages=0:0,1:8 hugepagesz=3Q hugepages=x hugepages=1:")
    assert p.hugepages[0].per_node == ((0, 0), (1, 8)) and p.hugepages[0].count == 8
    assert len(p.hugepages) == 1
    assert [i.split(":")[0] for i in p.ignored] == ["hugepagesz=3Q", "hugepages=x", "hugepages=1"]


def test_memory_cmdline_absent_params_are_none():
    p = parse_memory_cmdline("ro quiet")
    assert p.hugepages == () and p.default_hugepagesz_kb is None
    assert p.transparent_hugepage is None and p.numa_balancing is None


def test_small_pure_helpers():
    assert hugepage_size_kb("hugepages-1048576kB") == 1048576
    assert hugepage_size_kb("hugepages-2048kB") == 2048
    with pytest.raises(ValueError):
        hugepage_size_kb("demote")
    assert parse_distance("10 21\n") == (10, 21)
    with pytest.raises(ValueError):
        parse_distance("")
    assert parse_int("-1") == -1 and parse_int("0x10") == 16


def test_cpuinfo_flags_sample():
    blocks = parse_cpuinfo("processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc hypervisor\n\n"
                           "processor\t: 1\nflags\t\t: fpu tsc constant_tsc nonstop_tsc hypervisor\n")
    assert len(blocks) == 2 and "nonstop_tsc" in blocks[1]["flags"]


# ---- properties --------------------------------------------------------------------------

ANY_TEXT = st.text(max_size=400)
PARSERS = [parse_meminfo, parse_swaps, parse_kconfig, parse_memsize, parse_marked_choice,
           parse_bracketed_choice, sysctl_path, sysctl_name, parse_distance, hugepage_size_kb,
           parse_int, parse_cpuinfo]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda f: f.__name__)
@settings(max_examples=150, deadline=None)
@given(text=ANY_TEXT)
def test_parsers_only_ever_raise_valueerror(parser, text):
    try:
        parser(text)
    except ValueError:
        pass


@settings(max_examples=150, deadline=None)
@given(text=ANY_TEXT)
def test_total_functions_never_raise(text):
    parse_cmdline(text)
    parse_cmdline_pairs(text)
    parse_memory_cmdline(text)
    parse_words(text)
    version_flags(text)
    assert vulnerability_state(text) in ("not-affected", "mitigated", "vulnerable", "unknown")


KEYS = st.text(alphabet=string.ascii_letters + string.digits + "_()", min_size=1, max_size=20).filter(
    lambda k: not k.startswith("Node"))


@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(KEYS, st.tuples(st.integers(0, 1 << 50), st.booleans()), min_size=1, max_size=30))
def test_meminfo_round_trip(values):
    text = "".join(f"{k}:{' ' * 8}{v}{' kB' if kb else ''}\n" for k, (v, kb) in values.items())
    assert parse_meminfo(text) == {k: v for k, (v, _) in values.items()}


PATH_CHARS = string.ascii_letters + string.digits + "/._- \\\t"


def _escape(path: str) -> str:
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)



def _swaps_name(path: str) -> str:
    # mm/swapfile.c swap_show pads the name to 40 columns but always with at least one
    # space, so a name of 40 or more characters is still followed by a separator.
    name = _escape(path)
    return name + " " * max(40 - len(name), 1)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(st.text(alphabet=PATH_CHARS, min_size=1, max_size=30).filter(lambda p: p.strip()),
                               st.sampled_from(["partition", "file"]), st.integers(0, 1 << 40),
                               st.integers(0, 1 << 40), st.integers(-32768, 32767)), max_size=5))
def test_swaps_round_trip(rows):
    text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + "".join(
        f"{_swaps_name(f)}{t}\t{s}\t{u}\t{p}\n" for f, t, s, u, p in rows)
    assert parse_swaps(text) == [{"filename": f, "type": t, "size_kb": s, "used_kb": u, "priority": p}
                                 for f, t, s, u, p in rows]


OPTION = st.text(alphabet=string.ascii_uppercase + string.digits + "_", min_size=1, max_size=20)
VALUE = st.one_of(st.sampled_from(["y", "m", "n"]), st.integers(-5, 10000).map(str),
                  st.text(alphabet=string.ascii_letters + " -.", max_size=15).map(lambda s: f'"{s}"'))


@settings(max_examples=150, deadline=None)
@given(options=st.dictionaries(OPTION, VALUE, min_size=1, max_size=30))
def test_kconfig_round_trip(options):
    lines = [f"# CONFIG_{k} is not set" if v == "n" else f"CONFIG_{k}={v}" for k, v in options.items()]
    parsed = parse_kconfig("#\n# comment\n#\n" + "\n".join(lines) + "\n")
    assert parsed == {f"CONFIG_{k}": v.strip('"') if v.startswith('"') else v for k, v in options.items()}


COMPONENT = st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=10).filter(
    lambda c: c not in (".", "..") and not c.startswith(".") and not c.endswith(".") and ".." not in c)


@settings(max_examples=200, deadline=None)
@given(top=COMPONENT.filter(lambda c: "." not in c), rest=st.lists(COMPONENT, min_size=1, max_size=5))
def test_sysctl_path_name_round_trip(top, rest):
    # A top-level directory with a dot could not be written in dot form at all (its first
    # separator would be the dot); /proc/sys has none.
    parts = [top, *rest]
    path = "/proc/sys/" + "/".join(parts)
    name = sysctl_name(path)
    assert sysctl_path(name) == path
    # and the slash form of the same name reaches the same file
    assert sysctl_path("/".join(parts)) == path


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 1 << 20), unit=st.sampled_from(["", "k", "K", "m", "M", "g", "G", "t", "T"]))
def test_memsize_round_trip(n, unit):
    shift = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit.lower()]
    assert parse_memsize(f"{n}{unit}") == n << shift


@settings(max_examples=100, deadline=None)
@given(words=st.lists(st.text(alphabet=string.ascii_lowercase + "+_", min_size=1, max_size=10),
                      min_size=1, max_size=6, unique=True), data=st.data())
def test_choice_round_trip(words, data):
    i = data.draw(st.integers(0, len(words) - 1))
    marked = " ".join(f"[{w}]" if j == i else w for j, w in enumerate(words))
    assert parse_bracketed_choice(marked) == (words[i], tuple(words))
    paren = " ".join(f"({w})" if j == i else w for j, w in enumerate(words)) + " "
    assert parse_marked_choice(paren) == (words[i], tuple(words))
