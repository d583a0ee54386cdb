/*
 * noojee_django widget: takes over the forms of {% noojee_dial_button %}, {% noojee_record_button %}
 * (start, pause with its countdown to the automatic resume, resume, stop)
 * and {% noojee_call_status %} (marked data-noojee="..."), posts them with fetch() and shows what
 * happens without leaving the page. Without this script the same forms still work as plain posts.
 */
(function () {
  "use strict";

  /* The words through Django's JavaScript catalog ({% noojee_assets %} loads it first); without it,
     the English they are written in. */
  var gettext = window.gettext || function (text) { return text; };
  var interpolate =
    window.interpolate ||
    function (format, values) {
      return format.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
    };
  /* gettext("... %(name)s ...") with its names filled in (gettext written out, for makemessages). */
  function fill(text, values) {
    return interpolate(text, values, true);
  }

  var POLL_INTERVAL_MS = 1000;
  /* A recording after Stop waits for the call to end, then for the PBX: followed less often. */
  var RECORDING_POLL_MS = 2000;
  /* Only for an answer without status_words (the server writes the words: noojee_django/states.py). */
  var LABELS = {
    queued: gettext("Placing the call"),
    dialing: gettext("Ringing your phone"),
    ringing: gettext("Ringing"),
    connected: gettext("On the call"),
    hungup: gettext("Call ended"),
    failed: gettext("Call not connected"),
    placed: gettext("Call placed: this PBX does not tell the CRM when it is answered or ends")
  };
  var pollTimer = null;
  var followedRecordings = {};

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
          return {
            error:
              response.status === 403
                ? gettext("Your session expired: reload the page.")
                : fill(gettext("The server answered HTTP %(status)s."), { status: response.status })
          };
        })
        .then(function (data) {
          if (!response.ok) {
            var error = new Error(
              data.error || data.detail || fill(gettext("The request failed (HTTP %(status)s)."), { status: response.status })
            );
            error.status = response.status;
            throw error;
          }
          return data;
        });
    });
  }

  function say(container, text, isError) {
    var region =
      container &&
      (container.querySelector(":scope > .noojee-message") || container.querySelector(".noojee-message"));
    if (!region) region = statusArea().querySelector(".noojee-message");
    if (!region) return;
    region.textContent = text || "";
    region.classList.toggle("noojee-error", Boolean(isError));
    region.setAttribute("role", isError ? "alert" : "status");
  }

  /* ---------------------------------------------------------------- the call bar: every live call */

  /* How long an ended call stays in the bar, saying so, before it goes. */
  var ENDED_CALL_SHOWN_MS = 8000;
  var callPollers = {};

  function statusArea() {
    var area = document.querySelector("[data-noojee-call-status]");
    if (area) return area;
    area = document.createElement("div");
    area.className = "noojee-call-status";
    area.setAttribute("data-noojee-call-status", "");
    area.hidden = true;
    area.innerHTML =
      '<ul class="noojee-calls" aria-live="polite"></ul>' + '<span class="noojee-message" role="alert"></span>';
    area.querySelector(".noojee-calls").setAttribute("aria-label", gettext("Your calls"));
    document.body.insertBefore(area, document.body.firstChild);
    return area;
  }

  function callList() {
    var area = statusArea();
    var list = area.querySelector(".noojee-calls");
    if (!list) {
      list = document.createElement("ul");
      list.className = "noojee-calls";
      area.insertBefore(list, area.firstChild);
    }
    return list;
  }

  /* The same markup as includes/call_item.html, for a call placed on this page. */
  function callItem(call) {
    var item = document.createElement("li");
    item.className = "noojee-call";
    item.setAttribute("data-noojee-call", String(call.id));
    var text = document.createElement("span");
    text.className = "noojee-call-text";
    var form = document.createElement("form");
    form.className = "noojee-hangup";
    form.method = "post";
    form.setAttribute("data-noojee", "hangup");
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = csrfToken(document.querySelector("form[data-noojee]"));
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "noojee-button noojee-hangup-button";
    button.textContent = gettext("Hang up");
    form.appendChild(token);
    form.appendChild(button);
    var message = document.createElement("span");
    message.className = "noojee-message";
    message.setAttribute("role", "status");
    item.appendChild(text);
    item.appendChild(form);
    item.appendChild(message);
    return item;
  }

  function itemOf(call) {
    var item = statusArea().querySelector('[data-noojee-call="' + call.id + '"]');
    if (!item) {
      item = callItem(call);
      callList().appendChild(item);
    }
    return item;
  }

  function showCall(call, message) {
    var area = statusArea();
    var item = itemOf(call);
    var number = call.number_display || call.number;
    var label = call.status_words || LABELS[call.status] || call.status_display || call.status;
    area.hidden = false;
    item.setAttribute("data-call-state", call.status);
    if (call.status_url) item.setAttribute("data-status-url", call.status_url);
    item.querySelector(".noojee-call-text").textContent = label + ": " + number;
    var hangup = item.querySelector("form[data-noojee=hangup]");
    if (hangup) {
      if (call.hangup_url) hangup.action = call.hangup_url;
      hangup.hidden = !call.is_active;
      var button = hangup.querySelector("button");
      if (button) button.setAttribute("aria-label", fill(gettext("Hang up the call to %(number)s"), { number: number }));
    }
    /* One message per call: the dial's "pick up your phone" until the call is answered, then none. */
    var region = item.querySelector(".noojee-message");
    if (message !== undefined) region.textContent = message;
    else if (call.status === "connected" || !call.is_active) region.textContent = "";
    if (!call.is_active) {
      window.setTimeout(function () {
        item.remove();
        if (!area.querySelector("[data-noojee-call]")) area.hidden = true;
      }, ENDED_CALL_SHOWN_MS);
    }
  }

  function stopPolling(callId) {
    if (callPollers[callId] !== undefined) window.clearTimeout(callPollers[callId]);
    delete callPollers[callId];
  }

  function pollCall(callId, url, now) {
    stopPolling(callId);
    function tick() {
      request(url)
        .then(function (call) {
          showCall(call);
          if (call.is_active) callPollers[callId] = window.setTimeout(tick, POLL_INTERVAL_MS);
          else delete callPollers[callId];
        })
        .catch(function (error) {
          var item = statusArea().querySelector('[data-noojee-call="' + callId + '"]');
          say(item || statusArea(), fill(gettext("Lost track of the call: %(error)s"), { error: error.message }), true);
          delete callPollers[callId];
        });
    }
    callPollers[callId] = window.setTimeout(tick, now ? 0 : POLL_INTERVAL_MS);
  }

  /* ---------------------------------------------------------------- recordings, followed until final */

  function sameRecord(element, record) {
    return (
      Boolean(record) &&
      element.getAttribute("data-content-type") === record.contentType &&
      element.getAttribute("data-object-id") === record.objectId
    );
  }

  /* The recording's card (server-rendered: the player and legs picture once attached) put where the
     page shows it, or added at the top of the record's recordings section. */
  function placeCard(recording, record) {
    var holder = document.createElement("template");
    holder.innerHTML = recording.card.trim();
    var card = holder.content.firstElementChild;
    if (!card) return;
    var shown = document.querySelectorAll('[data-noojee-recording="' + recording.id + '"]');
    if (shown.length) {
      shown.forEach(function (old) {
        if (old.className !== card.className) old.replaceWith(card.cloneNode(true));
      });
      return;
    }
    document.querySelectorAll("[data-noojee-recordings]").forEach(function (section) {
      if (!sameRecord(section, record)) return;
      var none = section.querySelector(".noojee-no-recordings");
      if (none) none.remove();
      section.insertBefore(card.cloneNode(true), section.firstChild);
    });
  }

  /* The script the agent reads while recording: shown with the Stop button, hidden with it. */
  function showScript(widget, shown) {
    var script = widget && widget.querySelector("[data-noojee=record-script]");
    if (script) script.hidden = !shown;
  }

  /* ---------------------------------------------------------------- secure pause: its controls and countdown */

  /* Announced once, then left to the timer (role=timer is not read out every second). */
  var PAUSE_WARNING_SECONDS = 10;

  function minutesAndSeconds(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function stopCountdown(widget) {
    var timer = widget.noojeeCountdown;
    if (timer) window.clearInterval(timer);
    widget.noojeeCountdown = null;
    var shown = widget.querySelector(".noojee-countdown");
    if (shown) shown.textContent = "";
  }

  /* Counts down to the automatic resume from the server's "seconds left", on this page's own clock. */
  function startCountdown(widget, seconds) {
    var shown = widget.querySelector(".noojee-countdown");
    if (!shown || seconds === null || seconds === undefined) return;
    var deadline = Date.now() + Number(seconds) * 1000;
    var warned = Number(seconds) <= PAUSE_WARNING_SECONDS;
    if (widget.noojeeCountdown) window.clearInterval(widget.noojeeCountdown);
    function tick() {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      shown.setAttribute("data-resume-in", String(left));
      shown.textContent = left
        ? fill(gettext("Resumes by itself in %(time)s"), { time: minutesAndSeconds(left) })
        : gettext("Resuming the recording…");
      if (!warned && left <= PAUSE_WARNING_SECONDS) {
        warned = true;
        say(widget, fill(gettext("The recording resumes by itself in %(seconds)s seconds."), { seconds: left }), false);
      }
      if (!left) {
        window.clearInterval(widget.noojeeCountdown);
        widget.noojeeCountdown = null;
      }
    }
    tick();
    widget.noojeeCountdown = window.setInterval(tick, 1000);
  }

  /* Which of start, pause, resume and stop the widget offers, for a recording in this state. */
  function showLiveControls(widget, recording) {
    var live = Boolean(recording.is_recording || recording.is_paused);
    var forms = {};
    ["record-start", "record-pause", "record-resume", "record-stop"].forEach(function (kind) {
      forms[kind] = widget.querySelector("form[data-noojee=" + kind + "]");
    });
    if (forms["record-pause"] && recording.pause_url) forms["record-pause"].action = recording.pause_url;
    if (forms["record-resume"] && recording.resume_url) forms["record-resume"].action = recording.resume_url;
    if (forms["record-stop"] && recording.stop_url && live) forms["record-stop"].action = recording.stop_url;
    if (forms["record-pause"]) forms["record-pause"].hidden = !recording.is_recording;
    if (forms["record-resume"]) forms["record-resume"].hidden = !recording.is_paused;
    if (recording.is_paused) {
      widget.setAttribute("data-paused", "");
      if (!widget.noojeeCountdown || recording.resume_in !== undefined) startCountdown(widget, recording.resume_in);
    } else {
      widget.removeAttribute("data-paused");
      stopCountdown(widget);
    }
  }

  function showRecording(recording, record) {
    document.querySelectorAll("[data-noojee-record]").forEach(function (widget) {
      if (widget.getAttribute("data-status-url") !== recording.status_url) return;
      var wasPaused = widget.hasAttribute("data-paused");
      showLiveControls(widget, recording);
      if (recording.is_recording && wasPaused) {
        say(widget, fill(gettext("%(tag)s: %(status)s."), { tag: recording.tag, status: recording.status_words }), false);
      }
      if (!recording.is_recording && !recording.is_paused) {
        var stop = widget.querySelector("form[data-noojee=record-stop]");
        var start = widget.querySelector("form[data-noojee=record-start]");
        if (stop && start && !stop.hidden) {
          stop.hidden = true;
          start.hidden = false;
          widget.removeAttribute("data-recording");
          showScript(widget, false);
        }
        var text = fill(gettext("%(tag)s: %(status)s."), { tag: recording.tag, status: recording.status_words });
        say(widget, text, recording.status === "failed");
      }
      if (recording.is_final) widget.removeAttribute("data-status-url");
    });
    if (recording.card) placeCard(recording, record);
  }

  /* Ask where a recording is until it is attached, absent or failed (the same polling as the call's). */
  function followRecording(url, record) {
    if (!url || followedRecordings[url]) return;
    followedRecordings[url] = true;
    function tick() {
      request(url)
        .then(function (recording) {
          showRecording(recording, record);
          if (recording.is_final) delete followedRecordings[url];
          else window.setTimeout(tick, RECORDING_POLL_MS);
        })
        .catch(function () {
          delete followedRecordings[url]; /* a reload follows it again */
        });
    }
    window.setTimeout(tick, RECORDING_POLL_MS);
  }

  function recordOf(element) {
    return {
      contentType: element.getAttribute("data-content-type"),
      objectId: element.getAttribute("data-object-id")
    };
  }

  /* ---------------------------------------------------------------- what each form does on success */

  var handlers = {
    dial: function (form, data) {
      say(form, "", false);
      showCall(data, data.message);
      if (data.is_active) pollCall(data.id, data.status_url);
    },
    hangup: function (form, data) {
      stopPolling(data.id);
      showCall(data, "");
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
        showScript(widget, true);
        var button = stop.querySelector("button");
        if (button) button.focus();
      }
      say(widget || form, data.message, false);
      if (widget) {
        widget.setAttribute("data-status-url", data.status_url);
        showLiveControls(widget, data);
        showRecording(data, recordOf(widget));
        followRecording(data.status_url, recordOf(widget));
      }
    },
    "record-pause": function (form, data) {
      var widget = form.closest("[data-noojee-record]");
      if (widget) {
        showLiveControls(widget, data);
        var resume = widget.querySelector("form[data-noojee=record-resume] button");
        if (resume && data.is_paused) resume.focus();
      }
      say(widget || form, data.message, false);
    },
    "record-resume": function (form, data) {
      var widget = form.closest("[data-noojee-record]");
      if (widget) {
        showLiveControls(widget, data);
        var pause = widget.querySelector("form[data-noojee=record-pause] button");
        if (pause && data.is_recording) pause.focus();
      }
      say(widget || form, data.message, false);
    },
    "record-stop": function (form, data) {
      var widget = form.closest("[data-noojee-record]");
      if (widget) showLiveControls(widget, data);
      var start = widget && widget.querySelector("form[data-noojee=record-start]");
      if (start) {
        start.hidden = false;
        form.hidden = true;
        widget.removeAttribute("data-recording");
        showScript(widget, false);
        var consent = start.querySelector("input[name=consent]");
        if (consent) consent.checked = false;
        /* The Stop button is gone: a keyboard user goes on from the record controls, not the page top. */
        var next = consent || start.querySelector("button");
        if (next) next.focus();
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
        var text = error instanceof TypeError ? gettext("The server could not be reached.") : error.message;
        say(kind === "hangup" ? form.closest("[data-noojee-call]") || statusArea() : container, text, true);
      })
      .then(function () {
        form.removeAttribute("aria-busy");
        buttons.forEach(function (button) { button.disabled = false; });
      });
  });

  function start() {
    /* The calls the page was rendered with: asked at once, so a reload shows the state of now. */
    document.querySelectorAll("[data-noojee-call][data-status-url]").forEach(function (item) {
      pollCall(item.getAttribute("data-noojee-call"), item.getAttribute("data-status-url"), true);
    });
    document.querySelectorAll("[data-noojee-record][data-status-url]").forEach(function (widget) {
      var countdown = widget.querySelector(".noojee-countdown[data-resume-in]");
      if (countdown) {
        widget.setAttribute("data-paused", "");
        startCountdown(widget, countdown.getAttribute("data-resume-in"));
      }
      followRecording(widget.getAttribute("data-status-url"), recordOf(widget));
    });
    document.querySelectorAll("[data-noojee-recording][data-status-url]").forEach(function (card) {
      var section = card.closest("[data-noojee-recordings]");
      followRecording(card.getAttribute("data-status-url"), section ? recordOf(section) : null);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
