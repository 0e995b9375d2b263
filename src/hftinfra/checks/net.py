"""Network checks: busy polling, packet steering (RPS, XPS), interrupt moderation, receive
offloads, queue counts and the PCIe link of the trading NICs."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, Skip, register
from hftinfra.checks.common import cpus_text, cpuset_variable, sysctl_fix, trading_nics
from hftinfra.cpulist import format_cpulist, format_cpumask
from hftinfra.host import Reason, Unread

SYSCTL_NET = "https://docs.kernel.org/admin-guide/sysctl/net.html"


def _busy_poll(ctx):
    core = ctx.probe("net.sysctls")
    if isinstance(core, Unread):
        return core
    return Obs({"busy_read": core.busy_read, "busy_poll": core.busy_poll},
               f"net.core.busy_read={core.busy_read}, net.core.busy_poll={core.busy_poll} (us)")


def _busy_poll_fix(ctx, e, obs):
    lines = []
    for name in ("busy_read", "busy_poll"):
        exp = e.get(name) if isinstance(e, dict) else None
        value = exp.suggest() if exp is not None else None
        lines.append(sysctl_fix(f"net.core.{name}", 50 if value is None else value))
    return "\n".join(lines)


register(Check(
    id="net.busy_poll", title="Kernel sockets busy-poll the NIC queue", area="net",
    summary="busy_read: microseconds a blocking read (recvmsg) spins on the device queue before it sleeps; "
            "busy_poll: the same for poll and select. 0 turns it off; a socket can also ask with "
            "SO_BUSY_POLL (admin-guide/sysctl/net.rst, networking/napi.rst). Only kernel-stack sockets "
            "benefit; kernel-bypass traffic never reaches them.",
    reads=("/proc/sys/net/core/busy_read", "/proc/sys/net/core/busy_poll"), docs=SYSCTL_NET, kind="int",
    fields={"busy_read": "int", "busy_poll": "int"}, observe=_busy_poll, fix=_busy_poll_fix,
))


# ---- shared --------------------------------------------------------------------------------

ETHTOOL_DOC = "https://man7.org/linux/man-pages/man8/ethtool.8.html"
SCALING_DOC = "https://docs.kernel.org/networking/scaling.html"



def _ethtool(ctx, nic: str, view: str):
    from hftinfra.net import EthtoolForms, read_ethtool_view

    forms = ctx.cached("ethtool forms", EthtoolForms)  # one `ethtool --version` per audit
    return ctx.cached(f"ethtool {view} {nic}", lambda: read_ethtool_view(ctx.host, nic, view, forms))


def _driver_lacks(value) -> bool:
    """An ethtool answer that the driver does not implement the operation (veth and
    virtio_net have no rings or coalescing on many kernels): nothing to tune there."""
    return isinstance(value, Unread) and value.reason is Reason.UNSUPPORTED and "does not support" in value.detail


def _trading(ctx):
    nics = trading_nics(ctx)
    if isinstance(nics, str):
        return Skip(nics)
    return nics


def _per_nic_views(ctx, view: str):
    """(nic, ethtool record) for each trading NIC whose driver answers ``view``; or the
    Skip/Unread that stands for all of them; and the NICs left out, with why."""
    nics = _trading(ctx)
    if not isinstance(nics, list):
        return nics, []
    got, left = [], []
    for nic in nics:
        value = _ethtool(ctx, nic.name, view)
        if isinstance(value, Unread):
            if not _driver_lacks(value):
                return value, []
            left.append(f"{nic.name}: driver {nic.driver} has no {view} settings")
            continue
        got.append((nic, value))
    if not got:
        return Skip("; ".join(left) or "no trading NICs"), []
    return got, left


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ---- net.rps -------------------------------------------------------------------------------

def _rps(ctx):
    nics = ctx.probe("net.interfaces")
    listed = nics if isinstance(nics, Unread) else nics.nics
    if isinstance(listed, Unread):
        return listed
    union: set[int] = set()
    used, unread, offenders = [], [], {}
    for nic in listed:
        if isinstance(nic.rx_queues, Unread):
            if nic.rx_queues.reason is not Reason.MISSING:
                unread.append((nic.name, nic.rx_queues))
            continue
        for q in nic.rx_queues:
            if isinstance(q.rps_cpus, Unread):
                unread.append((f"{nic.name} rx-{q.index}", q.rps_cpus))
                continue
            if q.rps_cpus:
                union |= q.rps_cpus
                used.append(f"{nic.name} rx-{q.index} -> {format_cpulist(q.rps_cpus)}")
                offenders[(nic.name, q.index)] = q.rps_cpus
    default = nics.sysctls.rps_default_mask
    note_default = ""
    if isinstance(default, frozenset) and default:
        union |= default
        note_default = f"rps_default_mask {cpus_text(default)} (new devices start with it)"
    if unread and not used and not listed:
        return unread[0][1]
    shown = "RPS off on every receive queue" if not used else f"RPS steers to CPUs {format_cpulist(union)}"
    note = _join(", ".join(used[:6]) + (f" and {len(used) - 6} more" if len(used) > 6 else ""), note_default,
                 f"{len(unread)} queue files could not be read ({unread[0][0]}: {unread[0][1]})" if unread else "")
    return Obs(frozenset(union), shown, note=note, extra={"queues": offenders})


def _rps_fix(ctx, e, obs):
    hk = cpuset_variable(ctx, "housekeeping_cpus")
    nr = None
    topo = ctx.probe("cpu.topology")
    if not isinstance(topo, Unread):
        nr = topo.nr_cpus
    lines = ["# RPS on (scaling.rst): steer to housekeeping CPUs, or write 0 to turn it off. Not persistent:",
             "# repeat from a udev rule or the tuned profile that sets up the NIC."]
    queues = obs.extra.get("queues", {}) if isinstance(obs, Obs) else {}
    mask = format_cpumask(hk, nr) if hk else "0"
    for (nic, index), cpus in sorted(queues.items()):
        if hk is None or cpus - hk:
            lines.append(f"echo {mask} > /sys/class/net/{nic}/queues/rx-{index}/rps_cpus")
    lines.append(f"sysctl -w net.core.rps_default_mask={mask}  # 6.x kernels: for devices created later")
    return "\n".join(lines)


register(Check(
    id="net.rps", title="RPS steers no packets to isolated CPUs", area="net",
    summary="Receive Packet Steering hands a packet's protocol processing (NET_RX softirq) to the CPUs in "
            "its receive queue's rps_cpus (networking/scaling.rst); a CPU there does network work for "
            "every flow hashed to it. Read on every interface, virtual ones too, with rps_default_mask.",
    reads=("/sys/class/net/*/queues/rx-*/rps_cpus", "/proc/sys/net/core/rps_default_mask"),
    docs=SCALING_DOC, kind="cpuset", observe=_rps, fix=_rps_fix,
    normalises="each hex rps_cpus mask to a CPU set; the union over every receive queue",
))


# ---- net.xps -------------------------------------------------------------------------------

def _xps(ctx):
    nics = _trading(ctx)
    if not isinstance(nics, list):
        return nics
    covered: frozenset[int] | None = None
    parts, single = [], []
    # Which NIC each thread sends on is not known here: a CPU mapped on any trading NIC counts.
    for nic in nics:
        if isinstance(nic.tx_queues, Unread):
            return nic.tx_queues
        if len(nic.tx_queues) < 2:
            single.append(nic.name)
            continue
        cpus: set[int] = set()
        for q in nic.tx_queues:
            if isinstance(q.xps_cpus, Unread):
                return q.xps_cpus
            cpus |= q.xps_cpus
        parts.append(f"{nic.name}: {len(nic.tx_queues)} tx queues map CPUs {cpus_text(frozenset(cpus))}")
        covered = frozenset(cpus) if covered is None else covered | cpus
    if covered is None:
        return Skip(f"single-queue trading NICs ({', '.join(single)}): XPS has no effect (scaling.rst)")
    note = _join("; ".join(parts), f"single-queue, left out: {', '.join(single)}" if single else "")
    return Obs(covered, f"CPUs in an XPS map: {cpus_text(covered)}", note=note)


def _xps_fix(ctx, e, obs):
    nics = _trading(ctx)
    lines = ["# XPS (scaling.rst): give each transmitting CPU a queue; the mask of tx-N lists the CPUs",
             "# that send on it. Many drivers set one CPU per queue at start; -L changes undo it. Not persistent."]
    topo = ctx.probe("cpu.topology")
    nr = None if isinstance(topo, Unread) else topo.nr_cpus
    iso = sorted(cpuset_variable(ctx, "isolated_cpus") or ())
    for nic in nics if isinstance(nics, list) else ():
        if isinstance(nic.tx_queues, tuple) and len(nic.tx_queues) > 1:
            for i, cpu in enumerate(iso[:len(nic.tx_queues)]):
                lines.append(f"echo {format_cpumask(frozenset({cpu}), nr)} > "
                             f"/sys/class/net/{nic.name}/queues/tx-{i}/xps_cpus  # CPU {cpu}")
    return "\n".join(lines)


register(Check(
    id="net.xps", title="Every isolated CPU is in a transmit queue's XPS map", area="net",
    summary="Transmit Packet Steering picks the transmit queue from the sending CPU (xps_cpus of each "
            "tx-N, networking/scaling.rst): a CPU in no map falls back to the flow hash, sharing a queue "
            "and its lock and completion interrupt with other CPUs. Judged on the trading NICs.",
    reads=("/sys/class/net/IF/queues/tx-*/xps_cpus",), docs=SCALING_DOC, kind="cpuset",
    observe=_xps, fix=_xps_fix,
    normalises="each hex xps_cpus mask to a CPU set; the CPUs some trading NIC maps",
))


# ---- net.coalescing ------------------------------------------------------------------------

# e1000e and igb read rx-usecs 1 to 3 as a mode, not a delay: dynamic interrupt moderation
# (igb_set_coalesce in drivers/net/ethernet/intel/igb/igb_ethtool.c keeps values up to 3 as
# the ITR setting; Documentation/networking/device_drivers/ethernet/intel/e1000e.rst,
# InterruptThrottleRate 1 dynamic, 3 dynamic conservative), with no adaptive switch.
_ITR_MODE_DRIVERS = frozenset({"igb", "e1000e"})


def _coalescing(ctx):
    got, left = _per_nic_views(ctx, "coalesce")
    if not isinstance(got, list):
        return got
    adaptive_rx = adaptive_tx = False
    rx_usecs = 0
    parts, notes = [], []
    for nic, co in got:
        dynamic = nic.driver in _ITR_MODE_DRIVERS and co.rx_usecs in (1, 2, 3)
        if dynamic:
            notes.append(f"{nic.name} ({nic.driver}): rx-usecs {co.rx_usecs} selects dynamic interrupt "
                         "moderation, not a delay")
        # ethtool prints n/a for a parameter the driver does not implement: nothing adapts there.
        adaptive_rx = adaptive_rx or bool(co.adaptive_rx) or dynamic
        adaptive_tx = adaptive_tx or bool(co.adaptive_tx)
        rx_usecs = max(rx_usecs, 0 if dynamic else (co.rx_usecs or 0))
        parts.append(f"{nic.name}: adaptive rx {_onoff(co.adaptive_rx)} tx {_onoff(co.adaptive_tx)}, "
                     f"rx-usecs {co.rx_usecs if co.rx_usecs is not None else 'n/a'}, "
                     f"rx-frames {co.rx_frames if co.rx_frames is not None else 'n/a'}")
    value = {"adaptive_rx": adaptive_rx, "adaptive_tx": adaptive_tx, "rx_usecs": rx_usecs}
    return Obs(value, "; ".join(parts),
               note=_join("the worst trading NIC is judged" if len(got) > 1 else "", "; ".join(notes),
                          "n/a: the driver has no such parameter" if any("n/a" in p for p in parts) else "",
                          "; ".join(left)),
               extra={"nics": [n.name for n, _ in got]})


def _onoff(value) -> str:
    return "n/a" if value is None else ("on" if value else "off")


def _coalescing_fix(ctx, e, obs):
    usecs = e.get("rx_usecs").suggest() if isinstance(e, dict) and e.get("rx_usecs") is not None else None
    usecs = 0 if usecs is None else usecs
    lines = ["# fixed, low interrupt moderation on the trading NICs (ethtool(8) -C); not persistent:",
             "# NetworkManager: nmcli connection modify IF ethtool.coalesce-adaptive-rx off ethtool.coalesce-rx-usecs N"]
    got, _ = _per_nic_views(ctx, "coalesce")
    for nic, co in got if isinstance(got, list) else ():
        dynamic = nic.driver in _ITR_MODE_DRIVERS and co.rx_usecs in (1, 2, 3)
        # Only what the driver has: ethtool -C refuses a parameter the driver lacks.
        args = [f"{name} off" for name, on in (("adaptive-rx", co.adaptive_rx), ("adaptive-tx", co.adaptive_tx))
                if on]
        if dynamic or (co.rx_usecs or 0) > usecs:
            args.append(f"rx-usecs {usecs}")
        if args:
            lines.append(f"ethtool -C {nic.name} {' '.join(args)}")
    return "\n".join(lines)


register(Check(
    id="net.coalescing", title="Trading NICs interrupt at once: adaptive moderation off, low rx-usecs", area="net",
    summary="Interrupt coalescing holds a received packet's interrupt until rx-usecs have passed or "
            "rx-frames arrived (ethtool(8) -C); adaptive moderation lets the driver raise that delay with "
            "the packet rate. Either adds microseconds to a quiet feed's first packet. Judged on the "
            "trading NICs, the worst one counting.",
    reads=("ethtool -c IF",), docs=ETHTOOL_DOC, kind="str",
    fields={"adaptive_rx": "bool", "adaptive_tx": "bool", "rx_usecs": "int"},
    observe=_coalescing, fix=_coalescing_fix,
))


# ---- net.gro_lro ---------------------------------------------------------------------------

def _gro_lro(ctx):
    got, left = _per_nic_views(ctx, "features")
    if not isinstance(got, list):
        return got
    value: dict = {"gro": False, "lro": False}
    parts = []
    for nic, features in got:
        for field, name in (("gro", "generic-receive-offload"), ("lro", "large-receive-offload")):
            on = features.enabled(name)
            if on is None:
                value[field] = Unread(Reason.MISSING, f"ethtool -k {nic.name}", f"no {name} in its output")
            elif not isinstance(value[field], Unread):
                value[field] = value[field] or on
        gro, lro = features.get("generic-receive-offload"), features.get("large-receive-offload")
        parts.append(f"{nic.name}: GRO {_feature(gro)}, LRO {_feature(lro)}")
    return Obs(value, "; ".join(parts), note="; ".join(left), extra={"nics": [n.name for n, _ in got]})


def _feature(f) -> str:
    if f is None:
        return "n/a"
    return ("on" if f.enabled else "off") + (" [fixed]" if f.fixed else "")


def _gro_lro_fix(ctx, e, obs):
    nics = obs.extra.get("nics", []) if isinstance(obs, Obs) else []
    lines = ["# receive offloads off on the trading NICs (ethtool(8) -K); not persistent:",
             "# NetworkManager: nmcli connection modify IF ethtool.feature-gro off ethtool.feature-lro off"]
    for nic in nics or ["<IF>"]:
        lines.append(f"ethtool -K {nic} gro off lro off")
    return "\n".join(lines)


register(Check(
    id="net.gro_lro", title="Receive offloads that merge packets are off on trading NICs", area="net",
    summary="LRO (in the NIC) and GRO (in NAPI, networking/segmentation-offloads.rst) merge the packets "
            "of a flow into one large one before the stack sees them: fewer per-packet costs, but a "
            "packet can wait for its successors and the application sees bursts. Judged on the trading NICs.",
    reads=("ethtool -k IF",), docs=ETHTOOL_DOC, kind="str", fields={"gro": "bool", "lro": "bool"},
    observe=_gro_lro, fix=_gro_lro_fix,
))


# ---- net.channels --------------------------------------------------------------------------

def _nodecpuset_variable(ctx, nic) -> tuple[frozenset[int] | None, str]:
    """The online CPUs of the NIC's NUMA node (every online CPU when the node is not known
    or the host has one), and how they were chosen."""
    from hftinfra.irq import cpu_node_map

    iso = ctx.probe("cpu.isolation")
    online = iso.online if not isinstance(iso, Unread) and isinstance(iso.online, frozenset) else None
    if online is None:
        return None, "online CPUs unknown"
    node = nic.numa_node
    nodes = cpu_node_map(ctx.probe("cpu.topology"))
    if not isinstance(node, int) or node < 0 or isinstance(nodes, Unread) or len(set(nodes.values())) < 2:
        return online, "online CPUs"
    return frozenset(c for c in online if nodes.get(c) == node), f"CPUs on node {node}"


def _channels(ctx):
    got, left = _per_nic_views(ctx, "channels")
    if not isinstance(got, list):
        return got
    over, parts = [], []
    for nic, ch in got:
        local, label = _nodecpuset_variable(ctx, nic)
        if local is None:
            return Unread(Reason.MISSING, "/sys/devices/system/cpu/online", label)
        queues = ch.combined or max(ch.rx or 0, ch.tx or 0)
        parts.append(f"{nic.name}: {queues} queues for {len(local)} {label}")
        if queues > len(local):
            over.append(nic.name)
    value = "fits" if not over else "exceeds"
    note = _join(f"more queues than CPUs on the NIC's node on {', '.join(over)}: some queue interrupts must "
                 "fire on another node's CPUs" if over else "", "; ".join(left))
    return Obs(value, "; ".join(parts), note=note, extra={"nics": [n.name for n, _ in got], "over": over})


def _channels_fix(ctx, e, obs):
    lines = ["# no more queues than CPUs that can serve their interrupts on the NIC's node (ethtool(8) -L):",
             "# RSS then spreads flows over those only. Changing channels re-creates the queue IRQs: pin",
             "# them again afterwards (irq.nic_numa_local)."]
    nics = _trading(ctx)
    hk = cpuset_variable(ctx, "housekeeping_cpus")
    for nic in nics if isinstance(nics, list) else ():
        if isinstance(obs, Obs) and nic.name in obs.extra.get("over", []):
            local, _ = _nodecpuset_variable(ctx, nic)
            serving = (local & hk) if local and hk and local & hk else local
            lines.append(f"ethtool -L {nic.name} combined {max(1, len(serving or ()))}")
    return "\n".join(lines)


register(Check(
    id="net.channels", title="No more NIC queues than CPUs on the NIC's node", area="net",
    summary="Each channel (ethtool -l) is a queue with its own interrupt, and RSS spreads flows over all "
            "of them; drivers default to one per online CPU. With more queues than CPUs on the NIC's node, "
            "some queue interrupts fire on another node's CPUs, away from the packet's memory. Judged on "
            "the trading NICs.",
    reads=("ethtool -l IF", "/sys/class/net/IF/device/numa_node", "/sys/devices/system/node/node*/cpulist"),
    docs=ETHTOOL_DOC, kind="str", observe=_channels, fix=_channels_fix,
))


# ---- net.pcie_link -------------------------------------------------------------------------

def _pcie_link(ctx):
    from hftinfra.net import PciFunction

    nics = _trading(ctx)
    if not isinstance(nics, list):
        return nics
    parts, slow, left = [], [], []
    for nic in nics:
        pci = nic.pci
        if not isinstance(pci, PciFunction):
            if isinstance(pci, Unread) and pci.reason is not Reason.UNSUPPORTED:
                return pci
            left.append(f"{nic.name}: not a PCI function")
            continue
        values = (pci.current_link_speed, pci.current_link_width, pci.max_link_speed, pci.max_link_width)
        unread = next((v for v in values if isinstance(v, Unread)), None)
        if unread is not None:
            if not ctx.host.isdir(pci.source):
                return Unread(Reason.MISSING, pci.source, "the NIC's PCI device folder is gone (or not captured)")
            if unread.reason is Reason.MISSING:
                left.append(f"{nic.name}: not PCI Express ({pci.address})")
                continue
            return unread
        cur_s, cur_w, max_s, max_w = values
        parts.append(f"{nic.name} ({pci.address}): {cur_s} x{cur_w} of {max_s} x{max_w}")
        if cur_s != max_s or cur_w != max_w:
            slow.append(nic.name)
    if not parts:
        return Skip("; ".join(left) or "no trading NICs")
    return Obs("max" if not slow else "degraded", "; ".join(parts),
               note=_join(f"below the link's maximum: {', '.join(slow)}" if slow else "", "; ".join(left)))


def _pcie_fix(ctx, e, obs):
    return "\n".join([
        "# a link trained below its maximum: reseat the card or move it to a slot wired for its width",
        "# (lspci -vv: LnkCap against LnkSta), check BIOS PCIe speed settings and risers; a retrain needs a",
        "# reboot or a hot reset. Some devices lower their speed when idle: read it again under traffic.",
    ])


register(Check(
    id="net.pcie_link", title="Trading NICs' PCIe links run at their maximum speed and width", area="net",
    summary="A NIC whose PCIe link trained at a lower speed or fewer lanes than it supports (current_link_* "
            "against max_link_*, drivers/pci/pci-sysfs.c) moves DMA more slowly: higher per-packet latency "
            "and drops at rates the port should carry.",
    reads=("/sys/class/net/IF/device/current_link_speed", "/sys/class/net/IF/device/current_link_width",
           "/sys/class/net/IF/device/max_link_speed", "/sys/class/net/IF/device/max_link_width"),
    docs="https://docs.kernel.org/PCI/sysfs-pci.html", kind="str", observe=_pcie_link, fix=_pcie_fix,
))
