// Chart.js (from npm, served as /static/vendor/chart.umd.min.js) with the dashboard's defaults.

const PALETTE = ["#3b6cf6", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#1098ad", "#d6336c", "#868e96"];
const live = new Set();

export function destroyAll() {
  for (const chart of live) chart.destroy();
  live.clear();
}

function make(canvas, config) {
  const chart = new window.Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
  live.add(chart);
  return chart;
}

export function line(canvas, labels, datasets, yTitle) {
  return make(canvas, {
    type: "line",
    data: { labels, datasets: datasets.map((d, i) => ({ borderColor: PALETTE[i], backgroundColor: PALETTE[i], tension: 0.2, pointRadius: 2, ...d })) },
    options: {
      scales: { y: { beginAtZero: true, title: { display: !!yTitle, text: yTitle } } },
      plugins: { legend: { labels: { filter: (item) => !!item.text } } },  // unnamed helper series stay off the legend
    },
  });
}

export function bars(canvas, labels, datasets, stacked = true) {
  return make(canvas, {
    type: "bar",
    data: { labels, datasets: datasets.map((d, i) => ({ backgroundColor: PALETTE[i], ...d })) },
    options: { scales: { x: { stacked }, y: { stacked, beginAtZero: true } } },
  });
}

export function donut(canvas, labels, values) {
  return make(canvas, {
    type: "doughnut",
    data: { labels, datasets: [{ data: values, backgroundColor: PALETTE }] },
    options: { plugins: { legend: { position: "right" } } },
  });
}
