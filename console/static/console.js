// The console's only script: a confirmation before the forms that ask for one, and the current
// page marked in the navigation. Everything works without it (retry-all has its own page).
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var links = document.querySelectorAll("nav a");
  for (var i = 0; i < links.length; i++) {
    if (links[i].pathname === window.location.pathname) {
      links[i].setAttribute("aria-current", "page");
    }
  }
});
