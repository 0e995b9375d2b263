"""ethtool's JSON output: samples in the layout of ethtool's netlink/*.c parsed into the records
the text parsers give, the choice of JSON or text per subcommand (by ethtool's version, once
per read, falling back to text), snapshots with and without JSON, and the live host's
``ethtool --json -k`` against its text."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess

import pytest
from conftest import write_tree
from hypothesis import given, settings
from hypothesis import strategies as st
from test_net import (
    CHANNELS_ICE,
    CHANNELS_VIRTIO,
    COALESCE_ICE,
    COALESCE_VIRTIO,
    FEATURES,
    PAUSE_AUTONEG,
    PAUSE_STATS,
    RINGS_ICE,
    SETTINGS_ICE,
    SETTINGS_VIRTIO,
    two_nic_tree,
)

from hftinfra.host import CommandResult, Host, Reason, Unread, open_host
from hftinfra.net import (
    ETHTOOL_JSON_SINCE,
    ETHTOOL_SUBCOMMANDS,
    JSON_PARSERS,
    PARSERS,
    EthtoolForms,
    Feature,
    Features,
    Pause,
    parse_ethtool_channels,
    parse_ethtool_channels_json,
    parse_ethtool_coalesce,
    parse_ethtool_coalesce_json,
    parse_ethtool_features,
    parse_ethtool_features_json,
    parse_ethtool_pause,
    parse_ethtool_pause_json,
    parse_ethtool_rings,
    parse_ethtool_rings_json,
    parse_ethtool_settings,
    parse_ethtool_settings_json,
    parse_ethtool_version,
    read_ethtool,
    read_ethtool_view,
    read_nics,
)
from hftinfra.records import to_jsonable


def ethtool_json(obj: dict) -> str:
    """One interface's object as ethtool's json_writer prints it: a list of one, pretty."""
    body = json.dumps(obj, indent=4).replace("\n", "\n    ")
    return f"[ {body} ]\n"


# ---- samples in the layout of ethtool's JSON output ------------------------------------------
# netlink/channels.c (6.15+): show_u32 leaves out a count the driver does not report.
CHANNELS_ICE_JSON = ethtool_json({"ifname": "ens1f0", "rx-max": 63, "tx-max": 63, "other-max": 1,
                                  "combined-max": 63, "rx": 0, "tx": 0, "other": 1, "combined": 8})
CHANNELS_VIRTIO_JSON = ethtool_json({"ifname": "eth0", "combined-max": 1, "combined": 1})
# netlink/rings.c (6.2+): tx-push/rx-push are booleans, tcp-data-split a word.
RINGS_ICE_JSON = ethtool_json({"ifname": "ens1f0", "rx-max": 8160, "tx-max": 8160, "rx": 2048, "tx": 2048,
                               "tx-push": False, "rx-push": False, "tcp-data-split": "off"})
# netlink/coalesce.c as of 6.14 (adaptive-rx/-tx, cqe-mode-rx/-tx).
COALESCE_ICE_JSON = ethtool_json({"ifname": "ens1f0", "adaptive-rx": False, "adaptive-tx": False, "rx-usecs": 0,
                                  "tx-usecs": 0, "tx-frames-irq": 256, "rx-usecs-high": 0})
COALESCE_VIRTIO_JSON = ethtool_json({"ifname": "eth0", "adaptive-rx": False, "rx-usecs": 0, "rx-frames": 1,
                                     "tx-usecs": 0, "tx-frames": 1})


def _feature(active: bool, fixed: bool | None, requested: bool | None) -> dict:
    return {"active": active, "fixed": fixed, "requested": requested}


# netlink/features.c (5.17+): the JSON form of FEATURES. A legacy flag over several features
# has null "fixed" and "requested"; one over a single feature is that feature's own state.
FEATURES_JSON = ethtool_json({
    "ifname": "ens1f0",
    "rx-checksumming": _feature(True, False, True),
    "tx-checksumming": _feature(True, None, None),
    "tx-checksum-ipv4": _feature(True, False, True),
    "tx-checksum-ip-generic": _feature(False, True, False),
    "tx-checksum-ipv6": _feature(True, False, True),
    "tx-checksum-fcoe-crc": _feature(False, True, False),
    "tx-checksum-sctp": _feature(True, False, True),
    "scatter-gather": _feature(True, None, None),
    "tx-scatter-gather": _feature(True, False, True),
    "tx-scatter-gather-fraglist": _feature(False, True, False),
    "generic-receive-offload": _feature(True, False, True),
    "large-receive-offload": _feature(False, True, False),
    "ntuple-filters": _feature(False, False, False),
    "receive-hashing": _feature(True, False, True),
    "rx-gro-hw": _feature(False, False, True),
    "hw-tc-offload": _feature(False, False, False),
})
# netlink/pause.c: "negotiated" only while autonegotiation is on; statistics nested.
PAUSE_AUTONEG_JSON = ethtool_json({"ifname": "ens1f0", "autonegotiate": True, "rx": True, "tx": True,
                                   "negotiated": {"rx": True, "tx": False}})
PAUSE_STATS_JSON = ethtool_json({"ifname": "ens1f0", "autonegotiate": False, "rx": False, "tx": False,
                                 "statistics": {"tx_pause_frames": 12, "rx_pause_frames": 7}})
# netlink/settings.c and common.c (6.10+), in the order of their replies (link modes, link
# info, wake-on, debug, link state).
SETTINGS_ICE_JSON = ethtool_json({
    "ifname": "ens1f0", "supported-ports": ["FIBRE"],
    "supported-link-modes": ["25000baseCR/Full", "25000baseSR/Full", "10000baseSR/Full"],
    "supported-pause-frame-use": "Symmetric", "supports-auto-negotiation": True,
    "supported-fec-modes": ["None", "RS", "BASER"],
    "advertised-link-modes": ["25000baseCR/Full", "25000baseSR/Full"], "advertised-pause-frame-use": "No",
    "advertised-auto-negotiation": True, "advertised-fec-modes": ["None", "RS", "BASER"], "speed": 25000,
    "duplex": "Full", "auto-negotiation": False, "port": "FIBRE", "phyad": 0, "transceiver": "internal",
    "supports-wake-on": "g", "wake-on": "d", "current-message-level": 7, "link-detected": True,
})
# virtio_net: no speed or duplex (ethtool prints 'Unknown!' in the text and leaves them out).
SETTINGS_VIRTIO_JSON = ethtool_json({
    "ifname": "eth0", "supported-ports": [], "supported-link-modes": [], "supported-pause-frame-use": "No",
    "supports-auto-negotiation": False, "supported-fec-modes": [], "advertised-link-modes": [],
    "advertised-pause-frame-use": "No", "advertised-auto-negotiation": False, "advertised-fec-modes": [],
    "auto-negotiation": False, "port": "Other", "phyad": 0, "transceiver": "internal", "link-detected": True,
})


# ---- JSON forms parse into the text parsers' records -----------------------------------------

def test_channels_json_equals_text():
    assert parse_ethtool_channels_json(CHANNELS_ICE_JSON) == parse_ethtool_channels(CHANNELS_ICE)
    assert parse_ethtool_channels_json(CHANNELS_VIRTIO_JSON) == parse_ethtool_channels(CHANNELS_VIRTIO)


def test_rings_json_equals_text_and_keeps_extra_keys_by_their_text_label():
    text = parse_ethtool_rings(RINGS_ICE)
    # The text prints 'TX push buff len: n/a' in both halves; JSON leaves n/a out.
    assert text.other == (("max TX push buff len", "n/a"), ("TX push buff len", "n/a"))
    assert parse_ethtool_rings_json(RINGS_ICE_JSON) == dataclasses.replace(text, other=())
    newer = ethtool_json({"ifname": "eth0", "rx-max": 4096, "tx-max": 4096, "tx-push-buff-max-len": 256,
                          "hds-thresh-max": 1024, "rx": 1024, "tx": 1024, "rx-buf-len": 4096, "cqe-size": 64,
                          "tx-push": True, "rx-push": False, "tx-push-buf-len": 128,
                          "tcp-data-split": "unknown(7)\n", "hds-thresh": 256})
    r = parse_ethtool_rings_json(newer)
    assert (r.max_rx, r.rx, r.rx_buf_len, r.cqe_size, r.tx_push, r.rx_push) == (4096, 1024, 4096, 64, True, False)
    assert (r.max_rx_mini, r.rx_jumbo) == (None, None)
    assert r.tcp_data_split == "unknown(7)"
    assert r.other == (("max TX push buff len", "256"), ("max HDS thresh", "1024"), ("TX push buff len", "128"),
                       ("HDS thresh", "256"))


def _without_na(c):
    return dataclasses.replace(c, params=tuple((k, v) for k, v in c.params if v is not None))


def test_coalesce_json_equals_text_with_only_reported_params():
    for j, t in ((COALESCE_ICE_JSON, COALESCE_ICE), (COALESCE_VIRTIO_JSON, COALESCE_VIRTIO)):
        got, text = parse_ethtool_coalesce_json(j), parse_ethtool_coalesce(t)
        assert got == _without_na(text)
        assert all(got.param(k) == v for k, v in text.params)  # n/a reads None either way


def test_coalesce_json_before_614_tells_the_two_rx_tx_pairs_apart_by_position():
    # ethtool 6.2-6.13: adaptive and CQE flags both keyed "rx"/"tx" (a JSON object with a
    # repeated key), the adaptive pair first, the CQE pair after tx-frame-high.
    both = ('[ {"ifname": "eth0", "rx": true, "tx": false, "rx-usecs": 8, "rx-frames": 32, '
            '"tx-usecs": 64, "tx-frames": 128, "rx": false, "tx": true, "tx-aggr-max-bytes": 0} ]')
    c = parse_ethtool_coalesce_json(both)
    assert (c.adaptive_rx, c.adaptive_tx, c.cqe_mode_rx, c.cqe_mode_tx) == (True, False, False, True)
    assert c.params == (("rx-usecs", 8), ("rx-frames", 32), ("tx-usecs", 64), ("tx-frames", 128),
                        ("tx-aggr-max-bytes", 0))
    cqe_only = '[ {"ifname": "eth0", "rx-usecs": 3, "rx": true, "tx": true} ]'
    c = parse_ethtool_coalesce_json(cqe_only)
    assert (c.adaptive_rx, c.adaptive_tx, c.cqe_mode_rx, c.cqe_mode_tx) == (None, None, True, True)
    adaptive_only = '[ {"ifname": "eth0", "rx": false, "rx-usecs": 3} ]'
    c = parse_ethtool_coalesce_json(adaptive_only)
    assert (c.adaptive_rx, c.cqe_mode_rx) == (False, None)
    both_without_numbers = '[ {"ifname": "eth0", "rx": true, "tx": true, "rx": false, "tx": false} ]'
    c = parse_ethtool_coalesce_json(both_without_numbers)
    assert (c.adaptive_rx, c.adaptive_tx, c.cqe_mode_rx, c.cqe_mode_tx) == (True, True, False, False)
    with pytest.raises(ValueError, match="adaptive or the CQE"):
        parse_ethtool_coalesce_json('[ {"ifname": "eth0", "rx": true, "tx-aggr-max-frames": 4} ]')


def test_features_json_equals_text():
    assert parse_ethtool_features_json(FEATURES_JSON) == parse_ethtool_features(FEATURES)


def test_features_json_groups_end_where_the_flags_kernel_names_end():
    # A legacy flag with no feature of its own (receive-hashing here, fixed null), then the
    # features that match no legacy flag: those are not under it.
    text = "Features for eth0:\nreceive-hashing: off\nhighdma: on [fixed]\nrx-gro-list: off [requested on]\n"
    j = ethtool_json({"ifname": "eth0", "receive-hashing": _feature(False, None, None),
                      "highdma": _feature(True, True, False), "rx-gro-list": _feature(False, False, True)})
    got = parse_ethtool_features_json(j)
    assert got == parse_ethtool_features(text)
    assert got.get("highdma") == Feature("highdma", True, True, None, None)  # fixed: no [requested]
    tso = ethtool_json({"ifname": "eth0", "tcp-segmentation-offload": _feature(True, None, None),
                        "tx-tcp-segmentation": _feature(True, False, True),
                        "tx-tcp6-segmentation": _feature(True, False, True),
                        "generic-segmentation-offload": _feature(True, False, True)})
    groups = {f.name: f.group for f in parse_ethtool_features_json(tso).features}
    assert groups == {"tcp-segmentation-offload": None, "tx-tcp-segmentation": "tcp-segmentation-offload",
                      "tx-tcp6-segmentation": "tcp-segmentation-offload", "generic-segmentation-offload": None}


def test_pause_json_equals_text():
    assert parse_ethtool_pause_json(PAUSE_AUTONEG_JSON) == parse_ethtool_pause(PAUSE_AUTONEG)
    assert parse_ethtool_pause_json(PAUSE_STATS_JSON) == parse_ethtool_pause(PAUSE_STATS) \
        == Pause(False, False, False, None, None)


def test_settings_json_equals_text():
    for j, t in ((SETTINGS_ICE_JSON, SETTINGS_ICE), (SETTINGS_VIRTIO_JSON, SETTINGS_VIRTIO)):
        got, text = parse_ethtool_settings_json(j), parse_ethtool_settings(t)
        assert dataclasses.replace(got, fields=()) == dataclasses.replace(text, fields=())
        # Lines JSON leaves out: an unknown speed/duplex; the message class names after the level.
        text_fields = {k: v for k, v in text.fields if not v.startswith("Unknown!")}
        text_fields["Current message level"] = text_fields.get("Current message level", "").split(" ", 2)[:2]
        got_fields = dict(got.fields)
        got_fields["Current message level"] = got_fields.get("Current message level", "").split(" ", 2)[:2]
        assert got_fields == text_fields
    s = parse_ethtool_settings_json(SETTINGS_ICE_JSON)
    assert (s.speed_mbps, s.duplex, s.autoneg, s.port, s.link_detected) == (25000, "full", False, "FIBRE", True)
    assert s.field("Speed") == "25000Mb/s" and s.field("Supports Wake-on") == "g"
    v = parse_ethtool_settings_json(SETTINGS_VIRTIO_JSON)
    assert (v.speed_mbps, v.duplex, v.supported_link_modes) == (None, None, ())


def test_settings_link_state_in_both_forms():
    # The kernel's extended link state follows 'Link detected' (netlink/settings.c).
    j = ethtool_json({"ifname": "eth1", "speed": 100000, "duplex": "Full", "link-detected": False,
                      "link-state": ["Autoneg", "No partner detected"], "sqi": 7, "sqi-max": 7,
                      "mdi-x": True, "mdi-x-forced": False, "mdi-x-auto": True})
    s = parse_ethtool_settings_json(j)
    assert s.link_detected is False and s.field("Link detected") == "no (Autoneg, No partner detected)"
    assert s.field("SQI") == "7/7" and s.field("MDI-X") == "on (auto)"
    text = parse_ethtool_settings("Settings for eth1:\n\tSpeed: 100000Mb/s\n\tDuplex: Full\n"
                                  "\tLink detected: no (Autoneg, No partner detected)\n")
    assert text.link_detected is False and text.field("Link detected") == s.field("Link detected")


@pytest.mark.parametrize("parse, text", [
    (parse_ethtool_channels_json, "Channel parameters for eth0:\nPre-set maximums:\nRX:\t\t1\n"),  # text
    (parse_ethtool_channels_json, "[ ]\n"),  # what ethtool prints before an error
    (parse_ethtool_channels_json, '[ {"ifname": "eth0", "rx": "many"} ]'),
    (parse_ethtool_channels_json, '[ {"ifname": "eth0", "rx": true} ]'),
    (parse_ethtool_channels_json, '{"ifname": "eth0"}'),
    (parse_ethtool_channels_json, '[ {"rx": 1} ]'),
    (parse_ethtool_rings_json, '[ {"ifname": "eth0", "tx-push": 1} ]'),
    (parse_ethtool_coalesce_json, '[ {"ifname": "eth0", "rx-usecs": "0"} ]'),
    (parse_ethtool_features_json, '[ {"ifname": "eth0", "rx-gro": true} ]'),
    (parse_ethtool_features_json, '[ {"ifname": "eth0", "rx-gro": {"fixed": false}} ]'),
    (parse_ethtool_features_json, '[ {"ifname": "eth0"} ]'),
    (parse_ethtool_pause_json, '[ {"ifname": "eth0", "negotiated": true, "rx": true} ]'),
    (parse_ethtool_pause_json, '[ {"ifname": "eth0"} ]'),
    (parse_ethtool_settings_json, '[ {"ifname": "eth0", "supported-link-modes": "all"} ]'),
    (parse_ethtool_settings_json, '[ {"ifname": "eth0"} ]'),
    (parse_ethtool_settings_json, '[ {"ifname": "eth0", "speed": 1.5} ]'),
])
def test_json_parsers_refuse_what_ethtool_does_not_print(parse, text):
    with pytest.raises(ValueError):
        parse(text)


_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                            lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.sampled_from(["ifname", "rx", "tx", "rx-usecs", "active", "fixed",
                                                               "speed", "link-state", "negotiated", "x"]),
                                              inner, max_size=5), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(value=_json_values, text=st.text(max_size=60))
def test_json_parsers_only_raise_value_error(value, text):
    for parse in JSON_PARSERS.values():
        for arg in (json.dumps([value]), json.dumps(value), text):
            try:
                parse(arg)
            except ValueError:
                pass


def test_version():
    assert parse_ethtool_version("ethtool version 6.1\n") == (6, 1)
    assert parse_ethtool_version("ethtool version 5.16.1\n") == (5, 16)
    with pytest.raises(ValueError):
        parse_ethtool_version("ethtool: bad command line argument(s)\n")


def test_json_forms_cover_the_subcommands_ethtool_prints_as_json():
    assert set(JSON_PARSERS) == set(ETHTOOL_JSON_SINCE) <= set(ETHTOOL_SUBCOMMANDS)
    assert not {"driver", "timestamping"} & set(ETHTOOL_JSON_SINCE)  # -i and -T: text in every release


# ---- which form is read: a host that answers like a given ethtool release --------------------

BAD_ARGS = "ethtool: bad command line argument(s)\nJSON output not available for this subcommand\n" \
           "For more information run ethtool -h\n"
TEXT = {"settings": SETTINGS_ICE, "driver": "driver: ice\nbus-info: 0000:3b:00.0\n", "channels": CHANNELS_ICE,
        "rings": RINGS_ICE, "coalesce": COALESCE_ICE, "features": FEATURES, "pause": PAUSE_AUTONEG,
        "timestamping": "Time stamping parameters for ens1f0:\nCapabilities:\n\tsoftware-transmit\n"
                        "PTP Hardware Clock: none\n"}
JSON = {"settings": SETTINGS_ICE_JSON, "channels": CHANNELS_ICE_JSON, "rings": RINGS_ICE_JSON,
        "coalesce": COALESCE_ICE_JSON, "features": FEATURES_JSON, "pause": PAUSE_AUTONEG_JSON}


def _argv(field: str, name: str, as_json: bool) -> tuple[str, ...]:
    option = ETHTOOL_SUBCOMMANDS[field]
    return ("ethtool", *(("--json",) if as_json else ()), *((option,) if option else ()), name)


class Release(Host):
    """Answers ethtool commands as ethtool ``release`` would, printing the samples above for
    every interface, and records what was run. ``version_known=False``: ``ethtool --version``
    was not recorded (a snapshot from before it was asked). ``json_answer``: field ->
    (exit code, stdout, stderr) of its ``--json`` run instead."""

    is_live = False
    source = "test"

    def __init__(self, release: tuple[int, int], version_known: bool = True, json_answer=None):
        self.release = release
        self.version_known = version_known
        self.json_answer = json_answer or {}
        self.calls: list[str] = []

    def run(self, argv, timeout: float = 10.0):
        argv = tuple(argv)
        self.calls.append(" ".join(argv))
        if argv == ("ethtool", "--version"):
            if not self.version_known:
                return Unread(Reason.MISSING, "ethtool --version", "command output not recorded in this snapshot")
            return CommandResult(argv, 0, f"ethtool version {self.release[0]}.{self.release[1]}\n", "")
        name, as_json = argv[-1], argv[1] == "--json"
        field = next(f for f in ETHTOOL_SUBCOMMANDS if argv == _argv(f, name, as_json))
        if not as_json:
            return CommandResult(argv, 0, TEXT[field].replace("ens1f0", name), "")
        if field in self.json_answer:
            return CommandResult(argv, *self.json_answer[field])
        since = ETHTOOL_JSON_SINCE.get(field)
        if since is None or self.release < (5, 10) or self.release < since and field != "pause":
            return CommandResult(argv, 1, "", BAD_ARGS)
        if self.release < since:  # pause 5.10-6.1: every flag printed true
            return CommandResult(argv, 0, PAUSE_AUTONEG_JSON.replace('"tx": false', '"tx": true'), "")
        return CommandResult(argv, 0, JSON[field].replace("ens1f0", name), "")


def _json_used(et) -> set[str]:
    return {f for f, key in zip(ETHTOOL_SUBCOMMANDS, et.sources, strict=True) if "--json" in key}


@pytest.mark.parametrize("release, expected", [
    ((5, 16), set()),
    ((6, 1), {"features"}),
    ((6, 2), {"features", "pause", "rings", "coalesce"}),
    ((6, 14), {"features", "pause", "rings", "coalesce", "settings"}),
    ((6, 15), {"features", "pause", "rings", "coalesce", "settings", "channels"}),
    ((7, 0), {"features", "pause", "rings", "coalesce", "settings", "channels"}),
])
def test_the_version_picks_the_form_without_a_failed_attempt(release, expected):
    host = Release(release)
    et = read_ethtool(host, "ens1f0")
    assert _json_used(et) == expected
    assert host.calls[0] == "ethtool --version" and host.calls.count("ethtool --version") == 1
    assert len(host.calls) == 1 + len(ETHTOOL_SUBCOMMANDS)  # one run per view: nothing refused, no retry
    # The same records either way, but for what JSON leaves out: the n/a 'other' lines of
    # RINGS_ICE, the n/a parameters of COALESCE_ICE, the text wording of settings lines.
    text = read_ethtool(Release((5, 0)), "ens1f0")
    for field in ETHTOOL_SUBCOMMANDS:
        got, want = getattr(et, field), getattr(text, field)
        if field in expected and field == "rings":
            want = dataclasses.replace(want, other=())
        elif field in expected and field == "coalesce":
            want = _without_na(want)
        elif field in expected and field == "settings":
            got, want = dataclasses.replace(got, fields=()), dataclasses.replace(want, fields=())
        assert got == want, field
    assert et.pause == parse_ethtool_pause(PAUSE_AUTONEG)  # never the wrong JSON of 6.1


def test_one_read_asks_the_version_once_for_every_interface():
    host = Release((6, 1))
    forms = EthtoolForms()
    for name in ("a", "b", "c"):
        read_ethtool(host, name, forms)
    assert host.calls.count("ethtool --version") == 1
    assert [c for c in host.calls if c.startswith("ethtool --json")] == [f"ethtool --json -k {n}" for n in "abc"]
    assert len(host.calls) == 1 + 3 * len(ETHTOOL_SUBCOMMANDS)
    assert forms.commands()[:3] == ["ethtool --version", "ethtool *", "ethtool -i *"]
    assert "ethtool --json -k *" in forms.commands() and "ethtool -a *" in forms.commands()


def test_unknown_version_tries_each_json_form_once_then_text():
    # ethtool 6.1 whose version is not known: each JSON form is tried on the first interface
    # only; -a never, since its JSON before 6.2 prints every flag true.
    host = Release((6, 1), version_known=False)
    forms = EthtoolForms()
    results = [read_ethtool(host, n, forms) for n in ("a", "b", "c")]
    tried = [c for c in host.calls if c.startswith("ethtool --json")]
    assert tried == [*(f"ethtool --json {o} a".replace("  ", " ") for o in ("", "-l", "-g", "-c", "-k")),
                     "ethtool --json -k b", "ethtool --json -k c"]  # refused on 'a' only; -k kept
    assert all(_json_used(et) == {"features"} for et in results)
    assert all(et.pause == parse_ethtool_pause(PAUSE_AUTONEG) for et in results)


def test_refused_json_falls_back_to_text_once():
    # An ethtool built without netlink refuses --json whatever its version says.
    nl_only = (1, "", "ethtool: parameter '--json' can be used only with netlink\n")
    host = Release((6, 15), json_answer={f: nl_only for f in ETHTOOL_JSON_SINCE})
    forms = EthtoolForms()
    a, b = (read_ethtool(host, n, forms) for n in ("a", "b"))
    assert sum(c.startswith("ethtool --json") for c in host.calls) == len(ETHTOOL_JSON_SINCE)  # once each
    assert _json_used(a) == _json_used(b) == set()
    assert a.channels == parse_ethtool_channels(CHANNELS_ICE) and a.sources[2] == "ethtool -l a"


def test_text_printed_under_json_reads_the_text_command():
    # ethtool 5.10-5.13 ignored --json where a subcommand had no JSON form, and printed text.
    host = Release((6, 15), json_answer={"channels": (0, CHANNELS_ICE, "")})
    et = read_ethtool(host, "ens1f0")
    assert et.channels == parse_ethtool_channels(CHANNELS_ICE) and et.sources[2] == "ethtool -l ens1f0"
    assert host.calls.count("ethtool -l ens1f0") == 1


def test_a_driver_error_under_json_is_the_answer():
    unsupported = (1, "[ ]\n", "netlink error: Operation not supported\n")
    host = Release((6, 15), json_answer={"coalesce": unsupported, "settings": (75, "[ {\n    } ]\n", "")})
    et = read_ethtool(host, "ens1f0")
    assert et.coalesce.reason is Reason.UNSUPPORTED and et.coalesce.source == "ethtool --json -c ens1f0"
    assert "not support" in et.coalesce.detail
    assert et.settings.reason is Reason.UNSUPPORTED and et.settings.source == "ethtool --json ens1f0"
    assert "ethtool -c ens1f0" not in host.calls and "ethtool ens1f0" not in host.calls


def test_read_ethtool_view_shares_forms():
    host = Release((6, 15))
    forms = EthtoolForms()
    for name in ("a", "b"):
        assert read_ethtool_view(host, name, "features", forms) == parse_ethtool_features(FEATURES)
        assert read_ethtool_view(host, name, "driver", forms).driver == "ice"
    assert host.calls == ["ethtool --version", "ethtool --json -k a", "ethtool -i a", "ethtool --json -k b",
                          "ethtool -i b"]
    assert read_ethtool_view(Release((6, 1)), "a", "pause") == parse_ethtool_pause(PAUSE_AUTONEG)


# ---- snapshots ---------------------------------------------------------------------------------

def test_old_snapshot_reads_as_before(tree):
    # Text only, no 'ethtool --version': each JSON form is looked up once (not recorded), then
    # the recorded text is read, named by its text command.
    host = tree(two_nic_tree())
    looked_up: list[str] = []
    real_run = host.run

    def run(argv, timeout=10.0):
        looked_up.append(" ".join(argv))
        return real_run(argv, timeout)

    host.run = run  # type: ignore[method-assign]
    nics = read_nics(host)
    for nic in nics.nics:
        assert not any("--json" in s for s in nic.ethtool.sources), nic.name
    assert [c for c in looked_up if "--json" in c] == [f"ethtool --json {o} ens1f0".replace("  ", " ")
                                                       for o in ("", "-l", "-g", "-c", "-k")]
    assert not any("--json" in s for s in nics.sources)
    assert nics.nic("ens1f0").ethtool.features == parse_ethtool_features(FEATURES)


def test_snapshot_recorded_with_json_replays(tmp_path):
    # two_nic_tree as ethtool 6.15 records it: JSON where the driver has the operation
    # (ens1f0: every view with a JSON form), the JSON command's error otherwise (veth0).
    files = two_nic_tree()
    commands = json.loads(files["/hftinfra/commands.json"])
    commands["ethtool --version"] = {"returncode": 0, "stdout": "ethtool version 6.15\n", "stderr": ""}
    veth_json = {
        "settings": ethtool_json({"ifname": "veth0", "speed": 10000, "duplex": "Full", "auto-negotiation": False,
                                  "port": "Twisted Pair", "phyad": 0, "transceiver": "internal",
                                  "link-detected": True}),
        "channels": CHANNELS_VIRTIO_JSON.replace("eth0", "veth0"),
        "features": ethtool_json({"ifname": "veth0", "rx-checksumming": _feature(True, False, True),
                                  "generic-receive-offload": _feature(False, False, False)}),
    }
    for field in JSON:
        commands.pop(" ".join(_argv(field, "ens1f0", False)))
        commands[" ".join(_argv(field, "ens1f0", True))] = {"returncode": 0, "stdout": JSON[field], "stderr": ""}
        commands.pop(" ".join(_argv(field, "veth0", False)))
        commands[" ".join(_argv(field, "veth0", True))] = (
            {"returncode": 0, "stdout": veth_json[field], "stderr": ""} if field in veth_json
            else {"returncode": 1, "stdout": "[ ]\n", "stderr": "netlink error: Operation not supported\n"})
    files["/hftinfra/commands.json"] = json.dumps(commands)
    with_json = read_nics(open_host(write_tree(tmp_path / "json", files)))
    text = read_nics(open_host(write_tree(tmp_path / "text", two_nic_tree())))
    p, tp = with_json.nic("ens1f0").ethtool, text.nic("ens1f0").ethtool
    assert _json_used(p) == set(JSON)
    assert (p.channels, p.features, p.pause, p.driver, p.timestamping) == \
        (tp.channels, tp.features, tp.pause, tp.driver, tp.timestamping)
    assert p.rings == dataclasses.replace(tp.rings, other=()) and p.coalesce == _without_na(tp.coalesce)
    assert dataclasses.replace(p.settings, fields=()) == dataclasses.replace(tp.settings, fields=())
    v, tv = with_json.nic("veth0").ethtool, text.nic("veth0").ethtool
    assert (v.channels, v.features, v.driver) == (tv.channels, tv.features, tv.driver)
    assert dataclasses.replace(v.settings, fields=()) == dataclasses.replace(tv.settings, fields=())
    for unsupported in (v.rings, v.coalesce, v.pause):
        assert unsupported.reason is Reason.UNSUPPORTED and "--json" in unsupported.source
    assert v.timestamping.reason is Reason.MISSING  # -T was never recorded
    assert "ethtool --version" in with_json.sources and "ethtool --json -k *" in with_json.sources


# ---- the live host -----------------------------------------------------------------------------

def _ethtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ethtool", *args], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"),
                          stdin=subprocess.DEVNULL)


def _interfaces() -> list[str]:
    return sorted(n for n in os.listdir("/sys/class/net") if n != "bonding_masters")


@pytest.mark.live
def test_live_json_features_equal_text():
    if not shutil.which("ethtool"):
        pytest.skip("ethtool is not installed")
    compared = 0
    for name in _interfaces():
        j, t = _ethtool("--json", "-k", name), _ethtool("-k", name)
        if "bad command line argument" in j.stderr:
            pytest.skip(f"this ethtool prints no JSON for -k: {_ethtool('--version').stdout.strip()}")
        assert (j.returncode == 0) == (t.returncode == 0), (name, j.stderr, t.stderr)
        if t.returncode != 0:
            continue  # listed in sysfs, unknown to ethtool (gone, or another machine's layout)
        assert parse_ethtool_features_json(j.stdout) == parse_ethtool_features(t.stdout), name
        compared += 1
    assert compared or not _interfaces()


@pytest.mark.live
def test_live_read_uses_the_form_its_ethtool_prints():
    host = open_host(None)
    nics = read_nics(host)
    if not shutil.which("ethtool"):
        assert not any("--json" in s for s in nics.sources)
        return
    version = parse_ethtool_version(_ethtool("--version").stdout)
    expected = {f for f, since in ETHTOOL_JSON_SINCE.items() if version >= since}
    for nic in nics.nics:
        et = nic.ethtool
        for field, key in zip(ETHTOOL_SUBCOMMANDS, et.sources, strict=True):
            assert ("--json" in key) == (field in expected), (nic.name, key)
            value = getattr(et, field)
            assert not (isinstance(value, Unread) and value.reason is Reason.MALFORMED), (nic.name, field, value)
        text = _ethtool("-k", nic.name)
        if text.returncode == 0 and isinstance(et.features, Features):
            assert et.features == parse_ethtool_features(text.stdout), nic.name
    for field, option in ETHTOOL_SUBCOMMANDS.items():
        form = "ethtool --json" if field in expected else "ethtool"
        assert " ".join([form, *([option] if option else []), "*"]) in nics.sources, field


@pytest.mark.live
def test_live_snapshot_with_json_round_trip(tmp_path):
    from hftinfra import snapshot

    live = open_host(None)
    result = snapshot.capture(live, {"net.nics": read_nics})
    assert result.probe_errors == {}
    expected = to_jsonable(read_nics(live))
    snap = open_host(snapshot.write(result.captured, tmp_path / "snap"))
    recorded = json.loads((tmp_path / "snap" / "hftinfra" / "commands.json").read_text())
    if shutil.which("ethtool"):
        assert "ethtool --version" in recorded
        used = {s for nic in read_nics(live).nics for s in nic.ethtool.sources if "--json" in s}
        assert used <= set(recorded)
    assert to_jsonable(read_nics(snap)) == expected


def test_parsers_tables_match():
    assert set(PARSERS) == set(ETHTOOL_SUBCOMMANDS)
