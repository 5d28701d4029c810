// The overview's charts, drawn by plotly.js from the figures the page carries.
(function () {
  const data = JSON.parse(document.getElementById("overview-data").textContent);
  const layout = (extra) => Object.assign({ margin: { t: 10, r: 10, b: 40, l: 50 }, legend: { orientation: "h" } }, extra);
  const config = { displayModeBar: false, responsive: true };
  Plotly.newPlot("activity-chart", [
    { type: "bar", name: "messages", x: data.days, y: data.messages },
    { type: "bar", name: "vote actions", x: data.days, y: data.votes },
  ], layout({ barmode: "group" }), config);
  Plotly.newPlot("approval-chart", data.versions.map((v) => ({
    type: "scatter", mode: "lines+markers", name: v.name, x: v.x, y: v.y,
    error_y: { type: "data", symmetric: false, array: v.high, arrayminus: v.low },
    customdata: v.votes, hovertemplate: "%{y:.1%} of %{customdata} votes<extra>" + v.name + "</extra>",
  })), layout({ yaxis: { range: [0, 1], tickformat: ".0%" } }), config);
  const p = data.platforms;
  Plotly.newPlot("platform-chart", [{
    type: "bar", x: p.x, y: p.y, customdata: p.votes,
    error_y: { type: "data", symmetric: false, array: p.high, arrayminus: p.low },
    hovertemplate: "%{y:.1%} of %{customdata} votes<extra></extra>",
  }], layout({ yaxis: { range: [0, 1], tickformat: ".0%" } }), config);
})();
