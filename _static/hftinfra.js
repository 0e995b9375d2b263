/* Draw the plotly figures a page carries, with the one local copy of plotly.js.
 *
 * Figures are emitted by hftinfra.viz as a container plus the figure's JSON in a
 * non-executed <script type="application/vnd.hftinfra.plotly+json">. plotly.js (4.8 MB) is
 * fetched from _static/lib/ only on pages that hold a figure, and only once per page.
 */
(function () {
  "use strict";
  var FIGURE_TYPE = "application/vnd.hftinfra.plotly+json";
  var here = document.currentScript && document.currentScript.src;
  // this file is <root>/_static/hftinfra.js[?v=...]; plotly sits beside it under lib/
  var staticBase = here ? here.replace(/[^/]*$/, "") : "_static/";
  var loading = null;

  var plotly = null;

  function loadPlotly() {
    if (!plotly && window.Plotly) plotly = window.Plotly;
    if (plotly) return Promise.resolve(plotly);
    if (loading) return loading;
    var url = staticBase + "lib/plotly.min.js";
    loading = new Promise(function (resolve, reject) {
      if (typeof window.define === "function" && window.define.amd && window.require) {
        // Widget pages carry require.js; plotly.min.js is a UMD bundle that then registers
        // as an anonymous AMD module instead of setting window.Plotly.
        // plotly's bundle may also (or only) set window.Plotly when loaded through AMD.
        window.require([url], function (P) { plotly = P || window.Plotly; resolve(plotly); },
          function (err) { reject(new Error("cannot load " + url + ": " + err)); });
        return;
      }
      var s = document.createElement("script");
      s.src = url;
      s.onload = function () { plotly = window.Plotly; resolve(plotly); };
      s.onerror = function () { reject(new Error("cannot load " + url)); };
      document.head.appendChild(s);
    });
    return loading;
  }

  function isDark() {
    return document.documentElement.dataset.theme === "dark";
  }

  function themed(layout) {
    var dark = isDark();
    var out = Object.assign({}, layout);
    out.paper_bgcolor = "rgba(0,0,0,0)";
    out.plot_bgcolor = "rgba(0,0,0,0)";
    out.font = Object.assign({}, layout.font || {}, { color: dark ? "#ced6dd" : "#222832" });
    return out;
  }

  function draw(Plotly, script) {
    var target = document.getElementById(script.dataset.target);
    if (!target || target.dataset.drawn) return;
    var fig;
    try { fig = JSON.parse(script.textContent); } catch (e) { target.textContent = "figure data is damaged: " + e; return; }
    target.dataset.drawn = "1";
    target._hftFigure = fig;
    var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {});
    Plotly.newPlot(target, fig.data || [], themed(fig.layout || {}), config);
  }

  function restyleAll() {
    if (!plotly) return;
    document.querySelectorAll(".hftinfra-plotly[data-drawn]").forEach(function (el) {
      if (el._hftFigure) plotly.relayout(el, themed(el._hftFigure.layout || {}));
    });
  }

  function start() {
    var scripts = document.querySelectorAll('script[type="' + FIGURE_TYPE + '"]');
    if (!scripts.length) return;
    loadPlotly().then(function (Plotly) {
      scripts.forEach(function (s) { draw(Plotly, s); });
    }).catch(function (err) {
      scripts.forEach(function (s) {
        var t = document.getElementById(s.dataset.target);
        if (t) t.textContent = "The figure could not be drawn: " + err.message;
      });
    });
    // pydata-sphinx-theme flips data-theme on <html> when the reader switches light/dark
    new MutationObserver(restyleAll).observe(document.documentElement,
      { attributes: true, attributeFilter: ["data-theme"] });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
