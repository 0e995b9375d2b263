"""``hftinfra provision``: an inventory's network-boot path as files, server swaps, install
states, and where a boot stopped.

``hftinfra provision --inventory FILE --out DIR`` writes dnsmasq, iPXE, GRUB, Kickstart and
WinPE files for every host (layout in :mod:`hftinfra.provision.generate`). The other verbs:

- ``validate``: check an inventory, one line per host;
- ``replace-mac HOST NEW_MAC``: a server or NIC swap, one line of the inventory, regenerated,
  with the old MAC's files removed and its dnsmasq leases named;
- ``mark HOST installed|reinstall``: what the host's MAC boots next (its disk, or the installer);
- ``diagnose --log DNSMASQ_LOG [--console FILE]``: where each MAC's boot stopped;
- ``serve``: the HTTP side of the boot path (the generated srv/), which marks a host installed
  when its Kickstart's last step calls ``/installed/HOST``;
- ``schema``: the JSON Schemas of the inventory and of tuning profiles, for editors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hftinfra.cli import UserError, positive_int

EPILOG = """\
exit status: 0 done (diagnose: every MAC seen booted), 1 diagnose found a boot that
stopped, 2 the inventory, the output directory or an argument is wrong (one line says
which host and field), nothing written then.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--inventory", metavar="FILE", help="the inventory (YAML)")
    parser.add_argument("--out", metavar="DIR", help="where the generated files go")
    parser.add_argument("--force", action="store_true",
                        help="write into a directory that holds files hftinfra did not write, or replace "
                             "generated files edited by hand")
    parser.add_argument("--root", metavar="PATH",
                        help="dnsmasq's tftp-root in the generated configuration (default: the inventory's "
                             "site.root, where srv/ is installed)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    v = sub.add_parser("validate", help="check an inventory", description="Check an inventory; one line per host.")
    v.add_argument("--inventory", metavar="FILE", required=True, dest="inventory_v")

    r = sub.add_parser("replace-mac", help="a server or NIC swap: replace a host's MAC and regenerate",
                       description="Replace HOST's boot MAC (or --old-mac) with NEW_MAC in the inventory (one "
                                   "line), regenerate --out, and report the old MAC's stale files and leases.")
    r.add_argument("host", metavar="HOST")
    r.add_argument("new_mac", metavar="NEW_MAC")
    r.add_argument("--inventory", metavar="FILE", required=True, dest="inventory_r")
    r.add_argument("--out", metavar="DIR", required=True, dest="out_r")
    r.add_argument("--old-mac", metavar="MAC", help="which of HOST's MACs to replace (default: its boot MAC)")
    r.add_argument("--leases", metavar="FILE",
                   help="dnsmasq's lease file (dhcp-leasefile, e.g. /var/lib/misc/dnsmasq.leases) to search for "
                        "leases of the old MAC")
    r.add_argument("--force", action="store_true", dest="force_r", help="as for generation")

    m = sub.add_parser("mark", help="what a host boots next: installed (its disk) or reinstall",
                       description="Set HOST's install state in the inventory (one line) and regenerate --out.")
    m.add_argument("host", metavar="HOST")
    m.add_argument("state", choices=("installed", "reinstall"))
    m.add_argument("--inventory", metavar="FILE", required=True, dest="inventory_m")
    m.add_argument("--out", metavar="DIR", required=True, dest="out_m")

    d = sub.add_parser("diagnose", help="where each MAC's network boot stopped, from dnsmasq's log",
                       description="Read a dnsmasq log (log-dhcp) and optionally a serial console transcript; "
                                   "say per MAC where the boot stopped and what to check.")
    d.add_argument("--log", metavar="DNSMASQ_LOG", required=True)
    d.add_argument("--console", metavar="FILE")
    d.add_argument("--inventory", metavar="FILE", dest="inventory_d",
                   help="names the hosts, and MACs that boot but are not in it are called unknown")
    d.add_argument("--out", metavar="DIR", dest="out_d",
                   help="the generated directory: a TFTP file not found is compared with what was generated")
    d.add_argument("--format", choices=("text", "json"), default="text")

    s = sub.add_parser("serve", help="serve the generated srv/ over HTTP; /installed/HOST marks a host installed",
                       description="An HTTP server for the generated srv/ tree (kernels, Kickstarts, WinPE files "
                                   "and anything placed there). GET /installed/HOST sets HOST's install state to "
                                   "local in the inventory and regenerates, so its next boot is from disk.")
    s.add_argument("--inventory", metavar="FILE", required=True, dest="inventory_s")
    s.add_argument("--out", metavar="DIR", required=True, dest="out_s")
    s.add_argument("--bind", metavar="ADDR", default=None, help="address to listen on (default: site.server_ip)")
    s.add_argument("--port", type=positive_int, default=None, help="port (default: site.http_port)")

    sc = sub.add_parser("schema", help="write the JSON Schemas of the inventory and of tuning profiles",
                        description="Write inventory.schema.json and profile.schema.json into DIR (editors "
                                    "validate both files as they are typed).")
    sc.add_argument("dir", metavar="DIR")


def _errors():
    from hftinfra.provision.generate import OutputError
    from hftinfra.provision.inventory import InventoryError
    from hftinfra.provision.render import RenderError

    return (InventoryError, OutputError, RenderError)


def run(args: argparse.Namespace) -> int:
    try:
        verb = args.verb
        if verb is None:
            return _generate(args)
        return {"validate": _validate, "replace-mac": _replace_mac, "mark": _mark, "diagnose": _diagnose,
                "serve": _serve, "schema": _schema}[verb](args)
    except _errors() as exc:
        raise UserError(str(exc)) from None


def _say(args, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


def regenerate(inventory, out: str | Path, *, root: str | None = None, force: bool = False):
    """Generate and write; the root of an earlier run in ``out`` is kept unless given."""
    from hftinfra.provision.generate import generate, kept_root, write_tree

    return write_tree(generate(inventory, root=root or kept_root(Path(out))), out, force=force)


def _summary(result) -> str:
    parts = [f"{len(result.written)} written", f"{len(result.unchanged)} unchanged"]
    if result.removed:
        parts.append(f"{len(result.removed)} removed ({', '.join(result.removed)})")
    return ", ".join(parts)


def _generate(args) -> int:
    from hftinfra.provision.generate import MANIFEST, read_manifest
    from hftinfra.provision.inventory import load_inventory

    if not args.inventory or not args.out:
        raise UserError("give --inventory FILE and --out DIR (or a verb: validate, replace-mac, mark, diagnose, "
                        "serve, schema)")
    inv = load_inventory(args.inventory)
    result = regenerate(inv, args.out, root=args.root, force=args.force)
    _say(args, f"hftinfra provision: {len(inv.hosts)} hosts from {args.inventory} -> {args.out}: {_summary(result)}")
    supply = (read_manifest(Path(args.out)) or {}).get("supply", [])
    if supply:
        _say(args, f"binaries to place in {args.out}/ before serving it (listed in {MANIFEST}):")
        for item in supply:
            _say(args, f"  {item['path']}: {item['what']} (from {item['source']})")
    return 0


def _validate(args) -> int:
    from hftinfra.cpulist import format_cpulist
    from hftinfra.provision.inventory import load_inventory

    inv = load_inventory(args.inventory_v)
    print(f"{args.inventory_v}: valid: site {inv.site.name}, {len(inv.hosts)} hosts")
    for h in inv.hosts:
        fw = h.firmware + (f", Secure Boot via {h.boot_chain}" if h.secure_boot else "")
        tuning = ""
        if h.profile:
            iso = h.variables.get("isolated_cpus")
            tuning = f", profile {h.profile}" + (f", isolated {format_cpulist(iso)} of {h.cpus}" if iso else "")
        elif h.power_plan:
            tuning = f", power plan {h.power_plan}"
        ip = f", {h.ip.ip}" if h.ip else ", dynamic address"
        print(f"  {h.name}: {h.role}, {h.os_family}, {fw}, {', '.join(h.macs)}{ip}{tuning}, {h.install}")
    return 0


def _replace_mac(args) -> int:
    from hftinfra.provision.edit import edit_and_regenerate, replace_mac

    out = Path(args.out_r)
    edit, result = edit_and_regenerate(
        args.inventory_r, out,
        lambda write: replace_mac(args.inventory_r, args.host, args.new_mac, old_mac=args.old_mac, write=write),
        force=args.force_r)
    print(f"{args.inventory_r}:{edit.line}: host {edit.host}: {edit.old} -> {edit.new}")
    print(f"{out}: {_summary(result)}")
    stale = [p for p in result.removed if edit.old.replace(":", "-") in p]
    if stale:
        print(f"stale files of {edit.old} removed: {', '.join(stale)}")
    if args.leases:
        leases = _old_leases(args.leases, edit.old)
        if leases:
            print(f"{args.leases}: {len(leases)} lease(s) of the old MAC {edit.old} remain:")
            for line in leases:
                print(f"  {line}")
            print("  they expire by themselves; to free the address now: stop dnsmasq, delete those lines, start it "
                  "(or dhcp_release IFACE IP MAC, from dnsmasq-utils, while it runs)")
        else:
            print(f"{args.leases}: no lease of the old MAC {edit.old}")
    print("restart dnsmasq to apply: it reads its configuration at start")
    return 0


def _old_leases(path: str, mac: str) -> list[str] | None:
    """dnsmasq's lease file: 'EXPIRY MAC IP HOSTNAME CLIENT-ID' per line (dnsmasq lease.c)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError(f"{path}: no such lease file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1].lower() == mac:
            out.append(line.strip())
    return out


def _mark(args) -> int:
    from hftinfra.provision.edit import edit_and_regenerate, set_install

    state = "local" if args.state == "installed" else "install"
    out = Path(args.out_m)
    edit, result = edit_and_regenerate(
        args.inventory_m, out, lambda write: set_install(args.inventory_m, args.host, state, write=write))
    nxt = "its local disk" if state == "local" else "the installer (Kickstart or WinPE)"
    print(f"{args.inventory_m}:{edit.line}: host {edit.host}: install {edit.old} -> {state}; next boot: {nxt}")
    print(f"{out}: {_summary(result)}")
    return 0


def _diagnose(args) -> int:
    from hftinfra.provision.diagnose import diagnose
    from hftinfra.provision.generate import SRV, read_manifest
    from hftinfra.provision.inventory import load_inventory

    log = _read_text(args.log, "log")
    console = _read_text(args.console, "console transcript") if args.console else None
    hosts = None
    if args.inventory_d:
        inv = load_inventory(args.inventory_d)
        hosts = {mac: h.name for mac, h in inv.by_mac().items()}
    served = None
    if args.out_d:
        manifest = read_manifest(Path(args.out_d))
        if manifest is None:
            raise UserError(f"{args.out_d}: no {SRV}/ generated by hftinfra here (no MANIFEST.json)")
        prefix = f"{SRV}/"
        served = {p[len(prefix):] for p in manifest["files"] if p.startswith(prefix)}
        served |= {s["path"][len(prefix):] for s in manifest.get("supply", []) if s["path"].startswith(prefix)}
    result = diagnose(log, console, hosts=hosts, served=served)
    if args.format == "json":
        import json

        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.to_text())
    return result.exit_code()


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def _serve(args) -> int:
    from hftinfra.provision.inventory import load_inventory
    from hftinfra.provision.serve import serve

    inv = load_inventory(args.inventory_s)
    out = Path(args.out_s)
    if not (out / "srv").is_dir():
        raise UserError(f"{out}: no srv/ here; generate first: hftinfra provision --inventory {args.inventory_s} "
                        f"--out {out}")
    bind = args.bind or str(inv.site.server_ip)
    port = args.port or inv.site.http_port
    try:
        serve(args.inventory_s, out, bind=bind, port=port, log=sys.stderr)
    except OSError as exc:
        raise UserError(f"cannot listen on {bind}:{port} ({exc.strerror})") from None
    return 0


def _schema(args) -> int:
    from hftinfra.provision.schema import write_schemas

    for path in write_schemas(Path(args.dir)):
        print(path)
    return 0
