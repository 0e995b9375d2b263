"""Kernel views: the kernel's own periodic work on a CPU, and the kernel settings that
decide it, side by side for several hosts.

The rates come from :func:`hftinfra.kernel.periodic_work`: derived from the settings and
the documented mechanism, not measured. Sources that are switched off are drawn as "off"
and sources whose settings could not be read as "unknown", never as 0.
"""

from __future__ import annotations

from hftinfra.cpulist import format_cpulist
from hftinfra.host import Unread
from hftinfra.kernel import Kernel, periodic_work
from hftinfra.records import show
from hftinfra.viz.topology import HtmlTable

HOST_COLOURS = ("#e8710a", "#4285f4", "#0f9d58", "#a142f4")
# Left edge of the log axis: 'off' and 'unknown' labels sit here.
FLOOR = 0.01


def work_rows(hosts: list[tuple[str, Kernel, bool, int | None]]) -> list[dict]:
    """One row per (host, source): label, rate or why not. ``hosts`` holds
    (label, kernel record, the CPU is nohz_full, CPU number or None)."""
    rows = []
    for label, kernel, nohz_full, cpu in hosts:
        for w in periodic_work(kernel, nohz_full=nohz_full, cpu=cpu):
            rate = w.per_second
            if isinstance(rate, Unread):
                state = "unknown"
            elif rate == 0:
                state = "off"
            else:
                state = "on"
            rows.append({"host": label, "source": w.name, "rate": rate, "state": state, "setting": w.setting,
                         "applies_to": w.applies_to, "docs": w.docs})
    return rows


def sample_cpu(isolation) -> tuple[int, bool]:
    """The CPU whose periodic work a page draws, and whether it is nohz_full: the first
    nohz_full CPU where there is one (the CPU a trading thread would run on), else CPU 0."""
    nohz = isolation.nohz_full
    if not isinstance(nohz, Unread) and nohz:
        return min(nohz), True
    return 0, False


