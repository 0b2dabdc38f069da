// Behaviour lives here, never inline: the Content-Security-Policy allows scripts from this site only.
"use strict";
document.addEventListener("htmx:responseError", function (event) {
  // An expired session during an htmx swap: go to sign-in rather than swapping an error into the page.
  if (event.detail.xhr.status === 401) {
    window.location.href = "/login";
  }
});
