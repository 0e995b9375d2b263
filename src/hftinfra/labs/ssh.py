"""The ssh lab: inventory hosts reached over real ssh, for the Ansible playbooks.

Each host is a network namespace of a :class:`hftinfra.labs.harness.Lab` running its own
``sshd`` (own host key, own config, in the foreground under the lab, so the lab stops it).
The control node is a namespace too, joined to every host by a veth pair with its own /30
from the lab's 198.18.0.0/15 range: ``ansible-playbook`` runs inside it through
``ip netns exec``, so neither the hosts nor the control node touch the machine's own network.
All of them share this machine's filesystem, users and processes: only the network differs.

Nothing is written outside the work folder given, except ``/run/sshd`` (sshd's privilege
separation folder), created only when absent and removed afterwards only when created here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftinfra.fixes import ansible as fa
from hftinfra.labs.harness import Lab, LabError, LabProcess, find_tool

PRIVSEP_DIR = Path("/run/sshd")
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)"
                    r"\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


def missing() -> str | None:
    """Why ssh hosts cannot be built here (one line), or None when they can (the labs'
    own needs, network namespaces and veth, are :func:`~hftinfra.labs.lab_capability`'s)."""
    if os.geteuid() != 0:
        return f"needs root for network namespaces and sshd (running as uid {os.geteuid()})"
    for tool, package in (("sshd", "openssh-server"), ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"),
                          ("ip", "iproute2")):
        if find_tool(tool) is None:
            return f"needs '{tool}' (Debian package {package}), which is not installed"
    if fa.tool_argv("ansible-playbook") is None:
        return "needs ansible-playbook (pip install ansible)"
    return None


@contextmanager
def privsep_dir() -> Iterator[Path]:
    """sshd refuses to start without its privilege separation folder; make it only if absent."""
    made = False
    if not PRIVSEP_DIR.exists():
        PRIVSEP_DIR.mkdir(mode=0o755)
        made = True
    try:
        yield PRIVSEP_DIR
    finally:
        if made:
            try:
                PRIVSEP_DIR.rmdir()
            except OSError:
                pass  # something else started using it meanwhile: leave it


@dataclass
class SshHost:
    name: str
    netns: str
    address: str
    sshd: LabProcess | None
    config: Path | None


@dataclass
class Run:
    """One ansible-playbook run inside the control namespace."""

    argv: tuple[str, ...]
    returncode: int
    output: str
    elapsed_s: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def messages(self) -> list[str]:
        return [json.loads(m.group(1)) for m in re.finditer(r'^\s*"msg": (".*")\s*$', self.output, re.M)]


class SshLab:
    """Hosts with sshd, a control namespace, and an inventory for them.

    ``with Lab("fleet") as lab, SshLab(lab, work) as ssh:``; ``ssh.host("tuned")`` adds a host
    with sshd listening, ``ssh.host("down", sshd=False)`` one where nothing listens.
    """

    def __init__(self, lab: Lab, work: Path):
        self.lab = lab
        self.work = Path(work)
        self.hosts: dict[str, SshHost] = {}
        self._roles: set[str] = set()
        self._privsep = privsep_dir()
        self.ctl = ""
        self.sshd = find_tool("sshd") or "/usr/sbin/sshd"

    def __enter__(self) -> SshLab:
        self._privsep.__enter__()
        try:
            self._keys()
            self.ctl = self.lab.netns("ctl")
        except BaseException:
            self._privsep.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc) -> bool:
        # The lab stops the daemons when it ends; stop them here already, before /run/sshd goes.
        for h in self.hosts.values():
            if h.sshd is not None:
                h.sshd.stop()
        self._privsep.__exit__(*exc)
        return False

    # -- keys ------------------------------------------------------------------------------

    def _keys(self) -> None:
        keys = self.work / "keys"
        keys.mkdir(parents=True)
        keygen = find_tool("ssh-keygen") or "ssh-keygen"
        for name in ("host_ed25519", "client_ed25519"):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"hftinfra test {name}", "-f",
                            str(keys / name)], check=True, capture_output=True, timeout=30)
        self.host_key = keys / "host_ed25519"
        self.client_key = keys / "client_ed25519"
        self.authorized_keys = keys / "authorized_keys"
        self.authorized_keys.write_text((keys / "client_ed25519.pub").read_text())
        self.known_hosts = keys / "known_hosts"
        self.ssh_config = keys / "ssh_config"
        self.ssh_config.write_text("")

    # -- hosts -----------------------------------------------------------------------------

    def host(self, name: str, *, sshd: bool = True) -> SshHost:
        """Add inventory host ``name`` (any inventory name; its namespace is named after it
        when the name is a valid lab role, else ``hN``)."""
        used = {"ctl", *self._roles}
        role = name if re.fullmatch(r"[a-z0-9]{1,8}", name) and name not in used else ""
        n = len(self.hosts)
        while not role or role in used:
            role, n = f"h{n}", n + 1
        self._roles.add(role)
        ns = self.lab.netns(role)
        pair = self.lab.veth(self.ctl, ns)
        address = pair.b.ip
        if address is None:
            raise LabError(f"veth to {name}: no address on the host's end")
        config = proc = None
        if sshd:
            folder = self.work / "sshd" / role
            folder.mkdir(parents=True)
            config = folder / "sshd_config"
            config.write_text("\n".join([
                f"ListenAddress {address}",
                "Port 22",
                f"HostKey {self.host_key}",
                f"PidFile {folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.authorized_keys}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                # The keys live in the test's temp folder, not in ~/.ssh with sshd's modes.
                "StrictModes no",
                "X11Forwarding no",
                "PrintMotd no",
                "PrintLastLog no",
                "Subsystem sftp internal-sftp",
                "",
            ]))
            check = subprocess.run([self.sshd, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30)
            if check.returncode != 0:
                raise LabError(f"sshd -t: {check.stderr.strip()}")
            proc = self.lab.start(ns, [self.sshd, "-D", "-e", "-f", str(config)], log=f"sshd-{role}.log")
        self.hosts[name] = SshHost(name, ns, address, proc, config)
        return self.hosts[name]

    def wait_listening(self, timeout: float = 10.0) -> None:
        for h in self.hosts.values():
            if h.sshd is not None and not h.sshd.wait_for("Server listening on", timeout=timeout):
                raise LabError(f"sshd for {h.name} did not start: {h.sshd.output().strip()[-500:]}")

    def inventory(self, group: str, host_vars: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """A YAML inventory (as data: write it with json.dumps, which YAML reads): every host in
        ``group`` with its address, its own variables, and the lab's key and known_hosts."""
        # An empty config of our own instead of ~/.ssh/config and /etc/ssh/ssh_config.
        ssh_args = " ".join([
            f"-F {self.ssh_config}", "-o StrictHostKeyChecking=no", f"-o UserKnownHostsFile={self.known_hosts}",
            f"-o GlobalKnownHostsFile={self.ssh_config}", "-o IdentitiesOnly=yes", "-o ConnectTimeout=5",
        ])
        hosts = {name: {"ansible_host": self.hosts[name].address, **hv} for name, hv in host_vars.items()}
        common = {"ansible_user": "root", "ansible_ssh_private_key_file": str(self.client_key),
                  "ansible_ssh_common_args": ssh_args, "ansible_python_interpreter": sys.executable}
        return {group: {"hosts": hosts, "vars": common}}

    def playbook(self, playbook: Path, inventory: Path, *, work: Path, forks: int = 5,
                 extra_vars: Mapping[str, Any] | None = None, args: Sequence[str] = (),
                 config: Path | None = None, timeout: float = 180) -> Run:
        """ansible-playbook inside the control namespace, its caches and temp files in ``work``
        (they win over what ``config``, an ansible.cfg, says)."""
        env = fa.ansible_env(work)
        if config is not None:
            env["ANSIBLE_CONFIG"] = str(config)
        # ssh's control sockets: a path under pytest's long tmp_path passes the 108 bytes a
        # UNIX socket's name may have; the lab's temp folder is short, and removed with it.
        if self.lab.tmpdir is None:
            raise LabError("the lab has not started (use it inside `with Lab(...)`)")
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(self.lab.tmpdir / "cp")
        ev = work / "extra-vars.json"
        ev.write_text(json.dumps(dict(extra_vars or {})))
        argv = [*fa.tool_argv("ansible-playbook"), "-i", str(inventory), str(playbook), "-f", str(forks),
                "-e", f"@{ev}", *args]
        t0 = time.perf_counter()
        done = self.lab.run(self.ctl, argv, env=env, timeout=timeout)
        elapsed = time.perf_counter() - t0
        recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"),
                                      map(int, m.groups()[1:]), strict=True))
                 for m in _RECAP.finditer(done.stdout)}
        output = done.stdout + ("\n" + done.stderr if done.stderr.strip() else "")
        return Run(tuple(argv), done.returncode, output, elapsed, recap)


