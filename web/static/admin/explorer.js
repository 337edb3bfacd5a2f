// channelstream API explorer: Swagger UI (vendor/swagger-ui) on the
// server's /openapi.json.
//
// "Try it out" calls are signed without the secret ever reaching the
// browser: before each call to this origin the page asks the server for a
// fresh token (POST api-explorer/token, same origin, admin session cookie)
// and sends it as x-channelstream-secret. Without an admin session (the
// page was opened with an API signature) the server refuses, and the
// operator pastes a token into Swagger UI's "Authorize" dialog instead
// (e.g. from `channelstream sign` or itsdangerous). API calls come from the
// browser, so its address must be in allow_posting_from.
(function () {
  'use strict';

  // Relative to the page at /api-explorer; a page opened with ?secret=TOKEN
  // passes it on.
  const DOC_URL = 'openapi.json' + location.search;
  const TOKEN_URL = 'api-explorer/token';
  const HEADER = 'x-channelstream-secret';

  const status = document.getElementById('signing');
  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  // token asks the server to sign; null when it will not (no admin session).
  async function token() {
    const r = await fetch(TOKEN_URL, { method: 'POST', credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) return null;
    const body = await r.json();
    return typeof body.token === 'string' ? body.token : null;
  }

  function sameOrigin(url) {
    try {
      return new URL(url, document.baseURI).origin === location.origin;
    } catch (e) {
      return false;
    }
  }

  async function sign(req) {
    if (!sameOrigin(req.url) || new URL(req.url, document.baseURI).pathname.endsWith('/openapi.json') || req.url.endsWith(TOKEN_URL)) return req;
    if (req.headers[HEADER]) return req; // a pasted token wins
    const t = await token();
    if (t) {
      req.headers[HEADER] = t;
      show('session', 'calls signed by the server for your admin session');
    } else {
      show('paste', 'no admin session: paste a token under Authorize');
    }
    return req;
  }

  token().then(
    (t) => show(t ? 'session' : 'paste', t ? 'calls signed by the server for your admin session' : 'no admin session: paste a token under Authorize'),
    () => show('paste', 'could not reach the server'),
  );

  window.ui = window.SwaggerUIBundle({
    url: DOC_URL,
    dom_id: '#swagger-ui',
    deepLinking: false,
    tryItOutEnabled: true,
    validatorUrl: null, // never send the document to swagger.io
    requestInterceptor: sign,
  });
})();
