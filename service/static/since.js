// "New since your last visit" on a story page. The browser remembers (localStorage) the summary
// version it last showed of each story; when the page shows a later one, it asks the server what
// changed between the two (GET /stories/{id}/changes, a fact-level diff) and lists it above the
// summary. Text only (textContent): nothing from an article is ever parsed as markup.
(function () {
  var box = document.getElementById("since-visit");
  var root = document.querySelector("main[data-story]");
  if (!box || !root || !window.fetch) return;
  var store;
  try { store = window.localStorage; } catch (e) { return; }  // storage disabled
  if (!store) return;
  var story = root.getAttribute("data-story");
  var shown = parseInt(box.getAttribute("data-version"), 10) || 0;
  var key = "storyfold:seen:" + story;
  var seen = parseInt(store.getItem(key), 10) || 0;
  if (shown > seen) store.setItem(key, String(shown));
  if (!seen || seen >= shown) return;  // a first visit, or nothing newer

  function item(list, label, text) {
    var li = document.createElement("li");
    var b = document.createElement("strong");
    b.textContent = label + ": ";
    li.appendChild(b);
    li.appendChild(document.createTextNode(text));
    list.appendChild(li);
  }

  var url = "/stories/" + encodeURIComponent(story) + "/changes?since=" + seen + "&version=" + shown;
  fetch(url, { headers: { Accept: "application/json" } })
    .then(function (resp) { return resp.ok ? resp.json() : null; })
    .then(function (changes) {
      if (!changes) return;
      var list = document.createElement("ul");
      if (changes.outlets_added.length) item(list, "New outlets", changes.outlets_added.join(", "));
      changes.facts_added.forEach(function (t) { item(list, "New", t); });
      changes.conflicts_opened.forEach(function (t) { item(list, "New disagreement", t); });
      changes.conflicts_resolved.forEach(function (t) { item(list, "Settled", t); });
      if (changes.facts_dropped.length) {
        var n = changes.facts_dropped.length;
        item(list, "No longer in the summary", n + " fact" + (n === 1 ? "" : "s"));
      }
      if (!list.children.length) return;
      var h = document.createElement("h2");
      // The server may compare from the nearest version it still keeps: name what it compared.
      h.textContent = "New since your last visit (version " + changes.since + " → " + changes.version + ")";
      box.appendChild(h);
      box.appendChild(list);
      box.hidden = false;
    })
    .catch(function () { /* the page stands without it */ });
})();
