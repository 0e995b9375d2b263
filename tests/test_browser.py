"""Built pages in headless Chromium, with every non-local request blocked: the plotly
figures draw, the widgets render and answer without a kernel, and nothing leaves localhost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import booktest  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PAGE = "system-tuning/cpu-topology.html"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    if not shutil.which("node"):
        return "node is not installed (apt-get install nodejs)"
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        return "node_modules/playwright-core is missing (run make test: npm ci installs it)"
    return None


@pytest.fixture(scope="module")
def site():
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {why}")
        pytest.skip(why)
    run = booktest.book()
    assert run.returncode == 0, f"the book did not build:\n{run.output[-4000:]}"
    with booktest.serve(run.html) as base:
        yield run, base


def check_page(site, page: str, *extra: str) -> dict:
    run, base = site
    shot = run.out / "browser" / (Path(page).stem + ".png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["node", str(REPO / "tools" / "browser-check.mjs"), base, page, "--screenshot", str(shot), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=180, env=dict(os.environ, CHROMIUM=CHROMIUM))
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert "error" not in report, report["error"]
    report["base"] = base
    return report


@pytest.fixture(scope="module")
def page_report(site):
    return check_page(site, PAGE, "--search", "topology")


@pytest.fixture(scope="module")
def host_report(site):
    return check_page(site, "system-tuning/host-report.html")


def test_nothing_leaves_localhost(page_report):
    assert page_report["requests"], "the browser recorded no request at all"
    assert page_report["nonlocal"] == [], f"requests to other hosts: {page_report['nonlocal']}"
    base = page_report["base"]
    assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in page_report["requests"])


def test_every_local_request_succeeded(page_report):
    assert page_report["failed"] == [], f"failed requests: {page_report['failed']}"
    assert page_report["page_errors"] == [], f"JavaScript errors: {page_report['page_errors']}"


def test_plotly_figures_drew_with_the_local_plotly(page_report):
    assert page_report["plotly_drawn"], "no plotly SVG appeared in the page"
    # One drawn figure per embedded figure (this host, and the reference host).
    assert page_report["figures"] >= 2
    assert page_report["plotly_svgs"] >= page_report["figures"]
    assert page_report["plotly_points"] > 0, "the figure drew no CPU"
    assert sum(1 for u in page_report["requests"] if u.endswith("/_static/lib/plotly.min.js")) == 1


def test_widget_rendered_and_answers_without_a_kernel(page_report):
    assert page_report["widget_drawn"], "the CPU picker's DOM node did not render"
    assert page_report["widget_views"] > 0
    assert page_report["widget_options"] >= 1
    if page_report["widget_options"] > 1:
        assert page_report["card_before"] != page_report["card_after"], \
            "choosing another CPU did not switch the card (jslink not working offline)"
        assert len(page_report["card_after"]) == 1


def test_banner_names_the_host(page_report):
    banner = page_report["banner"] or ""
    assert "kernel" in banner and "virtualisation" in banner


def test_reader_features_work_offline(page_report):
    assert page_report["search_results"] > 0, "search found nothing for 'topology'"
    assert page_report["theme_switch"] >= 1 and page_report["dark_theme"] == "dark"
    assert page_report["download_ipynb"] >= 1
    assert page_report["prev_next"] >= 1
    assert page_report["page_toc"] >= 1


def test_audit_explorer_filters_without_a_kernel(host_report):
    assert host_report["nonlocal"] == [] and host_report["page_errors"] == []
    assert host_report["explorer"] == 1, "the audit explorer did not render"
    before, after = host_report["explorer_before"], host_report["explorer_after"]
    assert before, "the explorer showed no findings"
    assert set(after) <= {"fail"}, f"status filter 'fail' left {sorted(set(after))} in view"
    assert len(after) == before.count("fail")
