// explorer.mjs drives headless Chromium through the API explorer of a
// running channelstream-go node: it signs in as admin, opens /api-explorer
// (Swagger UI on /openapi.json), makes one signed call with "Try it out"
// (GET /info), and checks that the secret never reached the browser and
// that the page needs nothing its Content-Security-Policy blocks. It is run
// by cmd/channelstream/explorer_browser_test.go:
//
//	CS_EXPLORER_CONFIG='{"baseURL": ..., ...}' node web/test/explorer.mjs
//
// The configuration: baseURL, user, password (admin_user, admin_secret),
// secret (the API secret, which no answer may contain), screenshot (a PNG
// path), timeoutMs. It prints one JSON object on stdout: {ok, problems,
// steps, browser, elapsedMs, console} and exits 0 when ok, 1 with
// problems, 2 on a crash or timeout.
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT_MS = 20000;

function emit(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

function recordCSPViolations() {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
  });
}

async function main() {
  const cfg = JSON.parse(process.env.CS_EXPLORER_CONFIG || process.argv[2]);
  const started = Date.now();
  const problems = [];
  const steps = [];
  const consoleLines = [];
  let browser = null;
  const timer = setTimeout(() => {
    emit({ ok: false, problems: [`timed out after ${cfg.timeoutMs} ms`], steps, console: consoleLines }, 2);
  }, cfg.timeoutMs);
  const check = (cond, what) => {
    if (!cond) problems.push(what);
    return cond;
  };
  const step = (s) => steps.push(`${Date.now() - started} ms: ${s}`);

  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    await context.addInitScript(recordCSPViolations);
    const page = await context.newPage();
    page.on('console', (m) => consoleLines.length < 100 && consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // Every answer the browser gets: none may carry the secret.
    const bodies = [];
    page.on('response', async (r) => {
      if (r.status() >= 400) problems.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
      if (r.url().startsWith(cfg.baseURL) && !r.url().endsWith('.js') && !r.url().endsWith('.css')) {
        try {
          bodies.push({ url: r.url(), text: await r.text() });
        } catch (e) {
          // a redirect has no body
        }
      }
    });

    await page.goto(cfg.baseURL + '/api-explorer');
    check(new URL(page.url()).pathname === '/admin/sign_in', `GET /api-explorer without a session ended on ${page.url()}`);
    await page.fill('input[name=username]', cfg.user);
    await page.fill('input[name=password]', cfg.password);
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin', { timeout: WAIT_MS }), page.click('button[type=submit]')]);
    step('signed in');

    await page.goto(cfg.baseURL + '/api-explorer');
    await page.waitForSelector('.swagger-ui .info .title', { timeout: WAIT_MS });
    const title = await page.textContent('.swagger-ui .info .title');
    check(/channelstream-go API/.test(title), `title ${JSON.stringify(title)}`);
    await page.waitForFunction(() => document.getElementById('signing').dataset.state === 'session', null, { timeout: WAIT_MS });
    step('explorer rendered: ' + title.replace(/\s+/g, ' ').trim());

    // One call: GET /info through "Try it out" (on by default), signed by
    // a token the page asked the server for.
    const op = page.locator('#operations-API-infoDefaults');
    await op.locator('.opblock-summary').first().click();
    const tokenAsked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api-explorer/token', { timeout: WAIT_MS });
    const called = page.waitForRequest((r) => new URL(r.url()).pathname === '/info', { timeout: WAIT_MS });
    await op.locator('button.execute').click();
    const [tokenResp, req] = await Promise.all([tokenAsked, called]);
    check(tokenResp.status() === 200, `POST /api-explorer/token: ${tokenResp.status()}`);
    const sent = (await req.allHeaders())['x-channelstream-secret'] || '';
    check(sent.split('.').length === 3, `GET /info carried x-channelstream-secret ${JSON.stringify(sent)}`);
    const resp = await req.response();
    check(resp && resp.status() === 200, `GET /info: ${resp && resp.status()}`);
    await op.locator('.live-responses-table tbody .response-col_status').first().waitFor({ timeout: WAIT_MS });
    const shown = await op.locator('.live-responses-table tbody .response-col_status').first().textContent();
    check(shown.trim() === '200', `the explorer shows status ${JSON.stringify(shown)}`);
    const shownBody = await op.locator('.live-responses-table tbody .response-col_description').first().textContent();
    check(shownBody.includes('"channels"') && shownBody.includes('news'), `the explorer shows ${shownBody.slice(0, 200)}`);
    step('GET /info answered 200 in the explorer');

    await page.screenshot({ path: cfg.screenshot, fullPage: false });
    const v = await page.evaluate(() => window.__cspViolations || []);
    check(v.length === 0, `CSP violations ${JSON.stringify(v)}`);
    for (const b of bodies) check(!b.text.includes(cfg.secret), `the secret reached the browser in ${b.url}`);
    check(bodies.length >= 3, `only ${bodies.length} answers were recorded`);
    step(`${bodies.length} answers checked for the secret`);

    clearTimeout(timer);
    const result = { ok: problems.length === 0, problems, steps, browser: browser.version(), elapsedMs: Date.now() - started, console: consoleLines };
    await browser.close();
    emit(result, result.ok ? 0 : 1);
  } catch (e) {
    clearTimeout(timer);
    if (browser) await browser.close().catch(() => {});
    emit({ ok: false, problems: [...problems, `crash: ${e && e.stack ? e.stack : e}`], steps, console: consoleLines }, 2);
  }
}

main();
