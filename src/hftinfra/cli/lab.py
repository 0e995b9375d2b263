"""``hftinfra lab``: run a lab for real, in network namespaces it creates and removes.

``hftinfra lab net`` runs the networking lab (:mod:`hftinfra.labs.net`): RPS, XPS and UDP
round trips with and without busy polling, between two namespaces joined by a
multi-queue veth pair. ``hftinfra lab ptp`` runs a grandmaster and a slave ptp4l over a veth
pair (:mod:`hftinfra.labs.ptp`), ``hftinfra lab chrony`` an NTP server and client chronyd
(:mod:`hftinfra.labs.chrony`); neither touches the system clock. ``hftinfra lab pxe``
network-boots qemu VMs from the dnsmasq and iPXE files ``hftinfra provision`` generates
(:mod:`hftinfra.labs.pxe`). Every lab needs root and
``ip`` (iproute2), the time labs their daemons; without them it says why in one line and
exits 2. Ctrl-C stops it, after the lab has removed everything it made.

Exit status: 0 the lab ran (whatever it measured), 1 a lab step failed or its cleanup left
something behind, 2 it could not run here (not root, no ``ip``, no network namespaces, a
tool missing) or bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from hftinfra.cli import UserError, positive_int, seconds_type

PART_CHOICES = ("rps", "xps", "ping-pong", "all")

EPILOG = """\
labs: net (RPS, XPS, and UDP round trips without and with busy polling, between two
network namespaces joined by a 4-queue veth pair; about 3 s); ptp (a grandmaster and a
slave ptp4l over a veth pair, software timestamps, free_running so no clock is adjusted;
30 s by default); chrony (an NTP server and a client chronyd, both with -x so neither
adjusts the clock; 20 s by default); pxe (dnsmasq and an HTTP server serving the boot path
generated from an inventory, and qemu VMs that network-boot it: a BIOS host, a UEFI host
under OVMF and an unknown MAC; about 20 s). Needs root and ip (iproute2); the xps part needs
tc, the ping-pong part ethtool, ptp needs ptp4l and pmc (linuxptp), chrony chronyd and
chronyc (chrony), pxe dnsmasq and qemu-system-x86_64 (with Debian's ipxe-qemu NIC ROMs,
ipxe and ovmf for UEFI). Everything a lab creates (namespaces, processes, settings of its
veths, temp files) is removed when it ends, also on an error or Ctrl-C; no host setting
is changed and the system clock is never touched.

