// The responder page's only script (agency_client/templates/gateway.html), an extra:
// the page works without it. Served from /static/gateway.js; the Content-Security-Policy
// allows scripts from the gateway itself only, so nothing inline.
// It stops a second lookup being sent while the first is on its way (each lookup is
// audited at the matcher), by disabling the button once the form is submitted.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("lookup-form");
  var button = document.getElementById("lookup-button");
  if (!form || !button) {
    return;
  }
  form.addEventListener("submit", function () {
    // After the browser has taken the form's data: a disabled button is not sent,
    // and the gateway does not read it.
    window.setTimeout(function () {
      button.disabled = true;
      button.textContent = "Looking up\u2026";
    }, 0);
  });
  // Coming back to the page (back button, bfcache) must not leave it disabled.
  window.addEventListener("pageshow", function () {
    button.disabled = false;
    button.textContent = "Look up";
  });
});
