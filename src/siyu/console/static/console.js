// siyu console behaviour. Pages work without it; this adds charts and small conveniences.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // Ask before destructive forms (remove a member, revoke a token).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Selects that act at once (the workspace switcher).
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.requestSubmit();
    }
  });

  // Copy a shown-once secret to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = button.getAttribute("data-copied") || button.textContent;
    });
  });

  // Close the user menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // Charts: an element with data-chart="<id>" is drawn from the JSON in <script id="<id>">.
  function drawCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.getAttribute("data-drawn")) return;
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        textStyle: { fontFamily: window.getComputedStyle(document.body).fontFamily },
        grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: {
          type: "category",
          data: data.categories,
          axisTick: { show: false },
          axisLine: { lineStyle: { color: "#d5dae3" } },
          axisLabel: { color: "#5b6475", fontSize: 12 }
        },
        yAxis: {
          type: "value",
          minInterval: 1,
          splitLine: { lineStyle: { color: "#eef1f5" } },
          axisLabel: { color: "#8a93a3" }
        },
        series: [{
          type: "bar",
          barMaxWidth: 44,
          data: data.values.map(function (value, i) {
            return { value: value, itemStyle: { color: data.colors[i], borderRadius: [6, 6, 0, 0] } };
          }),
          label: { show: true, position: "top", color: "#334155", fontWeight: 600 }
        }]
      });
      el.setAttribute("data-drawn", "1");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:load", function (event) { drawCharts(event.target); });
})();
