// Fills the postback URL from a tracker's template as the affiliate types, exactly as
// postbacks/trackers.py fill() does ("Use template" does it on the server without JavaScript;
// where fill() refuses a status the tracker has no word for, this uses the tracker's own):
// each <blank> takes the value typed (or stays, to be filled in), <click_id> the chosen sub's
// macro, <status> the tracker's word for the status; the postback's status follows.
(function () {
  "use strict";
  var data = document.getElementById("tracker-templates");
  var chooser = document.getElementById("tracker-template");
  var url = document.getElementById("id_url");
  var statusFilter = document.getElementById("id_status");
  if (!data || !chooser || !url || !statusFilter) return;
  var templates = {};
  JSON.parse(data.textContent).forEach(function (template) { templates[template.key] = template; });

  function field(name) { return document.getElementById("id_template-" + name); }

  function cleanDomain(value) {
    return value.replace(/^https?:\/\//i, "").replace(/\/+$/, "");
  }

  function update() {
    var template = templates[field("tracker").value];
    chooser.querySelectorAll("[data-blank]").forEach(function (wrapper) {
      wrapper.hidden = !template || template.blanks.indexOf(wrapper.dataset.blank) < 0;
    });
    document.getElementById("template-note").hidden = !template;
    if (!template) return;
    document.getElementById("template-note-text").textContent = template.note;
    document.getElementById("template-source").href = template.source;

    var status = field("status").value || template.status;
    var words = template.status_words;
    var hasWords = Object.keys(words).length > 0;
    if (hasWords && !(status in words)) status = template.status;
    var filled = template.url.replace(/<([A-Za-z][A-Za-z0-9_-]*)>/g, function (blank, name) {
      if (name === "click_id") return "{" + field("click_id_sub").value + "}";
      if (name === "status") return words[status] || "";
      var input = field(name);
      var value = input ? input.value.trim() : "";
      if (name === "domain") value = cleanDomain(value);
      return value || blank;
    });
    url.value = filled;
    statusFilter.value = status;
  }

  chooser.addEventListener("input", update);
  chooser.addEventListener("change", update);
  update();
})();
