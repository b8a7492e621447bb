// Quality dashboard charts (Chart.js, vendored in static/vendor/chartjs). The figures come
// precomputed from the server as JSON in <script type="application/json" id="quality-chart-data">;
// nothing here fetches or evaluates code, so it runs under the strict CSP.
(function () {
  "use strict";

  const COLORS = ["#3152d9", "#1f7a4d", "#9a5b00", "#b3261e", "#6b3fa0", "#00838f", "#5b6475", "#c2185b"];

  function readData() {
    const node = document.getElementById("quality-chart-data");
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (error) {
      return null;
    }
  }

  function draw(canvas, config) {
    const previous = window.Chart.getChart(canvas);
    if (previous) previous.destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    canvas.dataset.rendered = "true";
    return new window.Chart(canvas, config);
  }

  function progressChart(canvas, data) {
    const progress = data.progress || { days: [], annotations: [], items_done: [] };
    let total = 0;
    const cumulative = progress.items_done.map((value) => (total += value));
    return draw(canvas, {
      type: "bar",
      data: {
        labels: progress.days,
        datasets: [
          { type: "bar", label: "Annotations per day", data: progress.annotations, backgroundColor: COLORS[0], yAxisID: "y" },
          { type: "line", label: "Items complete (cumulative)", data: cumulative, borderColor: COLORS[1], backgroundColor: COLORS[1], yAxisID: "y1", pointRadius: 0 },
        ],
      },
      options: { scales: { y: { beginAtZero: true, position: "left" }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } },
    });
  }

  function agreementChart(canvas, data) {
    const rows = data.agreement || [];
    return draw(canvas, {
      type: "bar",
      data: {
        labels: rows.map((row) => row.id),
        datasets: [
          { label: "Krippendorff's α", data: rows.map((row) => row.alpha), backgroundColor: COLORS[0] },
          { label: "Percent agreement", data: rows.map((row) => row.percent), backgroundColor: COLORS[6] },
        ],
      },
      options: { scales: { y: { suggestedMin: 0, suggestedMax: 1 } } },
    });
  }

  function distributionChart(canvas, data) {
    const dist = (data.distributions || [])[Number(canvas.dataset.index)];
    if (!dist) return null;
    return draw(canvas, {
      type: "bar",
      data: {
        labels: dist.labels,
        datasets: [
          { label: "Votes", data: dist.votes, backgroundColor: COLORS[0] },
          { label: "Aggregated answers", data: dist.aggregated, backgroundColor: COLORS[1] },
        ],
      },
      options: { scales: { y: { beginAtZero: true } } },
    });
  }

  function leaderboardChart(canvas, data) {
    const board = (data.leaderboards || [])[Number(canvas.dataset.index)];
    if (!board) return null;
    const models = board.models || [];
    // A floating bar per model spans its 95% bootstrap interval; the point is the estimate.
    return draw(canvas, {
      type: "bar",
      data: {
        labels: models.map((m) => m.model),
        datasets: [
          { type: "bar", label: "95% interval", data: models.map((m) => [m.ci_low, m.ci_high]), backgroundColor: "rgba(49, 82, 217, 0.25)", borderColor: COLORS[0], borderWidth: 1 },
          { type: "line", label: "Bradley–Terry score", data: models.map((m) => m.score), borderColor: COLORS[3], backgroundColor: COLORS[3], showLine: false, pointRadius: 5 },
        ],
      },
      options: { indexAxis: "x", scales: { y: { title: { display: true, text: "score (Elo scale)" } } } },
    });
  }

  function positionChart(canvas, data) {
    const rows = data.position_bias || [];
    return draw(canvas, {
      type: "bar",
      data: {
        labels: rows.map((row) => row.question),
        datasets: [
          { label: "Share of votes for the first response (A)", data: rows.map((row) => row.share_a), backgroundColor: rows.map((row) => (row.biased ? COLORS[3] : COLORS[1])) },
          { type: "line", label: "No bias (50%)", data: rows.map(() => 0.5), borderColor: COLORS[6], borderDash: [6, 4], pointRadius: 0 },
        ],
      },
      options: { scales: { y: { min: 0, max: 1 } } },
    });
  }

  const RENDERERS = {
    progress: progressChart,
    agreement: agreementChart,
    distribution: distributionChart,
    leaderboard: leaderboardChart,
    position: positionChart,
  };

  function renderAll(root) {
    if (!window.Chart) return;
    const data = readData();
    if (!data) return;
    (root || document).querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const render = RENDERERS[canvas.dataset.chart];
      if (render) render(canvas, data);
    });
  }

  document.addEventListener("DOMContentLoaded", () => renderAll(document));
  document.addEventListener("htmx:afterSettle", (event) => renderAll(event.target));
})();
