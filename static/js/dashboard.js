// Draws the dashboard's charts from the figures the page embeds (#dashboard-data), with Chart.js
// 4.6.1 (static/vendor/chart.umd.min.js: the npm package's dist file without its source-map comment,
// since the map is not shipped; MIT, see static/vendor/chart.js.LICENSE.md). Without
// JavaScript the page shows the same figures as tables; the charts section stays hidden.
(function () {
  "use strict";

  const source = document.getElementById("dashboard-data");
  const section = document.getElementById("dashboard-charts");
  if (!source || !section || typeof Chart === "undefined") {
    return;
  }
  const data = JSON.parse(source.textContent);
  const STATUS_COLORS = { approved: "#2e7d32", pending: "#f9a825", declined: "#c62828", hold: "#6a1b9a" };
  const PALETTE = ["#1f5fbf", "#00897b", "#ef6c00", "#5e35b1", "#6d4c41"];

  function options(extra) {
    return Object.assign(
      {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true } },
      },
      extra || {}
    );
  }

  // Counts are whole: their axis steps by whole numbers (Chart.js would step 0.5 up to a count of 1).
  const COUNT_AXIS = { beginAtZero: true, ticks: { precision: 0 } };

  function label(name) {
    return name.charAt(0).toUpperCase() + name.slice(1);
  }

  section.hidden = false;
  const charts = [
    new Chart(document.getElementById("chart-clicks"), {
      type: "line",
      data: {
        labels: data.days,
        datasets: [
          { label: "Clicks", data: data.clicks, borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
          { label: "Unique clicks", data: data.unique_clicks, borderColor: PALETTE[1], backgroundColor: PALETTE[1] },
        ],
      },
      options: options({ scales: { y: COUNT_AXIS } }),
    }),
    new Chart(document.getElementById("chart-conversions"), {
      type: "bar",
      data: {
        labels: data.days,
        datasets: Object.keys(data.conversions).map(function (status) {
          return { label: label(status), data: data.conversions[status], backgroundColor: STATUS_COLORS[status] };
        }),
      },
      options: options({ scales: { x: { stacked: true }, y: Object.assign({ stacked: true }, COUNT_AXIS) } }),
    }),
    new Chart(document.getElementById("chart-payout"), {
      type: "bar",
      data: {
        labels: data.days,
        datasets: Object.keys(data.payout).map(function (currency, n) {
          return {
            label: "Payout " + currency,
            data: data.payout[currency].map(Number),
            backgroundColor: PALETTE[n % PALETTE.length],
          };
        }),
      },
      options: options(),
    }),
  ];
  // The network dashboard has a line of profit per currency (revenue - payout, may be negative).
  const profit = document.getElementById("chart-profit");
  if (profit && data.profit) {
    charts.push(new Chart(profit, {
      type: "line",
      data: {
        labels: data.days,
        datasets: Object.keys(data.profit).map(function (currency, n) {
          const color = PALETTE[n % PALETTE.length];
          return { label: "Profit " + currency, data: data.profit[currency].map(Number), borderColor: color, backgroundColor: color };
        }),
      },
      options: options({ scales: { y: {} } }),
    }));
  }
  // Without a postback sent in the period the page says so in place of this chart.
  const deliveries = document.getElementById("chart-deliveries");
  if (deliveries) {
    charts.push(new Chart(deliveries, {
      type: "line",
      data: {
        labels: data.days,
        datasets: [
          {
            label: "Delivered %",
            // A day without sent postbacks has no rate: the line has a gap there.
            data: data.delivery_rate.map(function (rate) {
              return rate === null ? null : Number(rate);
            }),
            borderColor: PALETTE[2],
            backgroundColor: PALETTE[2],
          },
        ],
      },
      options: options({ scales: { y: { min: 0, max: 100 } } }),
    }));
  }
  section.dataset.charts = String(charts.length);
})();
