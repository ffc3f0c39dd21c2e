// The staff reports' charts, drawn with the vendored Chart.js from the numbers the page
// carries in #report-data (the same numbers are in the tables and the CSV files). The
// server writes the labels (days, times) in the page's language; the axes and tooltips
// format their numbers with Intl.NumberFormat in that language too ("1 234" / "1,234").
"use strict";

(function () {
  const source = document.getElementById("report-data");
  if (!source || typeof Chart !== "function") return;
  const data = JSON.parse(source.textContent);
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  Chart.defaults.animation = still ? false : Chart.defaults.animation;
  Chart.defaults.locale = document.documentElement.lang || "fr";

  const days = document.getElementById("days-chart");
  if (days) {
    new Chart(days, {
      type: "bar",
      data: {
        labels: data.days,
        datasets: [
          { label: data.labels.visits, data: data.visits, backgroundColor: "#9ecae1" },
          { label: data.labels.peaks, data: data.peaks, type: "line", borderColor: "#08519c", backgroundColor: "#08519c" },
        ],
      },
      options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  const curve = document.getElementById("curve-chart");
  if (curve) {
    new Chart(curve, {
      type: "line",
      data: {
        labels: data.curve.map((point) => point[0]),
        datasets: [{ label: data.labels.present, data: data.curve.map((point) => point[1]), stepped: true, borderColor: "#08519c", backgroundColor: "#dbe9f6", fill: true }],
      },
      options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }
})();
