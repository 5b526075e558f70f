// Live updates. Every page works without this script; with it, a banner offers to reload when
// the feed (or, on a story page, this story) changes. EventSource resumes with Last-Event-ID.
(function () {
  var root = document.querySelector("main[data-live]");
  var banner = document.getElementById("live");
  if (!window.EventSource || !root || !banner) return;
  var story = root.getAttribute("data-story");
  var events = new EventSource("/events");
  // Marks the page once the stream is connected: from then on no change is missed.
  events.onopen = function () { root.setAttribute("data-live", "open"); };
  function onEvent(message) {
    var data = JSON.parse(message.data);
    if (story && data.story_id !== story) return;
    banner.hidden = false;
  }
  ["story.created", "story.updated", "story.merged"].forEach(function (type) {
    events.addEventListener(type, onEvent);
  });
})();
