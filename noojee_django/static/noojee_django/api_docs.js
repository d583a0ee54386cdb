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
    deepLinking: true,
    requestInterceptor: function (request) {
      request.headers["X-CSRFToken"] = token;
      return request;
    },
  });
})();
