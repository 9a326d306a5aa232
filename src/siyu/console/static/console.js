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

  // Slow pages (the board) say they are loading while the next one is fetched: a form or link with
  // data-busy="#region" marks the region aria-busy (dimmed, with its data-loading text) and a submit
  // button with data-busy-label shows that label.
  function markBusy(selector, button) {
    var region = selector && document.querySelector(selector);
    if (region) region.setAttribute("aria-busy", "true");
    if (button && button.getAttribute("data-busy-label")) {
      button.setAttribute("data-idle-label", button.textContent);
      button.textContent = button.getAttribute("data-busy-label");
      button.setAttribute("aria-disabled", "true");
    }
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.getAttribute || !form.getAttribute("data-busy")) return;
    markBusy(form.getAttribute("data-busy"), event.submitter || form.querySelector("[type=submit]"));
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-busy]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    markBusy(link.getAttribute("data-busy"), null);
  });
  // Back to a page kept by the browser: it is not loading any more.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("[aria-busy='true'][data-loading]:not([data-chart])").forEach(function (el) {
      el.setAttribute("aria-busy", "false");
    });
    document.querySelectorAll("[data-idle-label]").forEach(function (button) {
      button.textContent = button.getAttribute("data-idle-label");
      button.removeAttribute("data-idle-label");
      button.removeAttribute("aria-disabled");
    });
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

  // Charts: an element with data-chart="<id>" is drawn from the JSON in <script id="<id>">; its "type"
  // says which kind (bar, lines, stacked, heatmap, pie, sankey, funnel, spark). Labels come translated from
  // the server.
  var AXIS = {
    axisTick: { show: false },
    axisLine: { lineStyle: { color: "#d5dae3" } },
    axisLabel: { color: "#5b6475", fontSize: 12 }
  };
  var VALUE_AXIS = { type: "value", minInterval: 1, splitLine: { lineStyle: { color: "#eef1f5" } }, axisLabel: { color: "#8a93a3" } };
  var GRID = { left: 8, right: 16, top: 16, bottom: 8, containLabel: true };

  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text === undefined || text === null ? "" : String(text);
    return div.innerHTML;
  }

  var OPTIONS = {
    bar: function (data) {
      return {
        grid: GRID,
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: Object.assign({ type: "category", data: data.categories }, AXIS),
        yAxis: VALUE_AXIS,
        series: [{
          type: "bar",
          barMaxWidth: 44,
          data: data.values.map(function (value, i) {
            return { value: value, itemStyle: { color: data.colors[i], borderRadius: [6, 6, 0, 0] } };
          }),
          label: { show: true, position: "top", color: "#334155", fontWeight: 600, formatter: data.unit ? "{c}" + data.unit : "{c}" }
        }]
      };
    },
    stacked: function (data) {
      return {
        grid: Object.assign({}, GRID, { top: 36 }),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        legend: { top: 0, left: 0, icon: "roundRect", textStyle: { color: "#5b6475" } },
        xAxis: Object.assign({ type: "category", data: data.categories }, AXIS),
        yAxis: VALUE_AXIS,
        series: data.series.map(function (part) {
          return { type: "bar", name: part.name, stack: "all", barMaxWidth: 44, data: part.values, itemStyle: { color: part.color } };
        })
      };
    },
    funnel: function (data) {
      return {
        tooltip: { trigger: "item", formatter: function (p) { return escapeText(p.name) + ": <b>" + escapeText(p.value) + "</b>"; } },
        series: [{
          type: "funnel", left: "10%", width: "80%", top: 8, bottom: 8, sort: "none", minSize: "8%", gap: 2,
          label: { show: true, position: "inside", color: "#fff", formatter: "{b}: {c}" },
          itemStyle: { borderColor: "#fff", borderWidth: 1 },
          data: data.items.map(function (item, i) { return { name: item.name, value: item.value, itemStyle: { color: ["#2f6fed", "#14b8a6", "#10b981", "#f59e0b", "#a855f7"][i % 5] } }; })
        }]
      };
    },
    spark: function (data) {
      return {
        grid: { left: 2, right: 2, top: 4, bottom: 2 },
        tooltip: { trigger: "axis", confine: true },
        xAxis: { type: "category", data: data.categories, show: false, boundaryGap: false },
        yAxis: { type: "value", show: false, scale: true },
        series: [{ type: "line", name: data.name, data: data.values, showSymbol: false, smooth: true,
          lineStyle: { width: 1.5, color: "#2f6fed" }, areaStyle: { color: "#2f6fed", opacity: 0.08 } }]
      };
    },
    lines: function (data) {
      return {
        grid: Object.assign({}, GRID, { top: 36 }),
        tooltip: { trigger: "axis" },
        legend: { top: 0, left: 0, icon: "roundRect", textStyle: { color: "#5b6475" } },
        xAxis: Object.assign({ type: "category", data: data.categories, boundaryGap: false }, AXIS),
        yAxis: VALUE_AXIS,
        series: data.series.map(function (line, i) {
          return {
            type: "line", name: line.name, data: line.values, smooth: false, showSymbol: data.categories.length < 40,
            lineStyle: { width: i === 0 ? 2.5 : 1.5, color: line.color }, itemStyle: { color: line.color },
            areaStyle: i === 0 ? { color: line.color, opacity: 0.08 } : undefined
          };
        })
      };
    },
    heatmap: function (data) {
      return {
        grid: { left: 28, right: 16, top: 8, bottom: 72, containLabel: true },
        tooltip: {
          formatter: function (params) {
            var p = params.data;
            return escapeText(data.y[p[1]] + " · " + data.x[p[0]]) + "<br>" +
              escapeText(data.labels.contacts) + ": <b>" + escapeText(p[2]) + "</b><br>" +
              escapeText(data.labels.mean) + ": " + escapeText(p[3]);
          }
        },
        xAxis: Object.assign({ type: "category", data: data.x, name: data.x_name, nameLocation: "middle", nameGap: 28, nameTextStyle: { color: "#5b6475" }, splitArea: { show: true } }, AXIS),
        yAxis: Object.assign({ type: "category", data: data.y, name: data.y_name, nameLocation: "middle", nameGap: 32, nameRotate: 90, nameTextStyle: { color: "#5b6475" }, splitArea: { show: true } }, AXIS),
        visualMap: {
          min: 0, max: data.max, dimension: 2, calculable: false, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120,
          inRange: { color: ["#f1f5f9", "#99f6e4", "#14b8a6", "#0f766e"] }, textStyle: { color: "#8a93a3" }
        },
        series: [{
          type: "heatmap", data: data.points, label: { show: true, color: "#1b2330" },
          itemStyle: { borderColor: "#fff", borderWidth: 2, borderRadius: 4 },
          emphasis: { itemStyle: { shadowBlur: 6, shadowColor: "rgba(0,0,0,0.2)" } }
        }]
      };
    },
    pie: function (data) {
      return {
        tooltip: { trigger: "item", formatter: function (p) { return escapeText(p.name) + ": <b>" + escapeText(p.value) + "</b> (" + p.percent + "%)"; } },
        legend: { type: "scroll", orient: "vertical", right: 0, top: "middle", textStyle: { color: "#5b6475" } },
        series: [{
          type: "pie", radius: ["42%", "70%"], center: ["36%", "50%"], avoidLabelOverlap: true,
          itemStyle: { borderColor: "#fff", borderWidth: 2 }, label: { show: false },
          data: data.items.map(function (item) { return { name: item.name, value: item.value, itemStyle: { color: item.color } }; })
        }]
      };
    },
    sankey: function (data) {
      var labels = {};
      data.nodes.forEach(function (node) { labels[node.name] = node.label; });
      return {
        tooltip: {
          trigger: "item",
          formatter: function (p) {
            if (p.dataType === "edge") return escapeText(labels[p.data.source] + " → " + labels[p.data.target]) + ": <b>" + escapeText(p.data.value) + "</b>";
            return escapeText(labels[p.name]);
          }
        },
        series: [{
          type: "sankey", left: 8, right: 96, top: 8, bottom: 8, nodeAlign: "justify", layoutIterations: 32,
          data: data.nodes.map(function (node) { return { name: node.name, itemStyle: { color: node.color } }; }),
          links: data.links,
          label: { color: "#334155", formatter: function (p) { return labels[p.name]; } },
          lineStyle: { color: "gradient", opacity: 0.35 },
          emphasis: { focus: "adjacency" }
        }]
      };
    }
  };

  function drawCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.getAttribute("data-drawn")) return;
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var build = OPTIONS[data.type] || OPTIONS.bar;
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(Object.assign({
        animation: false,
        textStyle: { fontFamily: window.getComputedStyle(document.body).fontFamily }
      }, build(data)));
      el.setAttribute("data-drawn", "1");
      el.setAttribute("aria-busy", "false");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:load", function (event) { drawCharts(event.target); });
})();