def periodic_work_figure(hosts: list[tuple[str, Kernel, bool, int | None]], title: str | None = None):
    """Grouped horizontal bars on a log axis: the kernel's periodic interruptions per second
    of one busy CPU, per source, one colour per host."""
    import plotly.graph_objects as go

    rows = work_rows(hosts)
    sources = list(dict.fromkeys(r["source"] for r in rows))
    fig = go.Figure()
    for i, (label, *_rest) in enumerate(hosts):
        mine = [r for r in rows if r["host"] == label]
        xs, texts, hovers = [], [], []
        for src in sources:
            r = next(r for r in mine if r["source"] == src)
            if r["state"] == "on":
                xs.append(r["rate"])
                texts.append(f"{r['rate']:g}/s")
            else:
                xs.append(FLOOR)
                texts.append(r["state"])
            why = f"<br>{r['rate']}" if r["state"] == "unknown" else ""
            hovers.append(f"<b>{label}</b>: {src}<br>{texts[-1]} — {r['setting']}<br>{r['applies_to']}{why}"
                          f"<br><i>{r['docs']}</i>")
        fig.add_trace(go.Bar(
            y=sources, x=xs, name=label, orientation="h", text=texts, textposition="outside",
            marker={"color": HOST_COLOURS[i % len(HOST_COLOURS)]}, hovertext=hovers, hoverinfo="text",
            cliponaxis=False))
    fig.update_layout(
        barmode="group", template="plotly_white",
        title={"text": title or ("The kernel's periodic work on one busy CPU<br><sup>events per second, "
                                 "derived from the settings (not measured); log scale</sup>"),
               "x": 0, "xanchor": "left", "font": {"size": 14}},
        xaxis={"type": "log", "title": {"text": "events per second"}, "range": [-2.2, 3.6]},
        yaxis={"autorange": "reversed"},
        height=int(150 + 36 * len(sources) * max(len(hosts), 1)),
        margin={"l": 10, "r": 40, "t": 70, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        meta={"hftinfra": "kernel-periodic-work"},
    )
    return fig


def _onoff(value) -> str:
    if isinstance(value, Unread):
        return str(value)
    return {0: "0 (off)", 1: "1 (on)"}.get(value, str(value))


def settings_rows(k: Kernel) -> list[tuple[str, str, str]]:
    """(setting, value, where it comes from) for one host."""
    p, t, w, rt, cs = k.preemption, k.tick, k.watchdogs, k.rt_throttling, k.clocksource
    mode = show(p.mode) + ("" if isinstance(p.mode, Unread) else
                           f" ({'read from the kernel' if p.mode_observed else 'boot setting'})")
    vulns = k.mitigations.vulnerabilities
    if isinstance(vulns, Unread):
        vuln_text = str(vulns)
    else:
        counts = {s: len(k.mitigations.by_state(s)) for s in ("vulnerable", "mitigated", "not-affected", "unknown")}
        vuln_text = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none listed"
    tsc_flags = cs.tsc_flags
    flags_text = str(tsc_flags) if isinstance(tsc_flags, Unread) else " ".join(sorted(tsc_flags)) or "none"
    mask = w.watchdog_cpumask
    share = rt.rt_share
    rt_text = (str(rt.runtime_us) if isinstance(rt.runtime_us, Unread) else
               f"{rt.runtime_us} of {show(rt.period_us)} us" +
               ("" if isinstance(share, Unread) else " (throttling off)" if rt.disabled else f" ({share:.0%})"))
    return [
        ("kernel", show(k.version.release), "/proc/sys/kernel/osrelease"),
        ("build flags", show(k.version.version), "/proc/sys/kernel/version"),
        ("PREEMPT_RT", show(p.rt), p.rt_evidence),
        ("PREEMPT_DYNAMIC", show(p.dynamic), p.dynamic_evidence),
        ("preemption mode", mode, p.mode_source),
        ("preempt= (command line)", show(p.configured), "/proc/cmdline"),
        ("HZ", show(t.hz), t.hz_source),
        ("tickless (NO_HZ_FULL built)", show(t.no_hz_full_built), "kernel config"),
        ("skew_tick= (command line)", show(t.skew_tick), "/proc/cmdline"),
        ("kernel.timer_migration", _onoff(t.timer_migration), "/proc/sys/kernel/timer_migration"),
        ("vm.stat_interval (s)", show(t.stat_interval), "/proc/sys/vm/stat_interval"),
        ("kernel.watchdog", _onoff(w.watchdog), "/proc/sys/kernel/watchdog"),
        ("kernel.soft_watchdog", _onoff(w.soft_watchdog), "/proc/sys/kernel/soft_watchdog"),
        ("kernel.nmi_watchdog", _onoff(w.nmi_watchdog), "/proc/sys/kernel/nmi_watchdog"),
        ("kernel.watchdog_thresh (s)", show(w.watchdog_thresh), "/proc/sys/kernel/watchdog_thresh"),
        ("kernel.watchdog_cpumask", str(mask) if isinstance(mask, Unread) else format_cpulist(mask) or "(none)",
         "/proc/sys/kernel/watchdog_cpumask"),
        ("nowatchdog / nosoftlockup / nmi_watchdog=",
         f"{show(w.nowatchdog)} / {show(w.nosoftlockup)} / {show(w.nmi_watchdog_cmdline)}", "/proc/cmdline"),
        ("kernel.hung_task_timeout_secs", show(w.hung_task_timeout_secs), "/proc/sys/kernel/hung_task_timeout_secs"),
        ("RT throttling", rt_text, "/proc/sys/kernel/sched_rt_{runtime,period}_us"),
        ("clocksource", show(cs.current), "/sys/devices/system/clocksource/clocksource0"),
        ("available clocksources", show(cs.available if isinstance(cs.available, Unread) else " ".join(cs.available)),
         "/sys/devices/system/clocksource/clocksource0"),
        ("TSC flags (every CPU)", flags_text, "/proc/cpuinfo"),
        ("tsc= / clocksource= (command line)", f"{show(cs.tsc)} / {show(cs.clocksource)}", "/proc/cmdline"),
        ("mitigations= (command line)", show(k.mitigations.configured), "/proc/cmdline"),
        ("CPU vulnerabilities", vuln_text, "/sys/devices/system/cpu/vulnerabilities"),
        ("machine check ignore_ce", show(k.machine_check.ignore_ce), "/sys/devices/system/machinecheck"),
        ("virtualisation", str(k.virtualization), "cpuinfo, DMI"),
    ]


def settings_table(k: Kernel, title: str = "Kernel settings") -> HtmlTable:
    return HtmlTable(title, ["setting", "value", "from"], [list(r) for r in settings_rows(k)],
                     "'-' for a command-line parameter: not set there")


def compare_table(hosts: list[tuple[str, Kernel]], title: str = "Kernel settings side by side") -> HtmlTable:
    per_host = [settings_rows(k) for _, k in hosts]
    rows = [[per_host[0][i][0], *[h[i][1] for h in per_host]] for i in range(len(per_host[0]))]
    return HtmlTable(title, ["setting", *[label for label, _ in hosts]], rows)


def vulnerabilities_table(k: Kernel) -> HtmlTable:
    vulns = k.mitigations.vulnerabilities
    if isinstance(vulns, Unread):
        return HtmlTable("CPU vulnerabilities", ["file", "state", "kernel says"], [["-", "unknown", str(vulns)]])
    return HtmlTable("CPU vulnerabilities", ["file", "state", "kernel says"],
                     [[v.name, show(v.state), show(v.text)] for v in vulns],
                     f"mitigations= on the command line: {show(k.mitigations.configured)}")


__all__ = ["compare_table", "periodic_work_figure", "settings_rows", "settings_table", "vulnerabilities_table",
           "work_rows"]
