#!/usr/bin/env python3
"""Write ``reference/checks.md`` from the check catalog and the shipped profiles.

    python tools/gen_checks_reference.py [--check]

Every check: what it reads, how it normalises values, the expected value in each profile
with the reason and the sources, an example fix (generated for the untuned reference host),
and the documentation link; plus the JSON report schema. ``make book`` runs this before the
build and ``--check`` (used by the tests) fails when the committed page is out of date, so
the page and the code cannot drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reference" / "checks.md"
EXAMPLE_HOST = ROOT / "tests" / "hosts" / "untuned-2s"
# The untuned host isolates nothing: a layout is given so the partitioning fixes show real lists.
EXAMPLE_VARS = ["isolated_cpus=8-15,24-31"]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _expect_text(expect) -> str:
    if isinstance(expect, dict):
        return ", ".join(f"{k}=`{v}`" for k, v in expect.items())
    if isinstance(expect, bool):
        return "`on`" if expect else "`off`"
    return f"`{expect}`"


def _md(text: str) -> str:
    """reST inline literals to Markdown ones."""
    return text.replace("``", "`")


def render() -> str:
    from hftinfra import report as report_module
    from hftinfra.audit import run_audit
    from hftinfra.checks import catalog
    from hftinfra.profiles import load_profile, shipped_profiles
    from hftinfra.report import AREA_TITLES

    checks = catalog()
    profiles = sorted((load_profile(n) for n in shipped_profiles()), key=lambda p: (len(p.chain), p.name))
    example = None
    if EXAMPLE_HOST.is_dir():
        example = run_audit(str(EXAMPLE_HOST), "hft-isolated", variables=EXAMPLE_VARS)

    out = [
        "# Audit checks",
        "",
        "Generated from the library's check catalog and the shipped profiles by",
        "`tools/gen_checks_reference.py` when the book is built: this page and the code cannot drift.",
        "Check ids are stable; scripts may rely on them.",
        "",
        "Profiles include one another, each adding to the last: "
        + " → ".join(f"`{p.name}`" for p in profiles) + ". `hftinfra audit --profile NAME` picks one "
        "(default `hft-isolated`); `--profile ./ours.yaml` takes your own file, which may `include:` a "
        "shipped one and override single checks.",
        "",
        "| Profile | Summary | Checks |",
        "|---|---|---|",
    ]
    for p in profiles:
        out.append(f"| `{p.name}` | {_cell(p.summary)} | {len(p.rules)} |")
    out += ["", "## Statuses", "",
            "- **pass**: the observed value matches the profile.",
            "- **fail**: it does not; the finding carries the fix. *Configured but not in effect* "
            "(the command line asks for it, the kernel does not show it) is a failure with its own message.",
            "- **warn**: allowed but risky (`sched_rt_runtime_us=-1`), or a mismatch on a value the profile "
            "marks advisory.",
            "- **skip**: not applicable on this host (no cpufreq driver on a VM), with why.",
            "- **unknown**: could not be read (missing, denied, unsupported, malformed), with why. Never a pass.",
            "",
            "## Value grammar", "",
            "Expected values are literals (`10`, `performance`, a cpulist `2-7`, a hex mask `0x3` or "
            "`mask:00000000,00000003`), bounds (`<=10`, `>=600`, `!=jiffies`; on CPU sets `<=` means "
            "*subset of* and `>=` *superset of*) and alternatives (`never|madvise`, `>=600|0`). "
            "`${isolated_cpus}` and `${housekeeping_cpus}` are profile variables, set with "
            "`--var isolated_cpus=LIST` or taken from the host.",
            ""]
    for area in dict.fromkeys(c.area for c in checks.values()):
        out += [f"## {AREA_TITLES.get(area, area)}", ""]
        for c in (c for c in checks.values() if c.area == area):
            out += [f"### `{c.id}`: {c.title}", "", c.summary, "",
                    "Reads: " + ", ".join(f"`{r}`" for r in c.reads) + ".", ""]
            kinds = ", ".join(f"`{k}` ({v})" for k, v in c.fields.items()) if c.fields else f"{c.kind}"
            out += [f"Values: {kinds}" + (f"; {c.normalises}." if c.normalises else "."), ""]
            out += ["| Profile | Expected | Why | Sources |", "|---|---|---|---|"]
            for p in profiles:
                rule = p.rules.get(c.id)
                if rule is None:
                    out.append(f"| `{p.name}` | not checked | | |")
                    continue
                exp = _expect_text(rule.expect)
                if rule.severity == "warn":
                    exp += " (mismatch warns)"
                why = rule.reason
                if rule.warn is not None:
                    exp += f"; `{rule.warn}` warns"
                    why += f". Warn: {rule.warn_reason}"
                out.append(f"| `{p.name}` | {_cell(exp)} | {_cell(why)} | {_cell('; '.join(rule.sources))} |")
            out.append("")
            if example is not None:
                try:
                    f = example.finding(c.id)
                except KeyError:
                    f = None
                if f is not None and f.fix:
                    out += [f"Example fix, generated for the untuned reference host (seen {f.observed}):", "",
                            "```sh", f.fix.rstrip(), "```", ""]
                elif f is not None:
                    out += [f"On the untuned reference host: **{f.status}** ({_cell(f.observed)}).", ""]
            out += [f"Documentation: <{c.docs}>", ""]
    # The schema lives in hftinfra.report's docstring (reST there); here it becomes Markdown.
    doc = report_module.__doc__ or ""
    head, _, rest = doc[doc.index("JSON schema"):].partition("::\n")
    lines = rest.strip("\n").splitlines()
    block = [ln[4:] for ln in lines if ln.startswith("    ")]
    prose = " ".join(ln.strip() for ln in lines if ln.strip() and not ln.startswith("    "))
    out += ["## JSON report", "", f"`hftinfra audit --format json` writes the {_md(head.strip())}:", "",
            "```text", *block, "```", "", _md(prose), ""]
    if example is not None:
        failing = next((f for f in example.to_json()["findings"] if f["status"] == "fail"), None)
        if failing is not None:
            out += ["One finding, from the untuned reference host:", "", "```json",
                    json.dumps(failing, indent=1, ensure_ascii=False), "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed page is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python tools/gen_checks_reference.py",
                  file=sys.stderr)
            return 1
        return 0
    if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
        OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
