"""``hftinfra fix``: every form from an audit, as a reviewer and tuned, sysctl and
ksvalidator read it; one %post code path with the provisioning generator; bad input."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hftinfra.audit import run_audit
from hftinfra.cli import main
from hftinfra.fixes import FixError, fix_plan, parse_tuned_conf, render
from hftinfra.provision.generate import kickstart, post_section
from hftinfra.provision.inventory import load_inventory

REPO = Path(__file__).resolve().parents[1]
HOSTS = REPO / "tests" / "hosts"
TUNED = str(HOSTS / "tuned-2s")
UNTUNED = str(HOSTS / "untuned-2s")
SAMPLE = REPO / "provisioning" / "sample-inventory.yaml"


@pytest.fixture(scope="module")
def untuned():
    return run_audit(UNTUNED, "hft-isolated", variables=["isolated_cpus=4-15,20-31"])


@pytest.fixture(scope="module")
def untuned_plan(untuned):
    return fix_plan(untuned)


def test_plan_keeps_the_failing_and_warning_checks(untuned, untuned_plan):
    fixable = [f.id for f in untuned.findings if f.status in ("fail", "warn")]
    assert list(untuned_plan.check_ids) == fixable
    assert {s.check_id for s in untuned_plan.plan.settings} <= set(fixable)
    # A check that no setting makes true is named with why, not dropped.
    left = dict(untuned_plan.left)
    assert set(left) <= set(fixable)
    assert all(why for why in left.values())
    planned = {s.check_id for s in untuned_plan.plan.settings} | set(left)
    assert planned == set(fixable) & (planned | set(left))


def test_tuned_fixture_has_nothing_to_fix():
    report = run_audit(TUNED, "hft-isolated")
    fp = fix_plan(report)
    failing = [f for f in report.findings if f.status in ("fail", "warn")]
    assert len(fp.findings) == len(failing)
    if not failing:
        assert "Nothing to fix" in render(fp, "sysctl").text


@pytest.mark.parametrize("fmt", ["script", "tuned", "sysctl", "kickstart-post"])
def test_every_form_names_check_reason_and_source_per_setting(untuned_plan, fmt):
    text = render(untuned_plan, fmt).text
    settings = untuned_plan.plan.sysctls() if fmt == "sysctl" else untuned_plan.plan.settings
    if fmt == "script":
        settings = [f for f in untuned_plan.findings if f.fix]
        for f in settings:
            assert f"# --- {f.id} ({f.status})" in text
            assert f"why: {f.reason}" in text
            assert all(f"source: {s}" in text for s in f.sources)
        return
    assert settings
    firsts = {(s.kind, s.key): s for s in reversed(settings)}  # a file sets a key once: the first check's reason
    for s in settings:
        if fmt == "kickstart-post" and s.kind == "cmdline":
            first = firsts[(s.kind, s.key)]
            line = next(ln for ln in text.splitlines() if ln.startswith(f"#   {first.text}  <- "))
            assert s.check_id in line and first.reason in line
            continue
        assert re.search(rf"^# [a-z_., ]*\b{re.escape(s.check_id)}\b[a-z_., ]*:", text, re.M), s
        first = firsts[(s.kind, s.key)]
        assert first.reason in text
        assert all(f"source: {src}" in text for src in first.sources)


def test_tuned_form_parses_the_way_tuned_does(untuned_plan):
    conf = parse_tuned_conf(render(untuned_plan, "tuned").files["tuned.conf"])
    plan = untuned_plan.plan
    assert conf["main"]["include"] == "network-latency"
    assert conf["bootloader"]["cmdline"] == plan.cmdline()
    assert {k: v for k, v in conf["sysctl"].items()} == {s.key: s.value for s in plan.sysctls()}
    for section, settings in plan.tuned_sections().items():
        for s in settings:
            assert conf[section][s.key.split(".", 1)[1]] == s.value
    assert conf["scheduler"]["isolated_cores"] == "4-15,20-31"
    assert conf["vm"]["transparent_hugepages"] == "never"


@pytest.mark.parametrize("text,needle", [
    ("[cpu]\ngovernor=performance\n", "no [main]"),
    ("[main]\ninclude=network-latency\n[cpuu]\ngovernor=performance\n", "[cpuu] is not a tuned plugin"),
    ("[main]\n[sysfs]\n/sys/x= #00ff\n", "has no value"),
    ("[main]\ninclude\n", "cannot parse"),
])
def test_tuned_parser_refuses_what_tuned_would(text, needle):
    with pytest.raises(FixError, match=re.escape(needle)):
        parse_tuned_conf(text)


def test_sysctl_form_reads_as_sysctl_d(untuned_plan):
    text = render(untuned_plan, "sysctl").files["90-hftinfra.conf"]
    pairs = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    assert pairs == {s.key: s.value for s in untuned_plan.plan.sysctls()}
    assert pairs["vm.swappiness"] == "10"


def test_kickstart_post_is_the_provisioning_generators_post():
    """One code path: the %post a new host's Kickstart carries is post_section's render."""
    from hftinfra.provision.generate import host_plan

    inv = load_inventory(SAMPLE)
    host = next(h for h in inv.hosts if h.os_family != "windows")
    profile, plan = host_plan(host)
    ks = kickstart(host, inv)
    post = post_section(profile, plan, profile_spec=host.profile, host_name=host.name, variables=host.variables,
                        hftinfra_package=inv.site.hftinfra_package, site=inv.site)
    assert post in ks and ks.endswith(post)


def test_kickstart_post_form_validates(untuned_plan, tmp_path):
    if shutil.which("ksvalidator") is None and not (Path(sys.executable).parent / "ksvalidator").exists():
        pytest.skip("install pykickstart (requirements.txt) for ksvalidator")
    tool = shutil.which("ksvalidator") or str(Path(sys.executable).parent / "ksvalidator")
    text = render(untuned_plan, "kickstart-post").text
    assert len(re.findall(r"^%post", text, re.M)) == 1 and text.rstrip().endswith("%end")
    assert 'bootloader --append="' + untuned_plan.plan.cmdline() + '"' in text
    assert "/installed/" not in text  # no provisioning server to tell
    path = tmp_path / "fix.ks"
    path.write_text(text)
    done = subprocess.run([tool, "-v", "RHEL9", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_script_form_runs_through_sh_syntax(untuned_plan, tmp_path):
    path = tmp_path / "fix.sh"
    path.write_text(render(untuned_plan, "script").text)
    done = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---- the command line ---------------------------------------------------------------------


def run(capsys, *argv):
    code = main(["fix", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["script", "sysctl", "kickstart-post"])
def test_cli_writes_a_file(capsys, tmp_path, fmt):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "--host", UNTUNED, "--format", fmt, "-o", str(out))
    assert code == 0, err
    assert stdout == "" and f"wrote {out}" in err
    assert out.read_text().startswith("#")
    if fmt == "script":
        assert os.access(out, os.X_OK)


def test_cli_tuned_writes_a_profile_directory(capsys, tmp_path):
    out = tmp_path / "hftinfra-x"
    code, _, err = run(capsys, "--host", UNTUNED, "--format", "tuned", "--name", "hftinfra-x", "-o", str(out))
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["tuned.conf"]
    text = (out / "tuned.conf").read_text()
    parse_tuned_conf(text)
    assert "tuned-adm profile hftinfra-x" in text


def test_cli_scope_all_keeps_what_holds(capsys):
    code, failing, _ = run(capsys, "--host", TUNED, "--format", "sysctl")
    code2, every, _ = run(capsys, "--host", TUNED, "--format", "sysctl", "--scope", "all")
    assert code == code2 == 0
    assert every.count(" = ") > failing.count(" = ")


@pytest.mark.parametrize("argv,needle", [
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--var", "isolated_cpus=99"], "isolated_cpus"),
    (["--name", "x/y", "--format", "tuned"], "--name x/y"),
    (["--name", "x"], "--name names a tuned profile"),
    (["--only", "nope"], "--only nope"),
])
def test_cli_bad_input_is_one_line(capsys, argv, needle):
    code, out, err = run(capsys, "--host", UNTUNED, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and needle in err


def test_cli_bad_host_and_output_lose_nothing(capsys, tmp_path):
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(b"not a tarball")
    code, _, err = run(capsys, "--host", str(damaged))
    assert code == 2 and err.count("\n") == 1
    keep = tmp_path / "keep.conf"
    keep.write_text("mine\n")
    code, _, err = run(capsys, "--host", str(damaged), "-o", str(keep))
    assert code == 2 and keep.read_text() == "mine\n"
    code, _, err = run(capsys, "--host", UNTUNED, "-o", str(tmp_path / "missing" / "x.sh"))
    assert code == 2 and err.count("\n") == 1
    assert os.listdir(tmp_path) == sorted(os.listdir(tmp_path)) and not (tmp_path / "missing").exists()
    plain = tmp_path / "plain"
    plain.write_text("x")
    code, _, err = run(capsys, "--host", UNTUNED, "--format", "tuned", "-o", str(plain))
    assert code == 2 and "not a directory" in err and plain.read_text() == "x"


@pytest.mark.parametrize("argv", [["--help"], ["fix", "--help"], ["apply", "--help"], ["rollback", "--help"]])
def test_help_renders(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, _ = capsys.readouterr()
    assert done.value.code == 0 and "usage: hftinfra" in out
