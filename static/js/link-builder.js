// Rebuilds the tracking link as the affiliate types, exactly as tracking/links.py does:
// values percent-encoded, except { and } so that tracker macros stay readable.
(function () {
  "use strict";
  var form = document.getElementById("link-builder");
  var output = document.getElementById("tracking-link");
  if (!form || !output) return;

  function encode(value) {
    return encodeURIComponent(value)
      .replace(/[!'()*]/g, function (c) { return "%" + c.charCodeAt(0).toString(16).toUpperCase(); })
      .replace(/%7B/g, "{")
      .replace(/%7D/g, "}");
  }

  function update() {
    var link = output.dataset.base;
    form.querySelectorAll("input[type=text]").forEach(function (input) {
      if (input.value) link += "&" + input.name + "=" + encode(input.value);
    });
    output.textContent = link;
  }

  form.addEventListener("input", update);
  form.addEventListener("submit", function (event) { event.preventDefault(); update(); });

  var copy = document.getElementById("copy-link");
  var status = document.getElementById("copy-status");
  copy.addEventListener("click", function () {
    var done = function () { status.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(output.textContent).then(done);
    } else {
      var range = document.createRange();
      range.selectNodeContents(output);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
      done();
    }
  });
})();
