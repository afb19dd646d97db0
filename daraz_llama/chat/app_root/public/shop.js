// A one-line welcome above the example questions of an empty chat, and a message sent before the chat
// session is ready (the settings button appears when it is) is held and sent then, not dropped.
(function () {
  const WELCOME = "Ask for products in your own words, with a budget if you have one: answers cite the " +
    "listings, with their prices and ratings.";
  let pending = false;
  const ready = () => document.getElementById("chat-settings-open-modal") !== null;

  function addWelcome() {
    const starters = document.getElementById("starters");
    if (starters && !document.getElementById("shop-welcome")) {
      const line = document.createElement("p");
      line.id = "shop-welcome";
      line.textContent = WELCOME;
      starters.parentElement.insertBefore(line, starters);
    }
  }

  function holdUntilReady(event) {
    const enter = event.type === "keydown" && event.key === "Enter" && !event.shiftKey &&
      event.target.closest && event.target.closest("#chat-input");
    const submit = event.type === "click" && event.target.closest && event.target.closest("#chat-submit");
    if ((enter || submit) && !ready()) {
      event.preventDefault();
      event.stopPropagation();
      pending = true;
    }
  }

  function sendHeld() {
    if (!pending || !ready()) return;
    pending = false;
    let tries = 0;
    const retry = setInterval(() => {  // the session may need a moment after the settings arrive
      const input = document.getElementById("chat-input");
      const button = document.getElementById("chat-submit");
      if (!input || !input.value || ++tries > 40) { clearInterval(retry); return; }
      if (button && !button.disabled) button.click();
    }, 250);
  }

  document.addEventListener("keydown", holdUntilReady, true);
  document.addEventListener("click", holdUntilReady, true);
  new MutationObserver(() => { addWelcome(); sendHeld(); })
    .observe(document.documentElement, { childList: true, subtree: true });
})();
