/*
 * noojee_django widget: takes over the forms of {% noojee_dial_button %}, {% noojee_record_button %}
 * and {% noojee_call_status %} (marked data-noojee="..."), posts them with fetch() and shows what
 * happens without leaving the page. Without this script the same forms still work as plain posts.
 */
(function () {
  "use strict";

  var POLL_INTERVAL_MS = 1000;
  /* Only for an answer without status_words (the server writes the words: noojee_django/states.py). */
  var LABELS = {
    queued: "Placing the call",
    dialing: "Ringing your phone",
    ringing: "Ringing",
    connected: "On the call",
    hungup: "Call ended",
    failed: "Call not connected"
  };
  var pollTimer = null;

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|;\\s*)" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return (input && input.value) || cookie("csrftoken");
  }

  function request(url, options) {
    options = options || {};
    var headers = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" };
    if (options.form) headers["X-CSRFToken"] = csrfToken(options.form);
    return fetch(url, {
      method: options.form ? "POST" : "GET",
      body: options.form ? new FormData(options.form) : undefined,
      headers: headers,
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return { error: response.status === 403 ? "Your session expired: reload the page." : "The server answered HTTP " + response.status + "." };
        })
        .then(function (data) {
          if (!response.ok) {
            var error = new Error(data.error || data.detail || "The request failed (HTTP " + response.status + ").");
            error.status = response.status;
            throw error;
          }
          return data;
        });
    });
  }

  function say(container, text, isError) {
    var region = container && container.querySelector(".noojee-message");
    if (!region) region = statusArea().querySelector(".noojee-message");
    if (!region) return;
    region.textContent = text || "";
    region.classList.toggle("noojee-error", Boolean(isError));
    region.setAttribute("role", isError ? "alert" : "status");
  }

  /* ---------------------------------------------------------------- call status area */

  function statusArea() {
    var area = document.querySelector("[data-noojee-call-status]");
    if (area) return area;
    area = document.createElement("div");
    area.className = "noojee-call-status";
    area.setAttribute("data-noojee-call-status", "");
    area.setAttribute("role", "status");
    area.setAttribute("aria-live", "polite");
    area.hidden = true;
    area.innerHTML =
      '<span class="noojee-call-text"></span>' +
      '<form class="noojee-hangup" method="post" data-noojee="hangup" hidden>' +
      '<button type="submit" class="noojee-button noojee-hangup-button">Hang up</button></form>' +
      '<span class="noojee-message" role="alert"></span>';
    document.body.insertBefore(area, document.body.firstChild);
    return area;
  }

  function showCall(call) {
    var area = statusArea();
    var label = call.status_words || LABELS[call.status] || call.status_display || call.status;
    area.hidden = false;
    area.setAttribute("data-call-state", call.status);
    area.querySelector(".noojee-call-text").textContent = label + ": " + call.number;
    var hangup = area.querySelector("form[data-noojee=hangup]");
    if (hangup) {
      if (call.hangup_url) hangup.action = call.hangup_url;
      hangup.hidden = !call.is_active;
    }
  }

  function stopPolling() {
    if (pollTimer !== null) window.clearTimeout(pollTimer);
    pollTimer = null;
  }

  function pollCall(url) {
    stopPolling();
    var area = statusArea();
    area.setAttribute("data-status-url", url);
    function tick() {
      request(url)
        .then(function (call) {
          showCall(call);
          if (call.is_active) pollTimer = window.setTimeout(tick, POLL_INTERVAL_MS);
          else pollTimer = null;
        })
        .catch(function (error) {
          say(area, "Lost track of the call: " + error.message, true);
          pollTimer = null;
        });
    }
    pollTimer = window.setTimeout(tick, POLL_INTERVAL_MS);
  }

  /* ---------------------------------------------------------------- what each form does on success */

  var handlers = {
    dial: function (form, data) {
      say(form, data.message, false);
      showCall(data);
      if (data.is_active) pollCall(data.status_url);
    },
    hangup: function (form, data) {
      showCall(data);
      stopPolling();
      say(statusArea(), "", false);
    },
    answer: function (form, data) {
      say(form, data.message, false);
    },
    "record-start": function (form, data) {
      var widget = form.closest("[data-noojee-record]");
      var stop = widget && widget.querySelector("form[data-noojee=record-stop]");
      if (stop) {
        stop.action = data.stop_url;
        stop.hidden = false;
        form.hidden = true;
        widget.setAttribute("data-recording", "");
        var button = stop.querySelector("button");
        if (button) button.focus();
      }
      say(widget || form, data.message, false);
    },
    "record-stop": function (form, data) {
      var widget = form.closest("[data-noojee-record]");
      var start = widget && widget.querySelector("form[data-noojee=record-start]");
      if (start) {
        start.hidden = false;
        form.hidden = true;
        widget.removeAttribute("data-recording");
        var consent = start.querySelector("input[name=consent]");
        if (consent) consent.checked = false;
      }
      say(widget || form, data.message, false);
    }
  };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var kind = form.getAttribute("data-noojee");
    var handler = handlers[kind];
    if (!handler || !window.fetch || !window.FormData) return; // the plain post still works
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return; // a double click sends nothing twice
    var buttons = form.querySelectorAll("button, input[type=submit]");
    form.setAttribute("aria-busy", "true");
    buttons.forEach(function (button) { button.disabled = true; });
    var container = form.closest("[data-noojee-record]") || form;
    say(container, "", false);
    request(form.action, { form: form })
      .then(function (data) { handler(form, data); })
      .catch(function (error) {
        var text = error instanceof TypeError ? "The server could not be reached." : error.message;
        say(kind === "hangup" ? statusArea() : container, text, true);
      })
      .then(function () {
        form.removeAttribute("aria-busy");
        buttons.forEach(function (button) { button.disabled = false; });
      });
  });

  function start() {
    var area = document.querySelector("[data-noojee-call-status][data-status-url]");
    if (area) pollCall(area.getAttribute("data-status-url"));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
