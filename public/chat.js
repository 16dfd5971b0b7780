// One Enter sends what was typed. Chainlit's command menu turns an exact command name into a chip
// (sent by a second Enter, as an empty message) and a bare "/" into its first command: here Enter on a
// typed "/name" that is a command sends it as text, and Enter on "/" alone keeps the menu open.
// Picking from the menu (a click, the arrow keys, Tab) still makes Chainlit's chip.
(function () {
  "use strict";
  var navigated = false; // the arrow keys moved through the menu since the last edit

  function typedCommand(value) {
    var match = /^\/(\S*)$/.exec(value.trim());
    return match ? match[1].toLowerCase() : null;
  }

  function menuNames() {
    return Array.prototype.map.call(document.querySelectorAll(".command-item .font-medium"), function (n) {
      return (n.textContent || "").trim().toLowerCase();
    });
  }

  document.addEventListener(
    "input",
    function (event) {
      if (event.target && event.target.id === "chat-input") navigated = false;
    },
    true
  );

  // On window, capturing: before React's own listener on its root sees the key.
  window.addEventListener(
    "keydown",
    function (event) {
      var input = event.target;
      if (!input || input.id !== "chat-input") return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        navigated = true;
        return;
      }
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      var name = typedCommand(input.value);
      var names = menuNames();
      if (name === null || names.length === 0) return; // no menu open: Chainlit's Enter sends
      if (name === "") {
        event.preventDefault();
        event.stopImmediatePropagation();
        return;
      }
      if (navigated || names.indexOf(name) < 0) return; // a choice in the menu: Chainlit's chip
      event.preventDefault();
      event.stopImmediatePropagation();
      var submit = document.getElementById("chat-submit");
      if (submit && !submit.disabled) submit.click();
    },
    true
  );
})();

// On a phone Chainlit opens an answer's last side panel (an ad's transcript or storyboard) as a drawer
// over the answer. Keep the answer in view: close a drawer that no tap on its name ("Open: Transcript")
// opened; the panels stay one tap away.
(function () {
  "use strict";
  var PHONE = 768; // Chainlit's own phone width (its side view is a drawer below it)
  var asked = 0; // when a panel's name was last tapped

  function tapped(event) {
    var link = event.target && event.target.closest && event.target.closest(".element-link");
    if (link && (event.type !== "keydown" || event.key === "Enter" || event.key === " ")) asked = Date.now();
  }
  document.addEventListener("pointerdown", tapped, true);
  document.addEventListener("keydown", tapped, true);

  function closeUnasked() {
    if (window.innerWidth >= PHONE || Date.now() - asked < 1500) return;
    var title = document.getElementById("side-view-title");
    var drawer = title && title.closest('[role="dialog"]');
    if (!drawer) return;
    var buttons = drawer.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) {
      if ((buttons[i].textContent || "").trim() === "Close") {
        buttons[i].click();
        return;
      }
    }
  }

  function watch() {
    new MutationObserver(closeUnasked).observe(document.body, { childList: true, subtree: true });
  }
  if (document.body) watch();
  else document.addEventListener("DOMContentLoaded", watch);
})();

// A chart is first drawn before its box has a width (Chainlit sizes the box to its content), so
// plotly falls back to 700 px, which a phone clips. When a drawn chart is wider than its box, a
// window "resize" makes plotly (its resize handler) redraw it at the box's width.
(function () {
  "use strict";
  var pending = false;
  var resizedAt = new WeakMap(); // plot -> the box width it was last redrawn for: once per width, never a loop

  function tooWide() {
    return Array.prototype.some.call(document.querySelectorAll(".js-plotly-plot"), function (plot) {
      var svg = plot.querySelector(".main-svg");
      var box = Math.round(plot.getBoundingClientRect().width);
      // A hidden or collapsed box (width 0) can't be fitted: redrawing for it would repeat every frame.
      if (!svg || box < 50 || resizedAt.get(plot) === box) return false;
      if (svg.getBoundingClientRect().width <= box + 1) return false;
      resizedAt.set(plot, box);
      return true;
    });
  }

  function check() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      if (tooWide()) window.dispatchEvent(new Event("resize"));
    });
  }

  function watch() {
    new MutationObserver(check).observe(document.body, { childList: true, subtree: true });
  }
  if (document.body) watch();
  else document.addEventListener("DOMContentLoaded", watch);
})();
