"""hftinfra.provision.diagnose against real dnsmasq 2.90 and iPXE logs (tests/data/provision,
captured by capture.sh there) and against short synthetic logs for the cases a lab cannot
produce on one segment (another DHCP server answering, other log formats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.provision.diagnose import (
    STAGES,
    BootEvent,
    Diagnosis,
    diagnose,
    parse_console,
    parse_dnsmasq_log,
)

DATA = Path(__file__).parent / "data" / "provision"
CLIENTS = (DATA / "dnsmasq-clients.log").read_text()
VM_LOG = (DATA / "dnsmasq-vm.log").read_text()
VM_CONSOLE = (DATA / "console-vm.txt").read_text()

HOSTS = {"52:54:00:AA:00:01": "alpha", "52-54-00-aa-00-02": "bravo", "52:54:00:aa:00:03": "charlie",
         "52:54:00:aa:00:10": "vm1"}
SERVED = {"ipxe/hosts/52-54-00-aa-00-01.ipxe", "ipxe/hosts/52-54-00-aa-00-02.ipxe",
          "ipxe/hosts/52-54-00-aa-00-10.ipxe", "ipxe/unknown.ipxe", "ipxe/menu.ipxe", "undionly.kpxe"}
KINDS = {"dhcp-discover", "dhcp-offer", "dhcp-request", "dhcp-ack", "dhcp-nak", "dhcp-ignored", "tftp-sent",
         "tftp-not-found", "tftp-error", "console-marker", "console-error", "console-unknown"}


def by_mac(d: Diagnosis) -> dict:
    return {p.mac: p for p in d.paths}


# --- real logs ------------------------------------------------------------------------

def test_real_clients_log_events():
    events = parse_dnsmasq_log(CLIENTS)
    assert all(isinstance(e, BootEvent) and e.source == "dnsmasq" and e.kind in KINDS for e in events)
    kinds = [(e.mac, e.kind) for e in events]
    alpha = [k for m, k in kinds if m == "52:54:00:aa:00:01"]
    assert alpha == ["dhcp-discover", "dhcp-offer", "dhcp-request", "dhcp-ack", "tftp-sent", "tftp-not-found"]
    assert [k for m, k in kinds if m == "52:54:00:ee:ee:ee"] == ["dhcp-ignored"] * 3
    ack = next(e for e in events if e.kind == "dhcp-ack" and e.mac == "52:54:00:aa:00:01")
    # "bootfile name:" and "next server:" lines reach the ACK through the transaction id.
    assert "bootfile undionly.kpxe" in ack.detail and "next server 10.77.0.1" in ack.detail
    assert "alpha" in ack.detail
    disc = events[0]
    assert "vendor class PXEClient" in disc.detail and "tags known, va" in disc.detail
    # Seconds count from the log's first line (dnsmasq's "started"), not from the first event.
    seconds = [e.seconds for e in events]
    assert seconds == sorted(seconds) and 0 < seconds[0] < seconds[-1] < 60
    assert events[0].at == events[0].line[:15]


def test_real_clients_log_verdicts():
    d = diagnose(CLIENTS, hosts=HOSTS, served=SERVED)
    paths = by_mac(d)
    assert d.lines == 89 and d.unparsed == 0
    assert paths["52:54:00:aa:00:01"].stage == "tftp-not-found"
    alpha = paths["52:54:00:aa:00:01"]
    # dnsmasq logs the full path; "TFTP root is" lets it be named relative to the root.
    assert "ipxe/hosts/52-54-00-aa-00-1.ipxe" in alpha.verdict
    assert "closest generated: ipxe/hosts/52-54-00-aa-00-10.ipxe" in alpha.advice or \
        "closest generated: ipxe/hosts/52-54-00-aa-00-01.ipxe" in alpha.advice
    assert alpha.host == "alpha"
    assert paths["52:54:00:aa:00:02"].stage == "no-tftp"
    assert "UDP 69" in paths["52:54:00:aa:00:02"].advice
    assert paths["52:54:00:ee:ee:ee"].stage == "unknown-mac"
    assert "ignored" in paths["52:54:00:ee:ee:ee"].verdict
    assert "replace-mac" in paths["52:54:00:ee:ee:ee"].advice
    assert paths["52:54:00:aa:00:03"].stage == "no-discover"
    assert paths["52:54:00:aa:00:03"].events == ()
    assert all(p.stage in STAGES for p in d.paths)
    assert d.exit_code() == 1


def test_real_vm_boot_with_console():
    d = diagnose(VM_LOG, VM_CONSOLE, hosts={"52:54:00:aa:00:10": "vm1"}, served=SERVED)
    (vm,) = d.paths
    assert vm.stage == "no-kernel" and vm.host == "vm1"
    assert "No such file or directory" in vm.verdict and "ipxe.org/2d0c613b" in vm.verdict
    assert "lacks the file" in vm.advice
    kinds = [e.kind for e in vm.events]
    assert kinds.count("tftp-sent") == 1 and "console-marker" in kinds and "console-error" in kinds
    ack = next(e for e in vm.events if e.kind == "dhcp-ack")
    # iPXE asked for option 67, so the script's name is in "sent ... option: 67", not "bootfile name:".
    assert "bootfile ipxe/hosts/52-54-00-aa-00-10.ipxe" in ack.detail
    request = next(e for e in vm.events if e.kind == "dhcp-request")
    assert "user class iPXE" in request.detail and "tags known, ipxe" in request.detail
    assert d.exit_code() == 1


def test_real_vm_boot_without_console_is_unknown_not_booted():
    (vm,) = diagnose(VM_LOG, hosts={"52:54:00:aa:00:10": "vm1"}).paths
    assert vm.stage == "no-kernel" and "unknown" in vm.verdict and "--console" in vm.advice


def test_real_console_events():
    events = parse_console(VM_CONSOLE)
    assert [e.kind for e in events] == ["console-marker", "console-error", "console-error"]
    assert {e.mac for e in events} == {"52:54:00:aa:00:10"}
    assert events[0].detail == "host vm1 install"
    # iPXE wrapped "(http:" / "//ipxe.org/2d0c613b)" over two lines; they are joined.
    assert events[1].detail.endswith("(http://ipxe.org/2d0c613b)")
    assert all(e.source == "console" and e.at is None for e in events)


def test_without_hosts_the_ack_names_the_host():
    paths = by_mac(diagnose(CLIENTS))
    assert paths["52:54:00:aa:00:02"].host == "bravo"
    assert "52:54:00:aa:00:03" not in paths


def test_served_but_missing_says_not_installed():
    d = diagnose(CLIENTS, hosts=HOSTS, served=SERVED | {"ipxe/hosts/52-54-00-aa-00-1.ipxe"})
    assert "was generated but is not under the TFTP root" in by_mac(d)["52:54:00:aa:00:01"].advice


def test_views():
    d = diagnose(VM_LOG, VM_CONSOLE, hosts=HOSTS, served=SERVED)
    doc = json.loads(json.dumps(d.to_json()))
    assert doc["schema"].startswith("hftinfra.provision.diagnose/") and doc["booted"] is False
    assert {p["stage"] for p in doc["paths"]} == {"no-kernel", "no-discover"}
    text = d.to_text()
    assert "vm1 (52:54:00:aa:00:10): no-kernel:" in text and "76 log lines read, 0 not understood" in text
    assert "<table>" in d._repr_html_()


def test_cli(tmp_path, capsys):
    from hftinfra.cli import main

    rc = main(["provision", "diagnose", "--log", str(DATA / "dnsmasq-vm.log"), "--console",
               str(DATA / "console-vm.txt"), "--format", "json"])
    assert rc == 1
    assert json.loads(capsys.readouterr().out)["paths"][0]["stage"] == "no-kernel"


# --- synthetic logs (hand-written in dnsmasq 2.90's formats, not captured) -------------

SYN_HEAD = "Nov  3 10:00:00 dnsmasq-tftp[7]: TFTP root is /srv/tftp  \n"


def syn(*lines: str) -> str:
    return SYN_HEAD + "".join(f"Nov  3 10:00:{i + 1:02d} dnsmasq-dhcp[7]: {m}\n" for i, m in enumerate(lines))


def test_synthetic_no_request():
    log = syn("11 DHCPDISCOVER(eth0) 52:54:00:00:00:01 ", "11 DHCPOFFER(eth0) 10.0.0.5 52:54:00:00:00:01 ")
    (p,) = diagnose(log).paths
    assert p.stage == "no-request" and "another DHCP server" in p.advice


def test_synthetic_nak_and_no_address():
    log = syn("12 DHCPREQUEST(eth0) 192.168.1.9 52:54:00:00:00:02 ",
              "12 DHCPNAK(eth0) 192.168.1.9 52:54:00:00:00:02 wrong network",
              "13 DHCPDISCOVER(eth0) 52:54:00:00:00:03 no address available")
    paths = by_mac(diagnose(log, hosts={"52:54:00:00:00:02": "a", "52:54:00:00:00:03": "b"}))
    assert paths["52:54:00:00:00:02"].stage == "no-request" and "wrong network" in paths["52:54:00:00:00:02"].verdict
    assert paths["52:54:00:00:00:03"].stage == "no-request"
    assert by_mac(diagnose(log, hosts={}))["52:54:00:00:00:03"].stage == "unknown-mac"


def test_synthetic_syslog_and_journal_formats_and_booted():
    log = ("Nov  3 10:00:00 pxe1 dnsmasq-dhcp[812]: 9 DHCPACK(eth0) 10.0.0.7 52:54:00:00:00:07 db1\n"
           "2026-11-03T10:00:02+0000 pxe1 dnsmasq-tftp[812]: sent /srv/tftp/ipxe/hosts/52-54-00-00-00-07.ipxe "
           "to 10.0.0.7\n")
    events = parse_dnsmasq_log(log)
    assert [e.kind for e in events] == ["dhcp-ack", "tftp-sent"]
    assert events[1].mac == "52:54:00:00:00:07"
    console = "net0: 52:54:00:00:00:07 using virtio-net\nhftinfra: host db1 (52:54:00:00:00:07) install\n" \
              "http://10.0.0.1/images/pxeboot/vmlinuz... ok\nhttp://10.0.0.1/images/pxeboot/initrd.img... ok\n"
    d = diagnose(log, console, hosts={"52:54:00:00:00:07": "db1"})
    assert d.paths[0].stage == "booted" and d.exit_code() == 0


def test_synthetic_unknown_console_and_old_not_found_format():
    log = syn("5 DHCPACK(eth0) 10.0.0.9 52:54:00:00:00:09 ") + \
        "Nov  3 10:00:09 dnsmasq-tftp[7]: sent /srv/tftp/ipxe/unknown.ipxe to 10.0.0.9\n" \
        "Nov  3 10:00:10 dnsmasq-tftp[7]: file /srv/tftp/ipxe/menu.ipx not found\n"
    con = "hftinfra: unknown MAC 52:54:00:00:00:09 (10.0.0.9) on site lab\n"
    (p,) = diagnose(log, con).paths
    assert p.stage == "unknown-mac" and "unknown.ipxe" in p.verdict
    assert parse_dnsmasq_log(log)[-1].kind == "tftp-not-found"


def test_synthetic_tftp_abort_then_sent_is_fine():
    log = syn("3 DHCPACK(eth0) 10.0.0.3 52:54:00:00:00:33 h3") + \
        "Nov  3 10:00:05 dnsmasq-tftp[7]: error 0 TFTP Aborted received from 10.0.0.3\n" \
        "Nov  3 10:00:05 dnsmasq-tftp[7]: failed sending /srv/tftp/undionly.kpxe to 10.0.0.3\n" \
        "Nov  3 10:00:06 dnsmasq-tftp[7]: sent /srv/tftp/undionly.kpxe to 10.0.0.3\n"
    (p,) = diagnose(log).paths
    assert p.stage == "no-tftp" and "loader undionly.kpxe" in p.verdict


def test_damaged_lines_are_counted():
    log = syn("7 DHCPACK(eth0) 10.0.0.7 52:54:00:00:00:07 x") + "garbage\n\x00\x01\nNov  3 dnsmasq[1]: ???\n" + \
        "Nov  3 10:00:00 dnsmasq-dhcp[7]: 7 DHCPACK(eth0 10.0.0.7\n"
    d = diagnose(log)
    assert d.lines == 6 and d.unparsed == 4


def test_empty_log():
    d = diagnose("")
    assert d.paths == () and d.exit_code() == 1 and "no client" in d.to_text()


# --- never crash ------------------------------------------------------------------------

FRAGMENTS = [ln for ln in (CLIENTS + VM_LOG).splitlines()[:60]] + VM_CONSOLE.splitlines()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    parse_dnsmasq_log(text)
    parse_console(text)
    d = diagnose(text, text, hosts={"52:54:00:aa:00:01": "a"}, served={"x"})
    d.to_text(), d.to_json(), d._repr_html_()
    assert d.unparsed <= d.lines


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30), st.integers(0, 200))
def test_shuffled_and_cut_real_lines_never_raise(lines, cut):
    text = "\n".join(ln[: len(ln) - cut % (len(ln) + 1)] if i % 2 else ln for i, ln in enumerate(lines))
    d = diagnose(text, text, hosts=HOSTS, served=SERVED)
    assert all(p.stage in STAGES for p in d.paths)
    json.dumps(d.to_json())


@pytest.mark.parametrize("mac", ["52:54:00:AA:00:01", "52-54-00-aa-00-01"])
def test_hosts_mac_forms(mac):
    assert by_mac(diagnose(CLIENTS, hosts={mac: "alpha"}))["52:54:00:aa:00:01"].host == "alpha"
