// Progressive enhancement for the db-listenable dashboard: every page works without it.
// A discard asks in a dialog, and skips the server's confirmation page once confirmed.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var action = form.getAttribute("action") || "";
  if (!/\/dead-letters\/discard$/.test(action) || form.querySelector("input[name=confirm]")) {
    return;
  }
  var subscriber = form.querySelector("input[name=subscriber]");
  var what = form.querySelector("input[name=change_id]")
    ? "this dead letter"
    : "every dead letter of " + (subscriber ? subscriber.value : "this subscriber");
  if (!window.confirm("Discard " + what + "? This cannot be undone.")) {
    event.preventDefault();
    return;
  }
  var confirmed = document.createElement("input");
  confirmed.type = "hidden";
  confirmed.name = "confirm";
  confirmed.value = "yes";
  form.appendChild(confirmed);
});
