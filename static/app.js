// Small behaviours the pages share. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  // Close an open menu (<details data-menu>) when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.removeAttribute("open");
    });
  });

  // Ask before submitting a form marked data-confirm="Question?".
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // Copy buttons: <button data-copy="#id-of-element"> copies that element's text or value.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Remove buttons: <button data-remove-row> removes its row ([data-row]) from the form,
  // then puts the focus on the list's add button so the keyboard does not lose its place.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-row]");
    if (!button) return;
    var row = button.closest("[data-row]");
    if (!row) return;
    var list = row.closest("[data-rows]");
    row.remove();
    var add = list && list.querySelector(":scope > [data-add-row]");
    if (add) add.focus();
  });
})();

// The event viewer (templates/events/): times in UTC or local time, the filters form,
// the chart's bars, clickable rows and the detail panel.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var TZ_KEY = "auditlog.timezone";

  function pad(n) { return String(n).padStart(2, "0"); }
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function format(date, local, precise) {
    var y = local ? date.getFullYear() : date.getUTCFullYear();
    var mo = local ? date.getMonth() : date.getUTCMonth();
    var d = local ? date.getDate() : date.getUTCDate();
    var h = local ? date.getHours() : date.getUTCHours();
    var mi = local ? date.getMinutes() : date.getUTCMinutes();
    var s = local ? date.getSeconds() : date.getUTCSeconds();
    var zone = local ? localZone(date) : "UTC";
    var time = pad(h) + ":" + pad(mi) + ":" + pad(s);
    if (precise) return y + "-" + pad(mo + 1) + "-" + pad(d) + " " + time + " " + zone;
    return MONTHS[mo] + " " + pad(d) + ", " + time + " " + zone;
  }

  function localZone(date) {
    var offset = -date.getTimezoneOffset();
    if (offset === 0) return "UTC";
    var sign = offset > 0 ? "+" : "-";
    offset = Math.abs(offset);
    return "UTC" + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }

  function timezoneMode() {
    try { return localStorage.getItem(TZ_KEY) === "local" ? "local" : "utc"; } catch (e) { return "utc"; }
  }

  function showTimes(root) {
    var local = timezoneMode() === "local";
    (root || document).querySelectorAll("time[data-time]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      var precise = el.hasAttribute("data-precise");
      el.textContent = format(date, local, precise);
      el.title = format(date, !local, true);
    });
    document.querySelectorAll("[data-tz]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-tz") === (local ? "local" : "utc")));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-tz]");
    if (!button) return;
    try { localStorage.setItem(TZ_KEY, button.getAttribute("data-tz")); } catch (e) { /* private mode */ }
    showTimes();
  });

  function filtersForm() { return document.getElementById("event-filters"); }

  function submitFilters(form) {
    if (window.htmx) window.htmx.trigger(form, "submit");
    else form.submit();
  }

  // The Action dropdown's summary names what is chosen.
  function summarizeChoices(form) {
    var summary = form.querySelector("[data-multi-summary]");
    if (!summary) return;
    var chosen = Array.prototype.map.call(
      form.querySelectorAll("input[name=action]:checked"), function (box) { return box.value; });
    summary.textContent = chosen.length ? chosen.join(", ") : summary.getAttribute("data-none");
  }

  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.id === "event-filters") summarizeChoices(form);
  });

  document.addEventListener("click", function (event) {
    // A chart bar narrows the date range to itself, through the form.
    var bar = event.target.closest("a[data-narrow-from]");
    var form = filtersForm();
    if (bar && form) {
      event.preventDefault();
      form.elements.range.value = "custom";
      form.elements.from.value = bar.getAttribute("data-narrow-from");
      form.elements.until.value = bar.getAttribute("data-narrow-until");
      submitFilters(form);
      return;
    }
    // "Clear filters" empties the form and applies it.
    var clear = event.target.closest("[data-clear-filters]");
    if (clear && form) {
      event.preventDefault();
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.type === "checkbox") el.checked = false;
        else if (el.tagName === "SELECT") el.value = "";
        else if (el.name && el.type !== "submit") el.value = "";
      });
      summarizeChoices(form);
      submitFilters(form);
      return;
    }
    // Clicking anywhere on a row opens its event (the action cell holds the link).
    var row = event.target.closest("tr[data-row-link]");
    if (row && !event.target.closest("a, button") && !window.getSelection().toString()) {
      var link = row.querySelector("a.event-link");
      if (link) link.click();
      return;
    }
    if (event.target.closest("[data-close-panel]")) closePanel();
  });

  function closePanel() {
    var panel = document.getElementById("event-panel");
    if (!panel) return;
    var empty = document.createElement("aside");
    empty.id = "event-panel";
    empty.className = "event-panel";
    empty.hidden = true;
    panel.replaceWith(empty);
    document.querySelectorAll("tr.selected").forEach(function (row) { row.classList.remove("selected"); });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.querySelector("#event-panel[data-panel]")) closePanel();
  });

  // Mark the row whose event the panel shows.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = event.detail.elt;
    if (!link.classList || !link.classList.contains("event-link")) return;
    document.querySelectorAll("tr.selected").forEach(function (row) { row.classList.remove("selected"); });
    var row = link.closest("tr");
    if (row) row.classList.add("selected");
  });

  document.addEventListener("htmx:load", function (event) {
    showTimes(event.detail.elt);
    if (event.detail.elt.id === "event-panel") event.detail.elt.focus();
  });
  document.addEventListener("DOMContentLoaded", function () { showTimes(); });
})();
