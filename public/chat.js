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

// Chainlit connects the page's socket through a debounced function that first awaits a POST to
// /set-session-cookie; when the page's state changes within the debounce (a reload of /thread/<id>
// clears the session, then asks to resume the thread), two connects run, and whichever cookie answer
// comes back last opens the socket that stays. Answered out of order, the stale one (a new chat,
// no thread) wins and the reloaded thread shows empty. Here those answers reach Chainlit in the order
// it asked, so the last connect asked for, with the page's current state, is the one that stays.
(function () {
  "use strict";
  var original = window.fetch;
  var last = Promise.resolve();

  function isSessionCookie(input) {
    var url = typeof input === "string" ? input : (input && input.url) || String(input);
    return /\/set-session-cookie(\?|$)/.test(url);
  }

  window.fetch = function (input) {
    var answer = original.apply(this, arguments);
    if (!isSessionCookie(input)) return answer;
    // The body read too, so Chainlit's `.json()` on each resolves in the same order.
    var read = answer.then(function (response) {
      return response.text().then(function (body) {
        var empty = [101, 204, 205, 304].indexOf(response.status) >= 0; // statuses without a body
        var init = { status: response.status, statusText: response.statusText, headers: response.headers };
        return new Response(empty ? null : body, init);
      });
    });
    var inOrder = last.then(function () {
      return read;
    });
    last = inOrder.catch(function () {});
    return inOrder;
  };
})();

// On a phone Chainlit opens an answer's last side panel (an ad's transcript or storyboard) as a drawer
// over the answer. Keep the answer in view: close a drawer that no tap on its name ("Open: Transcript")
// opened; the panels stay one tap away. On a wider window the panel opens beside the answer, as before.
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
