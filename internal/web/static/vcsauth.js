// vcsauth: the one script of the pages, allowed by their CSP (script-src 'self').
// It adds copy buttons to values shown once; every page works without it.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (b) {
  var label = b.textContent;
  b.hidden = false;
  b.addEventListener("click", function () {
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el) return;
    var text = "value" in el ? el.value : el.textContent;
    var said = function (msg) {
      b.textContent = msg;
      setTimeout(function () { b.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { said("Copied"); }, function () { said("Select and copy"); });
    } else if (el.select) {
      el.select();
      said(document.execCommand("copy") ? "Copied" : "Select and copy");
    }
  });
});
