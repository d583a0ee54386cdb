/* The interactive API documentation: Swagger UI over the app's schema. No inline script, so a
   Content-Security-Policy without 'unsafe-inline' serves it. "Try it out" runs as the logged-in user:
   the session cookie goes with same-origin requests, and the CSRF token with every one. */
(function () {
  "use strict";
  var script = document.currentScript;
  var token = script.dataset.csrfToken;
  window.SwaggerUIBundle({
    url: script.dataset.schemaUrl,
    dom_id: "#noojee-api-docs",
    /* Deep links put a link inside each operation's toggle button: a control inside a control, which
       keyboards and screen readers cannot tell apart (axe-core: nested-interactive). */
    deepLinking: false,
    /* The examples as plain text: the highlighter's colours on its dark background fail WCAG AA. */
    syntaxHighlight: { activated: false },
    requestInterceptor: function (request) {
      request.headers["X-CSRFToken"] = token;
      return request;
    },
  });
})();
