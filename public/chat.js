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
