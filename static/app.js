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
