// siyu segment builder: a visual editor for the segment filter tree, kept in sync both ways with the
// "Advanced: JSON" textarea (which is the form field that is saved), and a live count: every change is
// posted (debounced) to the preview endpoint, whose fragment shows the estimate or the problems by node
// path; problems are also shown next to the row they are about.
(function () {
  "use strict";

  var root = document.getElementById("builder");
  if (!root) return;
  var config = JSON.parse(document.getElementById(root.getAttribute("data-config")).textContent);
  var T = config.text;
  var source = document.getElementById(root.getAttribute("data-source"));
  var jsonError = document.getElementById(source.id + "-error");
  var target = document.getElementById(root.getAttribute("data-preview-target"));
  var form = source.form;
  var csrfField = form.querySelector("input[name=csrf_token]");
  var LEAF_OPS = config.ops.map(function (o) { return o.value; });
  var NO_VALUE = ["is_set", "is_not_set"];
  var DAYS = ["within_days", "before_days"];
  var LISTS = ["in", "not_in"];
  var NUMERIC = ["gt", "gte", "lt", "lte", "between"];
  var MAX_GROUP_DEPTH = 2;

  var state = null;      // the tree: {type: "group"|"leaf"|"raw", negate, op, children, leaf, value}
  var paths = {};        // node path ("root.children[1]") → model, rebuilt at each serialization
  var timer = null;
  var sequence = 0;

  // --- small DOM helpers ----------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function clone(value) { return JSON.parse(JSON.stringify(value)); }
  function has(list, item) { return list.indexOf(item) !== -1; }

  function select(options, current, onchange, label) {
    var node = el("select", { "aria-label": label, class: "builder-select" });
    var found = false;
    options.forEach(function (option) {
      if (option.group) {
        var group = el("optgroup", { label: option.group });
        option.options.forEach(function (inner) {
          var opt = el("option", { value: String(inner.value), text: inner.label });
          if (String(inner.value) === String(current)) { opt.selected = true; found = true; }
          group.appendChild(opt);
        });
        node.appendChild(group);
        return;
      }
      var opt = el("option", { value: String(option.value), text: option.label });
      if (String(option.value) === String(current)) { opt.selected = true; found = true; }
      node.appendChild(opt);
    });
    if (!found && current !== undefined && current !== null && current !== "") {
      node.insertBefore(el("option", { value: String(current), text: String(current), selected: true }), node.firstChild);
    }
    node.addEventListener("change", function () { onchange(node.value); });
    return node;
  }

  function input(type, value, oninput, attrs) {
    var node = el("input", Object.assign({ type: type, class: "builder-input" }, attrs || {}));
    node.value = value === undefined || value === null ? "" : String(value);
    node.addEventListener("input", function () { oninput(node.value); });
    return node;
  }

  function chips(options, chosen, onchange, label) {
    var box = el("span", { class: "chips", role: "group", "aria-label": label });
    options.forEach(function (option) {
      var box_input = el("input", { type: "checkbox", value: String(option.value) });
      box_input.checked = chosen.some(function (c) { return String(c) === String(option.value); });
      box_input.addEventListener("change", function () {
        var picked = Array.prototype.filter.call(box.querySelectorAll("input"), function (i) { return i.checked; })
          .map(function (i) { return typeof option.value === "number" ? Number(i.value) : i.value; });
        onchange(picked);
      });
      box.appendChild(el("label", { class: "chip" }, [box_input, el("span", { text: option.label })]));
    });
    return box;
  }

  function words(text) { return el("span", { class: "builder-word", text: text }); }

  // --- the model: filter tree ⇄ editor tree -----------------------------------------------------

  function fromJSON(node) {
    if (isObject(node) && node.op === "not" && Object.keys(node).length === 2 && "child" in node) {
      var inner = fromJSON(node.child);
      inner.negate = !inner.negate;
      return inner;
    }
    if (isObject(node) && (node.op === "and" || node.op === "or") && Array.isArray(node.children)) {
      return { type: "group", op: node.op, negate: false, children: node.children.map(fromJSON) };
    }
    if (isObject(node) && has(LEAF_OPS, node.op)) return { type: "leaf", negate: false, leaf: clone(node) };
    return { type: "raw", negate: false, value: node };
  }

  function fromRoot(node) {
    var model = fromJSON(node);
    if (model.type === "group") return model;
    // A single condition at the root: shown inside a group, written back as it was.
    return { type: "group", op: "and", negate: false, children: [model], implicit: true };
  }

  function cleanLeaf(leaf) {
    var out = {};
    Object.keys(leaf).forEach(function (key) {
      var value = leaf[key];
      if (value === undefined || value === null) return;
      if (key === "where" && Array.isArray(value) && !value.length) return;
      if (key === "sales_channels" && Array.isArray(value) && !value.length) return;
      if (leaf.op === "rfm" && has(["cells", "r", "f", "m"], key) && Array.isArray(value) && !value.length) return;
      out[key] = value;
    });
    if (out.where) out.where = out.where.map(function (w) { return cleanLeaf(w); });
    return out;
  }

  function register(path, model) { paths[path] = model; }

  function serialize(model, path) {
    register(path, model);
    var inner;
    if (model.type === "group" && model.implicit && model.children.length === 1 && !model.negate) {
      return serialize(model.children[0], path);
    }
    var innerPath = model.negate ? path + ".child" : path;
    if (model.negate) register(innerPath, model);
    if (model.type === "group") {
      inner = {
        op: model.op,
        children: model.children.map(function (child, i) { return serialize(child, innerPath + ".children[" + i + "]"); })
      };
    } else if (model.type === "leaf") {
      inner = cleanLeaf(model.leaf);
    } else {
      inner = model.value;
    }
    return model.negate ? { op: "not", child: inner } : inner;
  }

  function definition() {
    paths = {};
    return { version: 1, root: serialize(state, "root") };
  }

  // --- defaults ---------------------------------------------------------------------------------

  function attribute(name) {
    return config.attributes.filter(function (a) { return a.value === name; })[0];
  }
  function property(key) {
    return config.properties.filter(function (p) { return p.key === key; })[0];
  }

  function optionsOf(kind, options) {
    if (options && options.length) {
      return options.map(function (o) { return isObject(o) ? o : { value: o, label: String(o) }; });
    }
    return null;
  }

  function defaultValue(kind, cmp, options) {
    if (has(NO_VALUE, cmp)) return undefined;
    if (has(DAYS, cmp)) return 30;
    if (has(LISTS, cmp)) return [];
    if (cmp === "between") return kind === "number" || kind === "staff" ? [0, 0] : ["", ""];
    if (options && options.length) return options[0].value;
    if (kind === "bool") return true;
    if (kind === "number") return 0;
    return "";
  }

  function newLeaf(op) {
    switch (op) {
      case "attribute": return { op: "attribute", field: "gender", cmp: "eq", value: "female" };
      case "property": {
        var first = config.properties[0];
        var kind = first ? first.kind : "string";
        var cmp = config.kind_cmps[kind][0];
        return { op: "property", key: first ? first.key : "", cmp: cmp,
          value: defaultValue(kind, cmp, optionsOf(kind, first && first.options)) };
      }
      case "tag": return { op: "tag", tag_id: config.tags.length ? config.tags[0].id : undefined, has: true };
      case "event": return { op: "event", name: config.events.length ? config.events[0] : "", min_count: 1, within_days: 30 };
      case "orders": return { op: "orders", measure: "count", cmp: "gte", value: 1, within_days: 90 };
      case "segment": return { op: "segment", segment_id: config.segments.length ? config.segments[0].id : undefined };
      case "rfm": return { op: "rfm", cells: [config.rfm_cells[0].value] };
      case "tier": return { op: "tier", model: "threshold", tiers: [config.tier_models[0].tiers[0].value] };
      case "lifecycle": return { op: "lifecycle", stages: ["active"] };
      case "clv": return { op: "clv", measure: "value_fen", cmp: "gte", value: 10000 };
    }
    return { op: op };
  }

  // Conditions that name something the workspace has none of (tags, other segments) are not offered.
  function available(op) {
    if (op === "tag") return config.tags.length > 0;
    if (op === "segment") return config.segments.length > 0;
    return true;
  }

  // --- values -----------------------------------------------------------------------------------

  function parseValue(kind, text) {
    if (kind === "number" || kind === "staff") {
      if (text === "" || text === null) return undefined;
      var number = Number(text);
      return isNaN(number) ? text : number;
    }
    if (kind === "bool") return text === "true";
    return text;
  }

  function singleValue(kind, value, options, set, label) {
    if (options) {
      return select([{ value: "", label: "—" }].concat(options), value, function (v) { set(v === "" ? undefined : parseValue(kind, v)); }, label);
    }
    if (kind === "bool") {
      return select([{ value: "true", label: T["true"] }, { value: "false", label: T["false"] }], String(value), function (v) { set(v === "true"); }, label);
    }
    var type = { number: "number", date: "date", time: "datetime-local" }[kind] || "text";
    var shown = value;
    if (kind === "time" && typeof value === "string") shown = value.slice(0, 16);
    return input(type, shown, function (text) { set(parseValue(kind, text)); }, { "aria-label": label, step: kind === "number" ? "any" : null });
  }

  function valueEditor(kind, cmp, value, options, set) {
    if (has(NO_VALUE, cmp)) return [];
    if (has(DAYS, cmp)) {
      var days = [input("number", value, function (text) { set(text === "" ? undefined : Number(text)); },
        { min: 1, step: 1, "aria-label": T.days, class: "builder-input builder-short" }), words(T.days)];
      if (kind === "date") days.push(el("span", { class: "hint", text: T.birthday_hint }));
      return days;
    }
    if (cmp === "between") {
      var pair = Array.isArray(value) ? value.slice(0, 2) : [undefined, undefined];
      return [
        singleValue(kind, pair[0], null, function (v) { pair[0] = v; set(pair.slice()); }, T.value),
        words(T.to),
        singleValue(kind, pair[1], null, function (v) { pair[1] = v; set(pair.slice()); }, T.value)
      ];
    }
    if (has(LISTS, cmp)) {
      var list = Array.isArray(value) ? value : [];
      if (options) return [chips(options, list, function (picked) { set(picked); }, T.value)];
      return [input("text", list.join(", "), function (text) {
        set(text.split(/[,，]/).map(function (s) { return s.trim(); }).filter(Boolean)
          .map(function (s) { return parseValue(kind, s); }));
      }, { placeholder: T.values_hint, "aria-label": T.value })];
    }
    return [singleValue(kind, value, options, set, T.value)];
  }

  function comparison(leaf, kind, options, cmps, rerender) {
    if (!has(cmps, leaf.cmp)) {
      leaf.cmp = cmps[0];
      leaf.value = defaultValue(kind, leaf.cmp, options);
    }
    var cmpSelect = select(cmps.map(function (c) { return { value: c, label: config.cmps[c] }; }), leaf.cmp, function (v) {
      var before = leaf.cmp;
      leaf.cmp = v;
      var shape = function (c) { return has(NO_VALUE, c) ? "none" : has(DAYS, c) ? "days" : has(LISTS, c) ? "list" : c === "between" ? "pair" : "one"; };
      if (shape(before) !== shape(v)) leaf.value = defaultValue(kind, v, options);
      rerender();
    }, T.comparison);
    return [cmpSelect].concat(valueEditor(kind, leaf.cmp, leaf.value, options, function (v) { leaf.value = v; changed(); }));
  }

  // --- one editor per leaf type -----------------------------------------------------------------

  var editors = {
    attribute: function (leaf, rerender) {
      var spec = attribute(leaf.field) || { kind: "string" };
      var fieldSelect = select(config.attributes, leaf.field, function (v) {
        leaf.field = v;
        var next = attribute(v);
        leaf.cmp = config.kind_cmps[next.kind][0];
        leaf.value = defaultValue(next.kind, leaf.cmp, optionsOf(next.kind, next.options));
        rerender();
      }, T.field);
      var options = optionsOf(spec.kind, spec.options);
      return [fieldSelect].concat(comparison(leaf, spec.kind, options, config.kind_cmps[spec.kind] || config.kind_cmps.string, rerender));
    },
    property: function (leaf, rerender) {
      var spec = property(leaf.key);
      var kind = spec ? spec.kind : "string";
      var options = optionsOf(kind, spec && spec.options);
      var keySelect;
      if (config.properties.length) {
        keySelect = select(config.properties.map(function (p) { return { value: p.key, label: p.label + " (" + p.key + ")" }; }),
          leaf.key, function (v) {
            leaf.key = v;
            var next = property(v);
            leaf.cmp = config.kind_cmps[next.kind][0];
            leaf.value = defaultValue(next.kind, leaf.cmp, optionsOf(next.kind, next.options));
            rerender();
          }, T.field);
      } else {
        keySelect = input("text", leaf.key, function (text) { leaf.key = text.trim(); changed(); },
          { placeholder: T.no_properties, "aria-label": T.property_key });
      }
      return [keySelect].concat(comparison(leaf, kind, options, config.kind_cmps[kind] || config.kind_cmps.string, rerender));
    },
    tag: function (leaf) {
      var groups = {};
      var order = [];
      config.tags.forEach(function (t) {
        if (!groups[t.group]) { groups[t.group] = []; order.push(t.group); }
        groups[t.group].push({ value: t.id, label: t.name });
      });
      var hasSelect = select([{ value: "true", label: T.has }, { value: "false", label: T.has_not }], String(leaf.has !== false),
        function (v) { leaf.has = v === "true"; changed(); }, T.comparison);
      if (!config.tags.length && !leaf.tag_id) return [hasSelect, words(T.no_tags)];
      return [hasSelect, select(order.map(function (g) { return { group: g, options: groups[g] }; }), leaf.tag_id,
        function (v) { leaf.tag_id = Number(v); changed(); }, T.value)];
    },
    event: function (leaf, rerender) {
      var listId = "builder-events";
      if (!document.getElementById(listId)) {
        document.body.appendChild(el("datalist", { id: listId }, config.events.map(function (n) { return el("option", { value: n }); })));
      }
      var parts = [
        input("text", leaf.name, function (text) { leaf.name = text.trim(); changed(); },
          { list: listId, placeholder: T.event_name, "aria-label": T.event_name, class: "builder-input builder-event" }),
        words(T.at_least),
        input("number", leaf.min_count, function (text) { leaf.min_count = text === "" ? undefined : Number(text); changed(); },
          { min: 1, step: 1, "aria-label": T.at_least, class: "builder-input builder-short" }),
        words(T.times + " · " + T.at_most),
        input("number", leaf.max_count, function (text) { leaf.max_count = text === "" ? undefined : Number(text); changed(); },
          { min: 1, step: 1, "aria-label": T.at_most, class: "builder-input builder-short" }),
        words(T.times + " · " + T.within),
        input("number", leaf.within_days, function (text) { leaf.within_days = text === "" ? undefined : Number(text); changed(); },
          { min: 1, step: 1, placeholder: T.all_time, "aria-label": T.within, class: "builder-input builder-short" }),
        words(T.days)
      ];
      var where = el("div", { class: "builder-where" });
      (leaf.where || []).forEach(function (item, i) {
        var cmps = config.event_filter_cmps.map(function (c) { return { value: c, label: config.cmps[c] }; });
        var row = el("div", { class: "builder-where-row" }, [
          words(T.where),
          input("text", item.key, function (text) { item.key = text.trim(); changed(); },
            { placeholder: T.property_key, "aria-label": T.property_key, class: "builder-input builder-key" }),
          select(cmps, item.cmp, function (v) {
            item.cmp = v;
            if (has(NO_VALUE, v)) delete item.value;
            else if (has(LISTS, v)) item.value = [];
            else if (v === "between") item.value = [0, 0];
            else if (Array.isArray(item.value) || item.value === undefined) item.value = "";
            rerender();
          }, T.comparison)
        ].concat(has(NO_VALUE, item.cmp) ? [] : valueEditor(has(NUMERIC, item.cmp) ? "number" : "string", item.cmp, item.value, null,
          function (v) { item.value = v; changed(); })).concat([
          el("button", { type: "button", class: "btn btn-ghost btn-sm builder-remove", "aria-label": T.remove, text: "×",
            onclick: function () { leaf.where.splice(i, 1); rerender(); } })
        ]));
        where.appendChild(row);
      });
      where.appendChild(el("button", { type: "button", class: "btn btn-ghost btn-sm", text: "+ " + T.add_where, onclick: function () {
        leaf.where = (leaf.where || []).concat([{ key: "", cmp: "eq", value: "" }]);
        rerender();
      } }));
      parts.push(where);
      return parts;
    },
    orders: function (leaf, rerender) {
      var measure = config.order_measures.filter(function (m) { return m.value === leaf.measure; })[0] || config.order_measures[0];
      var money = measure.money;
      var show = function (v) { return money && typeof v === "number" ? v / 100 : v; };
      var keep = function (text) {
        if (text === "") return undefined;
        var n = Number(text);
        return isNaN(n) ? text : money ? Math.round(n * 100) : n;
      };
      var valueParts;
      if (leaf.cmp === "between") {
        var pair = Array.isArray(leaf.value) ? leaf.value.slice(0, 2) : [0, 0];
        valueParts = [
          input("number", show(pair[0]), function (t) { pair[0] = keep(t); leaf.value = pair.slice(); changed(); }, { step: money ? "0.01" : "1", "aria-label": T.value, class: "builder-input builder-short" }),
          words(T.to),
          input("number", show(pair[1]), function (t) { pair[1] = keep(t); leaf.value = pair.slice(); changed(); }, { step: money ? "0.01" : "1", "aria-label": T.value, class: "builder-input builder-short" })
        ];
      } else {
        valueParts = [input("number", show(leaf.value), function (t) { leaf.value = keep(t); changed(); },
          { step: money ? "0.01" : "1", "aria-label": T.value, class: "builder-input builder-short" })];
      }
      if (money) valueParts.push(words(T.yuan));
      var parts = [
        select(config.order_measures, leaf.measure || "amount_fen", function (v) {
          var wasMoney = money;
          leaf.measure = v;
          var nowMoney = config.order_measures.filter(function (m) { return m.value === v; })[0].money;
          if (wasMoney !== nowMoney) leaf.value = leaf.cmp === "between" ? [0, 0] : nowMoney ? 10000 : 1;
          rerender();
        }, T.measure),
        select(config.order_cmps.map(function (c) { return { value: c, label: config.cmps[c] }; }), leaf.cmp, function (v) {
          var was = leaf.cmp;
          leaf.cmp = v;
          if ((was === "between") !== (v === "between")) leaf.value = v === "between" ? [0, 0] : 0;
          rerender();
        }, T.comparison)
      ].concat(valueParts).concat([
        words("· " + T.within),
        input("number", leaf.within_days, function (t) { leaf.within_days = t === "" ? undefined : Number(t); changed(); },
          { min: 1, step: 1, placeholder: T.all_time, "aria-label": T.within, class: "builder-input builder-short" }),
        words(T.days)
      ]);
      var channels = el("details", { class: "builder-more" }, [
        el("summary", { text: T.channels }),
        chips(config.sales_channels, leaf.sales_channels || [], function (picked) { leaf.sales_channels = picked; changed(); }, T.channels)
      ]);
      if ((leaf.sales_channels || []).length) channels.open = true;
      parts.push(channels);
      return parts;
    },
    segment: function (leaf) {
      if (!config.segments.length && !leaf.segment_id) return [words(T.no_segments)];
      return [select(config.segments.map(function (s) { return { value: s.id, label: s.name }; }), leaf.segment_id,
        function (v) { leaf.segment_id = Number(v); changed(); }, T.value)];
    },
    rfm: function (leaf) {
      var scores = [1, 2, 3, 4, 5].map(function (n) { return { value: n, label: String(n) }; });
      var more = el("details", { class: "builder-more" }, [el("summary", { text: T.scores })].concat(["r", "f", "m"].map(function (name) {
        return el("span", { class: "builder-score" }, [words(name.toUpperCase()), chips(scores, leaf[name] || [], function (picked) {
          leaf[name] = picked; changed();
        }, name.toUpperCase())]);
      })));
      if ((leaf.r || []).length || (leaf.f || []).length || (leaf.m || []).length) more.open = true;
      return [chips(config.rfm_cells, leaf.cells || [], function (picked) { leaf.cells = picked; changed(); }, T.cells), more];
    },
    tier: function (leaf, rerender) {
      var model = config.tier_models.filter(function (m) { return m.value === leaf.model; })[0] || config.tier_models[0];
      return [
        select(config.tier_models, leaf.model, function (v) {
          leaf.model = v;
          leaf.tiers = [config.tier_models.filter(function (m) { return m.value === v; })[0].tiers[0].value];
          rerender();
        }, T.model),
        chips(model.tiers, leaf.tiers || [], function (picked) { leaf.tiers = picked; changed(); }, T.tiers)
      ];
    },
    lifecycle: function (leaf) {
      return [chips(config.lifecycle, leaf.stages || [], function (picked) { leaf.stages = picked; changed(); }, T.stages)];
    },
    clv: function (leaf, rerender) {
      var measure = config.clv_measures.filter(function (m) { return m.value === leaf.measure; })[0] || config.clv_measures[0];
      var money = measure.money;
      var step = money ? "0.01" : leaf.measure === "p_alive" ? "0.01" : "0.1";
      var show = function (v) { return money && typeof v === "number" ? v / 100 : v; };
      var keep = function (text) {
        if (text === "") return undefined;
        var n = Number(text);
        return isNaN(n) ? text : money ? Math.round(n * 100) : n;
      };
      var parts = [
        select(config.clv_measures, leaf.measure || "value_fen", function (v) {
          leaf.measure = v;
          leaf.value = leaf.cmp === "between" ? [0, 0] : v === "value_fen" ? 10000 : v === "p_alive" ? 0.5 : 1;
          rerender();
        }, T.measure),
        select(config.clv_cmps.map(function (c) { return { value: c, label: config.cmps[c] }; }), leaf.cmp, function (v) {
          var was = leaf.cmp;
          leaf.cmp = v;
          if ((was === "between") !== (v === "between")) leaf.value = v === "between" ? [0, 0] : 0;
          rerender();
        }, T.comparison)
      ];
      if (leaf.cmp === "between") {
        var pair = Array.isArray(leaf.value) ? leaf.value.slice(0, 2) : [0, 0];
        parts.push(input("number", show(pair[0]), function (t) { pair[0] = keep(t); leaf.value = pair.slice(); changed(); }, { step: step, "aria-label": T.value, class: "builder-input builder-short" }));
        parts.push(words(T.to));
        parts.push(input("number", show(pair[1]), function (t) { pair[1] = keep(t); leaf.value = pair.slice(); changed(); }, { step: step, "aria-label": T.value, class: "builder-input builder-short" }));
      } else {
        parts.push(input("number", show(leaf.value), function (t) { leaf.value = keep(t); changed(); }, { step: step, "aria-label": T.value, class: "builder-input builder-short" }));
      }
      if (money) parts.push(words(T.yuan));
      return parts;
    }
  };

  // --- rendering --------------------------------------------------------------------------------

  function negateToggle(model) {
    var box = el("input", { type: "checkbox" });
    box.checked = !!model.negate;
    box.addEventListener("change", function () { model.negate = box.checked; model.el.classList.toggle("is-negated", box.checked); changed(); });
    return el("label", { class: "not-toggle", title: T.not }, [box, el("span", { text: T.not })]);
  }

  function removeButton(parent, model) {
    return el("button", { type: "button", class: "btn btn-ghost btn-sm builder-remove", "aria-label": T.remove, title: T.remove, text: "×",
      onclick: function () {
        parent.children.splice(parent.children.indexOf(model), 1);
        if (parent.implicit && parent.children.length !== 1) parent.implicit = false;
        render();
        changed();
      } });
  }

  function renderLeaf(model, parent, depth) {
    var row = el("div", { class: "builder-row" + (model.negate ? " is-negated" : "") });
    model.el = row;
    var rerender = function () {
      var fresh = renderLeaf(model, parent, depth);
      row.replaceWith(fresh);
      changed();
    };
    var body = el("div", { class: "builder-row-body" });
    body.appendChild(negateToggle(model));
    if (model.type === "raw") {
      body.appendChild(el("span", { class: "builder-raw" }, [words(T.raw), el("code", { text: JSON.stringify(model.value) })]));
    } else {
      var offered = config.ops.filter(function (o) { return available(o.value) || o.value === model.leaf.op; });
      body.appendChild(select(offered, model.leaf.op, function (v) { model.leaf = newLeaf(v); rerender(); }, T.condition));
      var editor = editors[model.leaf.op];
      (editor ? editor(model.leaf, rerender) : []).forEach(function (part) { body.appendChild(part); });
    }
    row.appendChild(body);
    row.appendChild(removeButton(parent, model));
    model.errorEl = el("p", { class: "field-error builder-error", role: "alert", hidden: true });
    row.appendChild(model.errorEl);
    return row;
  }

  function renderGroup(model, parent, depth) {
    var box = el("div", { class: "builder-group depth-" + depth + (model.negate ? " is-negated" : "") });
    model.el = box;
    var head = el("div", { class: "builder-group-head" }, [
      depth > 0 || model.negate ? negateToggle(model) : null,
      el("span", { class: "segmented", role: "group" }, ["and", "or"].map(function (op) {
        return el("button", { type: "button", class: "segmented-option" + (model.op === op ? " is-current" : ""),
          "aria-pressed": model.op === op ? "true" : "false", text: op === "and" ? T.all_of : T.any_of,
          onclick: function () { model.op = op; if (model.implicit) model.implicit = false; render(); changed(); } });
      })),
      parent ? removeButton(parent, model) : null
    ]);
    box.appendChild(head);
    model.errorEl = el("p", { class: "field-error builder-error", role: "alert", hidden: true });
    box.appendChild(model.errorEl);
    var list = el("div", { class: "builder-children" });
    if (!model.children.length) list.appendChild(el("p", { class: "muted builder-empty", text: T.empty }));
    model.children.forEach(function (child, i) {
      if (i > 0) list.appendChild(el("div", { class: "connector", text: model.op === "and" ? T.and : T.or }));
      list.appendChild(child.type === "group" ? renderGroup(child, model, depth + 1) : renderLeaf(child, model, depth + 1));
    });
    box.appendChild(list);
    var foot = el("div", { class: "builder-group-foot" }, [
      el("button", { type: "button", class: "btn btn-ghost btn-sm", text: "+ " + T.add_condition, onclick: function () {
        model.children.push({ type: "leaf", negate: false, leaf: newLeaf(config.ops[0].value) });
        if (model.implicit) model.implicit = false;
        render();
        changed();
      } }),
      depth < MAX_GROUP_DEPTH ? el("button", { type: "button", class: "btn btn-ghost btn-sm", text: "+ " + T.add_group, onclick: function () {
        model.children.push({ type: "group", op: model.op === "and" ? "or" : "and", negate: false,
          children: [{ type: "leaf", negate: false, leaf: newLeaf(config.ops[0].value) }] });
        if (model.implicit) model.implicit = false;
        render();
        changed();
      } }) : null
    ]);
    box.appendChild(foot);
    return box;
  }

  function render() {
    root.innerHTML = "";
    root.appendChild(renderGroup(state, null, 0));
  }

  // --- problems next to the rows --------------------------------------------------------------

  function modelFor(path) {
    var best = null;
    Object.keys(paths).forEach(function (known) {
      var fits = path === known || path.indexOf(known + ".") === 0 || path.indexOf(known + "[") === 0;
      if (fits && (best === null || known.length > best.length)) best = known;
    });
    return best === null ? null : paths[best];
  }

  function clearProblems() {
    root.querySelectorAll(".has-error").forEach(function (node) { node.classList.remove("has-error"); });
    root.querySelectorAll(".builder-error").forEach(function (node) { node.textContent = ""; node.hidden = true; });
  }

  function showProblems(container) {
    clearProblems();
    if (!container) return;
    container.querySelectorAll("[data-path]").forEach(function (item) {
      var path = item.getAttribute("data-path");
      if (!path) return;
      var model = modelFor(path);
      if (!model || !model.errorEl) return;
      var message = item.cloneNode(true);
      var code = message.querySelector("code");
      if (code) code.remove();
      model.el.classList.add("has-error");
      model.errorEl.hidden = false;
      model.errorEl.textContent = (model.errorEl.textContent ? model.errorEl.textContent + "; " : "") + message.textContent.trim();
    });
  }

  // --- keeping the JSON and the count up to date ---------------------------------------------------

  function isEmpty() {
    return state.type === "group" && !state.children.length;
  }

  function schedulePreview() {
    window.clearTimeout(timer);
    timer = window.setTimeout(preview, 400);
  }

  function preview() {
    var mine = ++sequence;
    if (isEmpty()) {
      clearProblems();
      target.innerHTML = "";
      target.appendChild(el("p", { class: "muted", text: T.empty }));
      return;
    }
    target.classList.add("is-loading");
    if (!target.querySelector(".preview")) {
      target.innerHTML = "";
      target.appendChild(el("p", { class: "muted", text: T.counting }));
    }
    var body = new URLSearchParams();
    body.set("csrf_token", csrfField.value);
    body.set("definition", source.value);
    window.fetch(root.getAttribute("data-preview"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "HX-Request": "true" }
    }).then(function (response) {
      var redirect = response.headers.get("HX-Redirect");
      if (redirect) { window.location.href = redirect; return null; }
      return response.text();
    }).then(function (html) {
      if (html === null || mine !== sequence) return;
      target.classList.remove("is-loading");
      target.innerHTML = html;
      showProblems(target);
    }).catch(function () {
      if (mine !== sequence) return;
      target.classList.remove("is-loading");
      target.innerHTML = "";
      target.appendChild(el("p", { class: "field-error", text: T.network }));
    });
  }

  function changed() {
    source.value = JSON.stringify(definition(), null, 2);
    jsonError.hidden = true;
    source.classList.remove("is-invalid");
    schedulePreview();
  }

  function loadFromSource(initial) {
    var parsed;
    try {
      parsed = JSON.parse(source.value);
    } catch (e) {
      jsonError.textContent = T.json_invalid;
      jsonError.hidden = false;
      source.classList.add("is-invalid");
      if (initial) {
        state = { type: "group", op: "and", negate: false, children: [] };
        render();
        source.closest("details").open = true;
      }
      return false;
    }
    if (!isObject(parsed) || !("root" in parsed)) {
      jsonError.textContent = T.json_shape;
      jsonError.hidden = false;
      source.classList.add("is-invalid");
      if (initial) {
        state = { type: "group", op: "and", negate: false, children: [] };
        render();
        source.closest("details").open = true;
      }
      return false;
    }
    jsonError.hidden = true;
    source.classList.remove("is-invalid");
    state = fromRoot(parsed.root);
    render();
    definition(); // the node paths, for placing problems
    return true;
  }

  var jsonTimer = null;
  source.addEventListener("input", function () {
    window.clearTimeout(jsonTimer);
    jsonTimer = window.setTimeout(function () {
      if (loadFromSource(false)) schedulePreview();
    }, 400);
  });

  // Enter in a builder field would submit the whole form: keep it for the save button.
  root.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.tagName === "INPUT") event.preventDefault();
  });

  root.classList.add("is-ready");
  var ready = loadFromSource(true);
  showProblems(document.getElementById("definition-problems"));
  if (ready && !document.getElementById("definition-problems")) preview();
})();