@dataclass
class Collection:
    """What :func:`collect_over_ssh` did: the playbook's run, the fleet folder it filled, the
    collection summary the playbook wrote (``collect.json``), and the lab's cleanup."""

    run: Run
    fleet_dir: Path
    summary: dict[str, Any]
    cleanup: str
    lab_s: float

    @property
    def collected(self) -> list[str]:
        return sorted(h for h, v in self.summary.get("hosts", {}).items() if v.get("status") == "collected")

    @property
    def failed(self) -> dict[str, str]:
        return {h: f"{v.get('reason')}: {v.get('message')}" for h, v in sorted(self.summary.get("hosts", {}).items())
                if v.get("status") != "collected"}

    def lines(self) -> list[str]:
        """The playbook's own summary lines ("HOST: collected (SIZE)", "HOST: failed (...)")."""
        return [m for m in self.run.messages if re.match(r"^\S+: (collected|failed) \(", m)]

    def __str__(self) -> str:
        head = (f"ansible-playbook over ssh: {len(self.summary.get('hosts', {}))} hosts, exit {self.run.returncode}, "
                f"{self.run.elapsed_s:.1f} s (lab up in {self.lab_s:.1f} s)")
        return "\n".join([head, *("  " + line for line in self.lines()), self.cleanup])


