// Open built pages in headless Chromium with every non-local request blocked, and report
// what drew and what was asked for, as JSON on stdout. The pytest side makes the assertions.
//
//   node tools/browser-check.mjs BASE_URL PAGE [--search TERM] [--screenshot FILE]
//
// Non-local requests are stopped twice: the resolver maps every host but localhost to
// nothing (--host-resolver-rules), and the request router aborts and records anything that
// is not http(s)://127.0.0.1 or localhost, data: or blob:.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const base = args[0];
const pagePath = args[1];
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : null;
};
const searchTerm = opt("--search");
const screenshot = opt("--screenshot");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const isLocal = (url) => {
  if (url.startsWith("data:") || url.startsWith("blob:") || url.startsWith("about:")) return true;
  try {
    const u = new URL(url);
    return ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
  } catch {
    return false;
  }
};

const profile = mkdtempSync(join(tmpdir(), "hftinfra-chromium-"));
const report = { page: pagePath, requests: [], nonlocal: [], failed: [], console_errors: [], page_errors: [] };
let context;
try {
  // A fresh, throw-away profile (the user data dir) for every run.
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: [
      "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ],
  });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    report.nonlocal.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("request", (r) => report.requests.push(r.url()));
  page.on("requestfailed", (r) => {
    if (isLocal(r.url())) report.failed.push(`${r.url()} (${r.failure()?.errorText})`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) report.failed.push(`${r.url()} (HTTP ${r.status()})`);
  });
  page.on("console", (m) => { if (m.type() === "error") report.console_errors.push(m.text()); });
  page.on("pageerror", (e) => report.page_errors.push(String(e)));

  await page.goto(`${base}/${pagePath}`, { waitUntil: "load", timeout: 30000 });
  // Figures and widgets draw after load (plotly.js is fetched on demand, widgets via require.js).
  const waitFor = async (selector) => {
    try { await page.waitForSelector(selector, { timeout: 20000, state: "attached" }); return true; }
    catch { return false; }
  };
  report.plotly_drawn = await waitFor(".hftinfra-plotly svg.main-svg");
  report.widget_drawn = await waitFor(".jupyter-widgets.widget-dropdown select, .widget-dropdown select");
  report.figures = await page.locator('script[type="application/vnd.hftinfra.plotly+json"]').count();
  report.plotly_svgs = await page.locator(".hftinfra-plotly svg.main-svg").count();
  report.plotly_points = await page.locator(".hftinfra-plotly g.points path.point").count();
  report.widget_views = await page.locator(".jupyter-widgets").count();
  report.banner = await page.locator(".hftinfra-banner").first().textContent().catch(() => null);
  report.theme_switch = await page.locator(".theme-switch-button").count();
  report.download_ipynb = await page.locator('a[href$=".ipynb"]').count();
  report.prev_next = await page.locator(".prev-next-area a").count();
  report.page_toc = await page.locator("#pst-page-navigation-heading-2, .bd-toc-nav, nav.page-toc").count();

  const explorer = page.locator(".hftinfra-audit-explorer");
  report.explorer = await explorer.count();
  if (report.explorer) {
    // The audit explorer's pickers drive pre-rendered tables in the browser (jslink):
    // choosing status "fail" must leave only failing findings in view.
    const statuses = async () =>
      explorer.first().locator(".hftinfra-report").evaluateAll((els) =>
        els.filter((e) => e.offsetParent !== null).flatMap((e) =>
          [...e.querySelectorAll("tbody tr td:first-child")].map((td) => td.textContent.trim())));
    report.explorer_before = await statuses();
    await explorer.first().locator("select").nth(2).selectOption({ label: "fail" });
    await page.waitForTimeout(300);
    report.explorer_after = await statuses();
  }

  if (report.widget_drawn && await page.locator(".hftinfra-cpu-picker").count()) {
    // The picker is linked to its cards in the browser (jslink): choosing another CPU must
    // show another card without any kernel.
    const select = page.locator(".widget-dropdown select").first();
    const options = await select.locator("option").allTextContents();
    report.widget_options = options.length;
    const visibleCpu = async () =>
      page.locator(".hftinfra-cpu-detail").evaluateAll((els) =>
        els.filter((e) => e.offsetParent !== null).map((e) => e.dataset.cpu));
    report.card_before = await visibleCpu();
    if (options.length > 1) {
      const current = await select.evaluate((s) => s.selectedIndex);
      await select.selectOption({ index: current === 0 ? 1 : 0 });
      await page.waitForTimeout(300);
      report.card_after = await visibleCpu();
    }
  }

  // Dark mode: the theme flips data-theme on <html>; the figure must restyle without errors.
  await page.evaluate(() => { document.documentElement.dataset.theme = "dark"; });
  await page.waitForTimeout(200);
  report.dark_theme = await page.evaluate(() => document.documentElement.dataset.theme);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  if (searchTerm) {
    const search = await context.newPage();
    search.on("request", (r) => report.requests.push(r.url()));
    search.on("pageerror", (e) => report.page_errors.push(`search: ${e}`));
    await search.goto(`${base}/search.html?q=${encodeURIComponent(searchTerm)}`, { waitUntil: "load" });
    try {
      await search.waitForSelector("#search-results ul.search li", { timeout: 15000 });
    } catch { /* counted below */ }
    report.search_results = await search.locator("#search-results ul.search li").count();
  }
} catch (err) {
  report.error = String(err && err.stack || err);
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
