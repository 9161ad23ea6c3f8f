// Draws every chart of the page: each <div data-figure="ID"> reads its figure from the JSON
// <script type="application/json" id="ID"> next to it (no inline script, so the page's
// Content-Security-Policy can forbid them). Sets data-drawn when plotly has rendered it.
(function () {
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-figure"));
      if (!src) { return; }
      var fig = JSON.parse(src.textContent);
      if (!fig.data || fig.data.length === 0) {
        el.classList.add("empty");
        el.textContent = el.getAttribute("data-empty") || "nothing recorded yet";
        el.setAttribute("data-drawn", "empty");
        return;
      }
      Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false})
        .then(function () { el.setAttribute("data-drawn", "plot"); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