def collect_over_ssh(playbook: Path, fleet_dir: Path, hosts: Mapping[str, Mapping[str, Any]], *,
                     unreachable: Sequence[str] = (), forks: int | None = None, config: Path | None = None,
                     timeout: float = 300) -> Collection:
    """Run ``playbook`` (``fleet-snapshot.yml``) for real: each name of ``hosts`` a namespace
    with its own sshd and the given host variables, each of ``unreachable`` a namespace where
    nothing listens; the archives and records land in ``fleet_dir``. Everything the lab made
    is gone when this returns or raises. Raises :class:`LabError` when it cannot run (see
    :func:`missing`)."""
    why = missing()
    if why:
        raise LabError(f"the ssh lab {why}")
    command = fa.tool_argv("hftinfra")
    if command is None:
        raise LabError("the ssh lab needs the hftinfra command (pip install -e .)")
    work = Path(tempfile.mkdtemp(prefix="hftinfra-ssh-"))
    try:
        host_tmp = work / "host-tmp"
        host_tmp.mkdir()
        t0 = time.perf_counter()
        with Lab("fleet") as lab, SshLab(lab, work / "ssh") as ssh:
            for name in hosts:
                ssh.host(name)
            for name in unreachable:
                ssh.host(name, sshd=False)
            ssh.wait_listening()
            lab_s = time.perf_counter() - t0
            data = ssh.inventory("hft_servers", {**hosts, **{n: {} for n in unreachable}})
            data["hft_servers"]["vars"].update({"hftinfra_command": command, "hftinfra_fleet_dir": str(fleet_dir),
                                                "hftinfra_fleet_tmp": str(host_tmp)})
            inventory = work / "inventory.yml"
            inventory.write_text(json.dumps(data, indent=1))
            run = ssh.playbook(Path(playbook), inventory, work=work / "run", forks=forks or len(data["hft_servers"]["hosts"]),
                               config=config, timeout=timeout)
        try:
            summary = json.loads((Path(fleet_dir) / "collect.json").read_text())
        except (OSError, ValueError) as exc:
            raise LabError(f"the playbook wrote no readable collect.json (exit {run.returncode}): {exc}\n"
                           + run.output[-2000:]) from None
        return Collection(run, Path(fleet_dir), summary, lab.cleanup_report().summary(), lab_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
