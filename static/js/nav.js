// The top bar's menus are <details> elements: they open and close without JavaScript, and the
// browser tells assistive technology whether each is expanded. This makes them behave as menus
// do: one open at a time, closed by Escape (focus goes back to its button), by a click outside
// or by tabbing out of it.
(function () {
  "use strict";
  var menus = Array.prototype.slice.call(document.querySelectorAll("details.menu"));
  if (!menus.length) return;

  function closeAll(except) {
    menus.forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }

  menus.forEach(function (menu) {
    menu.addEventListener("toggle", function () {
      if (menu.open) closeAll(menu);
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = menus.filter(function (menu) { return menu.open; })[0];
    if (!open) return;
    open.open = false;
    open.querySelector("summary").focus();
  });

  function closeOutside(target) {
    menus.forEach(function (menu) {
      if (menu.open && !menu.contains(target)) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    closeOutside(event.target);
  });
  // Tabbing out of a menu closes it too. (Not on any focus change: a press on another menu's
  // button focuses it before the click, and a menu closing then would move that button away on a
  // phone, where the open menu takes room in the bar.)
  document.addEventListener("keyup", function (event) {
    if (event.key === "Tab") closeOutside(document.activeElement);
  });
})();
