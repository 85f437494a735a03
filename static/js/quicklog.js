// The quick log form: picked unions and people become chips holding hidden inputs, new people
// are extra rows of a Django formset, and the form is sent once however often Save is pressed.
(function () {
  "use strict";
  var form = document.querySelector("[data-quick-log]");
  if (!form) return;

  function addChip(kind, id, label) {
    var box = document.getElementById("picked-" + kind);
    if (box.querySelector('input[type="hidden"][value="' + id + '"]')) return;
    var chip = document.getElementById("chip-" + kind).content.firstElementChild.cloneNode(true);
    chip.querySelector('input[type="hidden"]').value = id;
    chip.querySelector("[data-chip-label]").textContent = label;
    chip.querySelectorAll("[data-label-template]").forEach(function (control) {
      control.setAttribute("aria-label", control.dataset.labelTemplate.replace("%(name)s", label));
    });
    box.appendChild(chip);
  }

  function addRow(name) {
    var total = form.querySelector('input[name$="-TOTAL_FORMS"]');
    var index = parseInt(total.value, 10);
    var html = document.getElementById(name + "-template").innerHTML.replace(/__prefix__/g, String(index));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var row = holder.firstElementChild;
    document.getElementById(name + "-rows").appendChild(row);
    total.value = String(index + 1);
    var first = row.querySelector("input");
    if (first) first.focus();
  }

  form.addEventListener("click", function (event) {
    var pick = event.target.closest("[data-pick]");
    if (pick) {
      addChip(pick.dataset.pick, pick.dataset.id, pick.dataset.label);
      var results = pick.closest(".pick-results");
      var search = results && results.previousElementSibling;
      results.innerHTML = "";
      if (search) { search.value = ""; search.focus(); }
      return;
    }
    var removeChip = event.target.closest("[data-remove-chip]");
    if (removeChip) { removeChip.closest(".chip").remove(); return; }
    var removeRow = event.target.closest("[data-remove-row]");
    if (removeRow) { removeRow.closest("[data-row]").remove(); return; }
    var add = event.target.closest("[data-add-row]");
    if (add) addRow(add.dataset.addRow);
  });

  // Enter in a search box picks nothing and must not send the half-filled form.
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches('input[type="search"]')) event.preventDefault();
  });

  // Coming back with the Back button restores the page as it was sent: allow sending again
  // (the server recognises the same form and shows what was saved).
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) delete form.dataset.sent;
  });

  // A second click while the first is on its way does nothing (the server also ignores a
  // second submission of the same form).
  form.addEventListener("submit", function (event) {
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    var button = form.querySelector("[data-submit-once]");
    if (button) button.setAttribute("aria-busy", "true");
  });
})();
