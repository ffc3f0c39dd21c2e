// The annual report's charts, drawn with the vendored Chart.js from the numbers the page
// carries in #annual-data (the same numbers are in the page's tables and in the PDF).
"use strict";

(function () {
  const source = document.getElementById("annual-data");
  if (!source || typeof Chart !== "function") return;
  const data = JSON.parse(source.textContent);
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  Chart.defaults.animation = still ? false : Chart.defaults.animation;
  const BEFORE = "#9e9e9e";
  const options = {
    maintainAspectRatio: false,
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
  };

  // The year before: a dashed grey line over this year's bars.
  function before(values) {
    return {
      label: data.labels.before,
      data: values,
      type: "line",
      borderColor: BEFORE,
      backgroundColor: BEFORE,
      borderDash: [6, 4],
      order: -1, // drawn over the bars
      spanGaps: true,
    };
  }

  function draw(id, datasets, stacked) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    const scales = stacked
      ? { x: { stacked: true }, y: { stacked: true, beginAtZero: true } }
      : options.scales;
    new Chart(canvas, { type: "bar", data: { labels: data.months, datasets: datasets }, options: { ...options, scales: scales } });
  }

  draw("members-chart", [
    { label: data.labels.members, data: data.members, backgroundColor: "#9ecae1" },
    { label: data.labels.regulars, data: data.regulars, backgroundColor: "#2171b5" },
    before(data.members_before),
  ]);
  draw("hours-chart", [
    { label: data.labels.hours, data: data.hours, backgroundColor: "#6baed6" },
    before(data.hours_before),
  ]);
  draw("events-chart", [
    { label: data.labels.attendance, data: data.attendance, backgroundColor: "#fdae6b" },
    before(data.attendance_before),
  ]);
  const colours = { payg: "#9ecae1", pack: "#4292c6", monthly: "#08519c", free: "#c7e9c0", guests: "#fdae6b" };
  draw("revenue-chart", [
    ...Object.keys(colours).map((kind) => ({ label: data.labels[kind], data: data.revenue[kind], backgroundColor: colours[kind], stack: "year" })),
    { ...before(data.revenue_before), stack: undefined },
  ], true);
})();
