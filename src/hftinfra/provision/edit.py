"""Edits to an inventory file that change one value and nothing else: a server swap (a MAC
replaced) and an install state (``install: local`` after a finished install, ``install``
to reinstall).

The file is edited as text at the exact place YAML's parser says the value sits, so
comments, order, quoting and layout stay as they were and the diff is one line. The edited
text is loaded and validated before it replaces the file (a MAC another host has, or a
malformed one, is refused and the file is left alone), and the file is replaced whole
(written beside it, then renamed).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from hftinfra.provision.inventory import (
    INSTALL_STATES,
    Inventory,
    InventoryError,
    _At,
    _Loader,
    load_inventory,
    normalise_mac,
)


@dataclass(frozen=True)
class Edit:
    path: str
    host: str
    field: str
    old: str
    new: str
    line: int  # 1-based
    before: Inventory
    after: Inventory


def _compose(text: str, where: str) -> yaml.Node:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise InventoryError(f"{where}: not valid YAML{at}") from None


def _get(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _host_node(root: yaml.Node, name: str, where: str) -> yaml.MappingNode:
    hosts = _get(root, "hosts")
    if hosts is None or not isinstance(hosts[1], yaml.SequenceNode):
        raise InventoryError(f"{where}: hosts: no list of hosts")
    for item in hosts[1].value:
        got = _get(item, "name")
        if got is not None and isinstance(got[1], yaml.ScalarNode) and got[1].value == name:
            return item
    raise InventoryError(f"{where}: no host {name!r}")


def _replace_span(text: str, node: yaml.Node, new: str) -> str:
    start, end = node.start_mark.index, node.end_mark.index
    return text[:start] + new + text[end:]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"{path}: no such inventory file") from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read ({exc.strerror})") from None


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_mac(path: str | Path, host: str, new_mac: str, *, old_mac: str | None = None,
                write: bool = True) -> Edit:
    """Replace ``host``'s boot MAC (or ``old_mac`` among its MACs) with ``new_mac``."""
    path = Path(path)
    where = str(path)
    text = _read(path)
    before = load_inventory(path, text=text)
    target = before.host(host)
    new = normalise_mac(new_mac, _At(where, host, "new MAC"))
    old = normalise_mac(old_mac, _At(where, host, "old MAC")) if old_mac else target.mac
    if old not in target.macs:
        raise InventoryError(f"{where}: host {host}: has no MAC {old} (its MACs: {', '.join(target.macs)})")
    if new == old:
        raise InventoryError(f"{where}: host {host}: already boots from {new}")
    owner = before.by_mac().get(new)
    if owner is not None:
        raise InventoryError(f"{where}: host {host}: {new} is already host {owner.name}'s; a MAC boots one host")
    root = _compose(text, where)
    node = _host_node(root, host, where)
    macs = _get(node, "macs")
    if macs is None:
        raise InventoryError(f"{where}: host {host}: its MACs come from defaults, not its own entry")
    items = macs[1].value if isinstance(macs[1], yaml.SequenceNode) else [macs[1]]
    for item in items:
        if isinstance(item, yaml.ScalarNode):
            try:
                same = normalise_mac(item.value) == old
            except InventoryError:
                same = False
            if same:
                # Keep the file's own spelling: quotes, separators and case.
                raw = text[item.start_mark.index:item.end_mark.index]
                written = _spelled_like(item.value, new)
                replacement = raw.replace(item.value, written) if item.value in raw else written
                edited = _replace_span(text, item, replacement)
                after = load_inventory(path, text=edited)
                if write:
                    _write(path, edited)
                return Edit(where, host, "macs", old, new, item.start_mark.line + 1, before, after)
    raise InventoryError(f"{where}: host {host}: {old} is not written in its own macs list")


def _spelled_like(old: str, new: str) -> str:
    sep = "-" if "-" in old else ":"
    out = new.replace(":", sep)
    return out.upper() if old.upper() == old and any(c.isalpha() for c in old) else out


