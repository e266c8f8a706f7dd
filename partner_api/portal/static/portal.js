// The portal works without this file; it adds live order progress, a
// dry-run preview that keeps the chosen file, confirmations, and times in
// the reader's own time zone.
(function () {
  "use strict";

  // Order page: fetch the progress panel every second until the order is final,
  // then reload once so the per-row outcomes show.
  function pollProgress() {
    var panel = document.getElementById("progress");
    if (!panel || !panel.dataset.poll) return;
    var url = panel.dataset.poll;
    var timer = setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { "X-Portal-Fragment": "progress" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.text();
        })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector("#progress");
          if (!fresh) return;
          document.getElementById("progress").replaceWith(fresh);
          if (fresh.dataset.final === "true") {
            clearInterval(timer);
            window.location.reload();
          }
        })
        .catch(function () { /* a missed poll is retried on the next tick */ });
    }, 1000);
  }

  // Register form: "Preview" posts the form in the background and shows the
  // verdicts below it, so the chosen file stays selected for "Register".
  function previewInPlace() {
    var form = document.querySelector("form[data-preview-target]");
    if (!form) return;
    var target = document.getElementById(form.dataset.previewTarget);
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || button.value !== "preview") return;
      event.preventDefault();
      var data = new FormData(form);
      data.set("intent", "preview");
      button.disabled = true;
      target.innerHTML = '<p class="muted">Checking every row…</p>';
      fetch(form.getAttribute("action"), {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-Portal-Fragment": "preview" },
      })
        .then(function (response) { return response.text(); })
        .then(function (html) { target.innerHTML = html; })
        .catch(function () {
          target.innerHTML = '<p class="error" role="alert">The preview could not be loaded. Check your connection and try again.</p>';
        })
        .finally(function () { button.disabled = false; });
    });
  }

  // Times: pages render them in the zone named by the "tz" cookie (UTC until
  // it is set). Tell the server the browser's zone, and show this page's
  // times in it already when the server did not know it yet.
  function readerTimeZone() {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone || zone === document.documentElement.dataset.timeZone) return;
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/portal; max-age=31536000; SameSite=Lax";
    var parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
    });
    document.querySelectorAll("time[datetime]").forEach(function (element) {
      var at = new Date(element.getAttribute("datetime"));
      if (isNaN(at)) return;
      var p = {};
      parts.formatToParts(at).forEach(function (part) { p[part.type] = part.value; });
      element.textContent = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " + p.timeZoneName;
      element.title = zone;
    });
    var named = document.querySelector("[data-testid=time-zone]");
    if (named) named.textContent = zone;
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    readerTimeZone();
    pollProgress();
    previewInPlace();
    confirmations();
  });
})();