exit status: 0 the lab ran (whatever it measured; for pxe, every boot ended as expected),
1 a lab step failed, a pxe boot did not end as expected, or cleanup left something behind, 2 it could not run here (not root, no ip, no network namespaces,
a tool missing) or bad arguments, 130 interrupted.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    sub = parser.add_subparsers(dest="lab", metavar="LAB", required=True)
    net = sub.add_parser("net", help="RPS, XPS and UDP round trips (busy polling) over veth",
                         description="RPS, XPS and UDP round trips (busy polling) between two network "
                                     "namespaces joined by a multi-queue veth pair.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    net.add_argument("--part", choices=PART_CHOICES, default="all",
                     help="which part to run (default: all)")
    net.add_argument("--count", type=positive_int, default=None, metavar="N",
                     help="round trips per ping-pong condition (default: 5000)")
    net.add_argument("--json", action="store_true", help="print the result as JSON")
    net.add_argument("--samples", action="store_true",
                     help="with --json: include every round-trip time, not only their percentiles")
    net.add_argument("-o", "--output", metavar="FILE",
                     help="write the result to FILE instead of stdout (replaced whole, or left as it was)")
    net.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")

    from hftinfra.labs.chrony import DURATION_S as CHRONY_S
    from hftinfra.labs.ptp import DURATION_S as PTP_S
    from hftinfra.labs.ptp import MAX_DURATION_S, TRANSPORTS

    seconds = seconds_type(MAX_DURATION_S)

    ptp = sub.add_parser("ptp", help="a grandmaster and a slave ptp4l over veth (software timestamps)",
                         description="A grandmaster and a slave ptp4l in two network namespaces joined by a veth "
                                     "pair, software timestamps, free_running 1 on both (no clock is adjusted): "
                                     "the slave's offset and path delay over the run, and what pmc answers.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ptp.add_argument("--duration", type=seconds, default=PTP_S, metavar="S",
                     help=f"how long the daemons run, in seconds (default: {PTP_S:g}; the first offset line "
                          "comes after about 6 s)")
    ptp.add_argument("--transport", choices=tuple(TRANSPORTS), default="L2",
                     help="PTP over IEEE 802.3 (L2, default) or UDP IPv4")
    chrony = sub.add_parser("chrony", help="an NTP server and a client chronyd over veth (-x)",
                            description="An NTP server chronyd (local stratum 1) and a client chronyd in two "
                                        "network namespaces joined by a veth pair, both with -x (the system clock "
                                        "is not adjusted): the client's tracking and sources once a second.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    chrony.add_argument("--duration", type=seconds, default=CHRONY_S, metavar="S",
                        help=f"how long the client is sampled, in seconds (default: {CHRONY_S:g})")
    from hftinfra.labs.pxe import BOOT_TIMEOUT_S, UNKNOWN_MAC
    from hftinfra.labs.pxe import MAX_TIMEOUT_S as PXE_MAX_S

    pxe = sub.add_parser("pxe", help="network-boot VMs from the generated dnsmasq and iPXE files",
                         description="Generate the boot path of an inventory (the sample by default), serve it "
                                     "with dnsmasq (DHCP, TFTP) and hftinfra provision serve (HTTP) in a network "
                                     "namespace, and PXE-boot a qemu VM per chosen host (BIOS through SeaBIOS and "
                                     "the NIC's iPXE ROM, UEFI through OVMF's own PXE client and ipxe.efi) and one "
                                     "with an unknown MAC; prints each boot's timeline.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    pxe.add_argument("--inventory", metavar="FILE", default=None,
                     help="the inventory to boot (default: provisioning/sample-inventory.yaml)")
    pxe.add_argument("--host", action="append", metavar="NAME", default=None,
                     help="boot this host (repeatable; default: the first BIOS and the first UEFI Linux host "
                          "without Secure Boot)")
    pxe.add_argument("--unknown-mac", metavar="MAC", default=UNKNOWN_MAC,
                     help=f"also boot a VM with this MAC, which no host has (default: {UNKNOWN_MAC})")
    pxe.add_argument("--no-unknown", action="store_true", help="do not boot the unknown-MAC VM")
    pxe.add_argument("--no-uefi", action="store_true", help="by default, boot no UEFI host (OVMF is the slow one)")
    pxe.add_argument("--timeout", type=seconds_type(PXE_MAX_S), default=BOOT_TIMEOUT_S, metavar="S",
                     help=f"give up on a VM after S seconds (default: {BOOT_TIMEOUT_S:g})")
    pxe.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                     help="VMs running at once (default: one per CPU)")
    for p in (ptp, chrony, pxe):
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("-o", "--output", metavar="FILE",
                       help="write the result to FILE instead of stdout (replaced whole, or left as it was)")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def _run_lab(args: argparse.Namespace, on_step):
    if args.lab == "ptp":
        from hftinfra.labs.ptp import run_ptp_lab

        return run_ptp_lab(args.duration, transport=args.transport, on_step=on_step)
    if args.lab == "chrony":
        from hftinfra.labs.chrony import run_chrony_lab

        return run_chrony_lab(args.duration, on_step=on_step)
    if args.lab == "pxe":
        from hftinfra.labs.pxe import run_pxe_lab

        return run_pxe_lab(args.inventory, hosts=args.host, unknown_mac=None if args.no_unknown else args.unknown_mac,
                           uefi=not args.no_uefi, timeout_s=args.timeout, jobs=args.jobs, on_step=on_step)
    from hftinfra.labs.net import PARTS, ROUND_TRIPS, run_net_lab

    parts = PARTS if args.part == "all" else (args.part,)
    return run_net_lab(parts, count=args.count or ROUND_TRIPS, on_step=on_step)


def run(args: argparse.Namespace) -> int:
    from hftinfra.labs import LabCleanupError, LabError, LabUnavailable
    from hftinfra.labs.pxe import LabChoiceError

    def progress(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    try:
        result = _run_lab(args, None if args.quiet else progress)
    except LabUnavailable as exc:
        raise UserError(str(exc)) from None
    except LabChoiceError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    except LabCleanupError as exc:
        print(f"hftinfra lab: error: {exc.report.summary()}", file=sys.stderr)
        return 1
    except LabError as exc:
        print(f"hftinfra lab: error: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    if args.json:
        doc = result.to_json(samples=args.samples) if args.lab == "net" else result.to_json()
        text = json.dumps(doc, indent=1) + "\n"
    else:
        text = result.to_text()
    if args.output:
        from hftinfra.cli.audit import _write_file

        _write_file(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if getattr(result, "passed", True) is False else 0