def set_install(path: str | Path, host: str, state: str, *, write: bool = True) -> Edit:
    """Set ``host``'s install state: 'local' (boot its disk) or 'install' (reinstall)."""
    path = Path(path)
    where = str(path)
    if state not in INSTALL_STATES:
        raise InventoryError(f"{where}: host {host}: install: {state!r} is not one of {', '.join(INSTALL_STATES)}")
    text = _read(path)
    before = load_inventory(path, text=text)
    old = before.host(host).install
    root = _compose(text, where)
    node = _host_node(root, host, where)
    got = _get(node, "install")
    if got is not None:
        if got[1].value == state:
            return Edit(where, host, "install", old, state, got[1].start_mark.line + 1, before, before)
        edited = _replace_span(text, got[1], state)
        line = got[1].start_mark.line + 1
    elif node.flow_style:
        # '{name: x, ...}': add the key inside the braces.
        end = node.end_mark.index - 1
        edited = text[:end].rstrip() + f", install: {state}" + text[end:]
        line = node.end_mark.line + 1
    else:
        name_key, _ = _get(node, "name")
        indent = " " * name_key.start_mark.column
        lines = text.splitlines(keepends=True)
        # The mapping ends where the next token starts: at a line's indentation (the next
        # '- name:'), or at the end of the file.
        end_line = lines[node.end_mark.line] if node.end_mark.line < len(lines) else ""
        before_end = end_line[:node.end_mark.column]
        insert_at = node.end_mark.line if not before_end.strip() else node.end_mark.line + 1
        # After the host's last non-blank line.
        while insert_at > name_key.start_mark.line + 1 and not lines[insert_at - 1].strip():
            insert_at -= 1
        if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
            lines[insert_at - 1] += "\n"
        lines.insert(insert_at, f"{indent}install: {state}\n")
        edited = "".join(lines)
        line = insert_at + 1
    after = load_inventory(path, text=edited)
    if write:
        _write(path, edited)
    return Edit(where, host, "install", old, state, line, before, after)


def edit_and_regenerate(inventory_path: str | Path, out: str | Path, edit_fn, force: bool = False):
    """Apply an inventory edit (``edit_fn(write=...)`` -> Edit) and regenerate ``out``.
    The tree is rendered before the inventory changes; if writing it fails, the inventory
    file is put back byte for byte."""
    from hftinfra.provision.generate import generate, kept_root, write_tree

    out = Path(out)
    original = Path(inventory_path).read_bytes()
    edit = edit_fn(write=False)
    generated = generate(edit.after, root=kept_root(out))
    edit_fn(write=True)
    try:
        result = write_tree(generated, out, force=force)
    except BaseException:
        Path(inventory_path).write_bytes(original)
        raise
    return edit, result


def text_diff(before: str, after: str, name: str = "inventory", context: int = 1) -> str:
    """A unified diff of two versions of a file (a swap's is one line out, one in)."""
    import difflib

    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"a/{name}", f"b/{name}", n=context))


def swap_checklist(host, new_mac: str | None = None) -> tuple[str, ...]:
    """What to check on a replacement server (``host`` from the edited inventory) before its
    first network boot: firmware mode, Secure Boot, the NIC's boot ROM, boot order."""
    mac = new_mac or host.mac
    items = []
    if host.firmware == "bios":
        items.append("Firmware boot mode: legacy (BIOS/CSM), as the inventory says; a UEFI-only replacement "
                     "sends option 93 = 7 and gets ipxe.efi instead of undionly.kpxe: set firmware.mode: uefi "
                     "in the inventory rather than enabling CSM")
    else:
        items.append("Firmware boot mode: UEFI, with legacy/CSM off; a box left in legacy mode sends option 93 = 0 "
                     "and gets undionly.kpxe, and then installs a BIOS-booting system")
    if host.secure_boot:
        chain = ("the distribution's shim -> GRUB -> signed kernel" if host.boot_chain == "shim-grub"
                 else "iPXE's shim -> signed ipxe.efi -> autoexec.ipxe")
        items.append(f"Secure Boot: on, chain {chain}; the firmware's db must trust Microsoft's third-party UEFI "
                     "CA (some machines ship trusting only the Windows CA: a setting such as 'Allow Microsoft "
                     "3rd Party UEFI CA')")
    else:
        items.append("Secure Boot: off; the plain iPXE chain is not signed and the firmware refuses to start it "
                     "with Secure Boot on (set firmware.secure_boot and a boot_chain in the inventory instead)")
    rom = "UEFI PXE (IPv4) network stack" if host.firmware == "uefi" else "the NIC's legacy PXE option ROM"
    items.append(f"Network boot enabled for the port with MAC {mac}: {rom}; many servers enable it per port, "
                 "and a new NIC or riser comes with it off")
    items.append(f"{mac} is the port cabled to the provisioning VLAN (untagged on the switch port), not the "
                 "BMC's MAC and not another port's: read it from the firmware's NIC page or the BMC inventory")
    if len(host.macs) > 1:
        others = ", ".join(m for m in host.macs if m != mac)
        items.append(f"The host's other MACs ({others}) stay as they are unless those NICs were swapped too")
    order = ("a one-time network boot (the BMC's boot override) or network before the disk"
             if host.install == "install" else "the disk first: the host is marked installed")
    items.append(f"Boot order: {order}; once installed, `hftinfra provision mark {host.name} installed` makes "
                 "its network boot hand over to the disk, so network-first stays safe")
    items.append("On the provisioning server: restart dnsmasq (it reads its configuration at start) and let the "
                 "old MAC's lease expire or release it")
    items.append(f"Watch the serial console (or the BMC's) for 'hftinfra: host {host.name} ({mac})': that line "
                 "says the right script ran")
    return tuple(items)


__all__ = ["Edit", "edit_and_regenerate", "replace_mac", "set_install", "swap_checklist", "text_diff"]
