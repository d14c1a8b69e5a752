// pulsegate dashboard: the destination health panel. One card per destination with its
// figures over the last 30 minutes and two small uPlot charts, all drawn from
// GET /v1/admin/destinations-health (the dispatcher's own metrics, sampled every 5 s).
// Text from the API goes into the page as text only.
"use strict";

window.PulsegateHealth = (function () {
  // One uPlot per chart, kept across refreshes (setData redraws without a flash).
  const charts = new Map();

  const percent = (r) => (r === null || r === undefined ? "—" : `${(r * 100).toFixed(r === 0 || r === 1 ? 0 : 1)} %`);

  function ms(v) {
    if (v === null || v === undefined) return "—";
    if (v >= 1000) return `${(v / 1000).toFixed(1)} s`;
    return v >= 10 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
  }

  /** healthy / degraded / failing / idle / disabled / breaker open: the card's colour. */
  function status(d) {
    if (!d.enabled) return "disabled";
    if (d.breaker_open) return "breaker";
    const r = d.window && d.window.success_ratio;
    if (r === null || r === undefined) return "idle";
    if (r >= 0.99) return "healthy";
    return r >= 0.9 ? "degraded" : "failing";
  }

  const LABELS = {
    healthy: "healthy", degraded: "degraded", failing: "failing",
    idle: "no attempts", disabled: "disabled", breaker: "breaker open",
  };

  function figure(h, name, label, text, value, title) {
    return h.el(
      "div",
      { className: "figure", title },
      h.el("dt", { text: label }),
      h.el("dd", { [`data-${name}`]: "", "data-value": value === null || value === undefined ? "" : value, text }),
    );
  }

  function lastError(h, e) {
    if (!e) return "none";
    const what = e.status ? `${e.kind} (HTTP ${e.status})` : e.kind;
    return `${what}, ${h.time(e.at_ms)}`;
  }

  function card(h, d) {
    const w = d.window || {};
    const state = status(d);
    const figures = h.el(
      "dl",
      { className: "figures" },
      figure(h, "ratio", "Success", percent(w.success_ratio), w.success_ratio,
        "Delivered ÷ attempts (pulsegate_deliveries_total)"),
      figure(h, "p99", "p99 latency", ms(w.p99_ms), w.p99_ms,
        "From pulsegate_delivery_seconds buckets, as histogram_quantile(0.99)"),
      figure(h, "waiting", "Waiting", d.waiting === null || d.waiting === undefined ? "—" : String(d.waiting), d.waiting,
        "Events not yet attempted: pulsegate_consumer_lag of its group"),
      figure(h, "retries", "Retries · dead", `${w.retries_scheduled || 0} · ${w.dead_letters || 0}`, w.retries_scheduled,
        "pulsegate_retries_scheduled_total · pulsegate_dead_letters_total"),
    );
    const attempts = (w.delivered || 0) + (w.failed || 0);
    return h.el(
      "article",
      { className: `dest-card status-${state}`, "data-health": d.id, "data-status": state },
      h.el(
        "header",
        {},
        h.el("span", { className: "mono dest-id", text: d.id }),
        h.el("span", { className: "badge", text: LABELS[state] }),
        h.el("span", { className: "hint", text: `${attempts} attempts` }),
      ),
      figures,
      h.el(
        "p",
        { className: "last-error" },
        "Last error: ",
        h.el("span", { "data-last-error": d.last_error ? d.last_error.kind : "", text: lastError(h, d.last_error) }),
      ),
      h.el("div", { className: "chart", "data-chart": "rate" }),
      h.el("div", { className: "chart", "data-chart": "latency" }),
    );
  }

  // uPlot wants seconds on a time axis, one array per series.
  const rateData = (s) => [s.at_ms.map((t) => t / 1000), s.ok_per_s, s.failed_per_s];
  const latencyData = (s) => [s.at_ms.map((t) => t / 1000), s.p99_ms];

  function options(kind, width) {
    const axis = { size: 44, font: "11px system-ui", stroke: "#5d6875", grid: { stroke: "#eef0f3" } };
    const series = kind === "rate"
      ? [{}, { label: "ok/s", stroke: "#1b7f3b", fill: "rgba(27,127,59,.12)", width: 1.5 },
        { label: "failed/s", stroke: "#b3261e", fill: "rgba(179,38,30,.12)", width: 1.5 }]
      : [{}, { label: "p99 ms", stroke: "#2458d3", width: 1.5, spanGaps: false }];
    return {
      width,
      height: 120,
      series,
      // Always the whole window (not just the samples so far: one point would
      // stretch the axis over years).
      scales: { x: { time: true, range: () => { const now = Date.now() / 1000; return [now - 1800, now]; } } },
      axes: [{ ...axis, size: 28 }, axis],
      cursor: { drag: { x: false, y: false } },
      // Labels only: a live legend's per-point readout crowds a small chart.
      legend: { show: true, live: false },
    };
  }

  /** Creates the chart on first sight, else gives it the new points (and width). */
  function draw(id, kind, box, data) {
    const key = `${id}\u0000${kind}`;
    const width = Math.max(200, box.clientWidth || 380);
    let chart = charts.get(key);
    if (chart) {
      // The card was rebuilt: move the existing chart into it.
      box.append(chart.root);
      chart.setData(data);
      if (chart.width !== width) chart.setSize({ width, height: 120 });
    } else {
      chart = new uPlot(options(kind, width), data, box);
      charts.set(key, chart);
    }
    // For tests and the curious: the chart and its points, from the element.
    box.uplot = chart;
    box.setAttribute("data-points", String(data[0].length));
  }

  async function load(api, h) {
    const data = await api("GET", "/v1/admin/destinations-health");
    const minutes = Math.round(data.window_secs / 60);
    document.querySelector("#health [data-scope]").textContent = data.recording
      ? `This process's deliveries over the last ${minutes} minutes, sampled every ${data.interval_secs} s ` +
        "from the same metrics as /metrics."
      : "This process does not dispatch, so it has no delivery figures; read /metrics of the dispatch processes.";
    const grid = document.querySelector("#health [data-cards]");
    const cards = data.destinations.map((d) => card(h, d));
    grid.replaceChildren(...cards);
    if (cards.length === 0) grid.append(h.el("p", { className: "hint", text: "No destinations." }));
    const seen = new Set();
    data.destinations.forEach((d, i) => {
      for (const kind of ["rate", "latency"]) {
        const box = cards[i].querySelector(`[data-chart='${kind}']`);
        draw(d.id, kind, box, kind === "rate" ? rateData(d.series) : latencyData(d.series));
        seen.add(`${d.id}\u0000${kind}`);
      }
    });
    for (const [key, chart] of charts) {
      if (!seen.has(key)) {
        chart.destroy();
        charts.delete(key);
      }
    }
  }

  return { load };
})();
