// admin.mjs drives headless Chromium through the admin pages of a running
// channelstream-go node: the redirect to sign in, a refused password, the
// sign-in, the live dashboard (totals, transports, chart, tables) and the
// sign-out. It is run by cmd/channelstream/admin_browser_test.go, which owns
// the node and its connections:
//
//	CS_ADMIN_CONFIG='{"baseURL": ..., ...}' node web/test/admin.mjs
//
// (the JSON may also be the first argument). The configuration:
//
//	baseURL      the node, e.g. http://127.0.0.1:8000
//	controlURL   POST: the Go test adds a connection and publishes messages over a few
//	             seconds, then answers the totals the dashboard must show
//	user         admin_user
//	password     admin_secret
//	initial      what the dashboard must show first: {users, connections, channels,
//	             transports: {websocket, sse, longpoll}}
//	screenshot   where to save a PNG of the dashboard
//	signInScreenshot  (optional) where to save a PNG of the refused sign-in
//	timeoutMs    the whole run's deadline
//
// It prints one JSON object on stdout: {ok, problems, steps, browser,
// elapsedMs, console} and exits 0 when ok, 1 with problems, 2 on a crash or
// timeout.
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const WAIT_MS = 15000; // for one thing to show up on the page

function readConfig() {
  const raw = process.env.CS_ADMIN_CONFIG || process.argv[2];
  if (!raw) throw new Error('no configuration: set CS_ADMIN_CONFIG or pass the JSON as the first argument');
  return JSON.parse(raw);
}

function emit(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

// Recorded in the page before any script runs: Content-Security-Policy
// violations, which would mean the page relies on something its policy
// blocks.
function recordCSPViolations() {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
  });
}

// dashboardText reads what the dashboard shows, for the checks and for
// failure messages.
function dashboardText() {
  const text = (id) => (document.getElementById(id) || {}).textContent || '';
  const chart = document.getElementById('chart');
  return {
    users: text('stat-users'),
    remembered: text('stat-remembered'),
    connections: text('stat-connections'),
    detached: text('stat-detached'),
    channels: text('stat-channels'),
    messages: text('stat-messages'),
    unique: text('stat-unique'),
    uptime: text('stat-uptime'),
    version: text('version'),
    status: text('status'),
    websocket: text('transport-websocket'),
    sse: text('transport-sse'),
    longpoll: text('transport-longpoll'),
    chartPoints: Number(chart.dataset.points || 0),
    chartMaxRate: Number(chart.dataset.maxRate || 0),
    channelRows: [...document.querySelectorAll('#channels tbody tr')].map((tr) => tr.innerText.replace(/\s+/g, ' ')),
    userRows: [...document.querySelectorAll('#users tbody tr')].map((tr) => tr.innerText.replace(/\s+/g, ' ')),
  };
}

// chartInk counts the painted pixels of the chart's canvas, and those in
// the delivered series' colour.
function chartInk() {
  const canvas = document.querySelector('#chart canvas');
  if (!canvas) return { width: 0, height: 0, painted: 0, series: 0 };
  const ctx = canvas.getContext('2d');
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const accent = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim();
  const want = [1, 3, 5].map((i) => parseInt(accent.slice(i, i + 2), 16));
  let painted = 0;
  let series = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    painted++;
    if (data[i + 3] > 200 && want.every((c, k) => Math.abs(data[i + k] - c) < 24)) series++;
  }
  return { width: canvas.width, height: canvas.height, painted, series };
}

async function main() {
  const cfg = readConfig();
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
    page.on('response', (r) => r.status() >= 400 && problems.push(`${r.request().method()} ${r.url()}: ${r.status()}`));
    const path = () => new URL(page.url()).pathname;
    const authCookie = async () => (await context.cookies(cfg.baseURL)).find((c) => c.name === 'auth_tkt');
    const cspViolations = async (where) => {
      const v = await page.evaluate(() => window.__cspViolations || []);
      check(v.length === 0, `${where}: CSP violations ${JSON.stringify(v)}`);
    };

    // 1. Not signed in: /admin sends the browser to the sign-in form.
    await page.goto(cfg.baseURL + '/admin');
    check(path() === '/admin/sign_in', `GET /admin without a cookie ended on ${page.url()}, want /admin/sign_in`);
    check(await page.isVisible('form input[name=password]'), 'the sign-in page shows no password field');
    const styled = await page.evaluate(() => getComputedStyle(document.querySelector('main')).borderRadius);
    check(styled === '10px', `the sign-in page's inline style did not apply (border-radius ${styled})`);
    await cspViolations('sign-in page');
    step('redirected to the sign-in form');

    // 2. A wrong password is refused after about half a second.
    await page.fill('input[name=username]', cfg.user);
    await page.fill('input[name=password]', 'not-the-password');
    const t0 = Date.now();
    await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/admin/sign_in' && r.request().method() === 'POST'),
      page.click('button[type=submit]'),
    ]);
    const refusedAfter = Date.now() - t0;
    await page.waitForSelector('.error', { timeout: WAIT_MS });
    check(path() === '/admin/sign_in', `after a wrong password the page is ${page.url()}`);
    check(refusedAfter >= 450, `a wrong password was refused after ${refusedAfter} ms, want about 500`);
    check(/wrong username or password/i.test(await page.textContent('.error')), 'no error message after a wrong password');
    check(!(await authCookie()), 'a wrong password set the auth_tkt cookie');
    check((await page.inputValue('input[name=username]')) === cfg.user, 'the username was not kept in the form');
    if (cfg.signInScreenshot) await page.screenshot({ path: cfg.signInScreenshot });
    step(`wrong password refused after ${refusedAfter} ms`);

    // 3. The right password signs in and lands on the dashboard.
    await page.fill('input[name=password]', cfg.password);
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin', { timeout: WAIT_MS }), page.click('button[type=submit]')]);
    const cookie = await authCookie();
    if (check(!!cookie, 'signing in set no auth_tkt cookie')) {
      check(cookie.httpOnly, 'auth_tkt is not HttpOnly');
      check(cookie.sameSite === 'Strict', `auth_tkt SameSite ${cookie.sameSite}`);
      check(cookie.path === '/', `auth_tkt path ${cookie.path}`);
      const days = (cookie.expires - Date.now() / 1000) / 86400;
      check(days > 0.49 && days <= 0.501, `auth_tkt lasts ${days.toFixed(2)} days, want 0.5 (admin_session 12 h)`);
    }
    step('signed in');

    // 4. The dashboard shows the node's state as it is now.
    const want = cfg.initial;
    try {
      await page.waitForFunction(
        (w) =>
          document.getElementById('stat-users').textContent === String(w.users) &&
          document.getElementById('stat-connections').textContent === String(w.connections) &&
          document.getElementById('stat-channels').textContent === String(w.channels) &&
          document.getElementById('transport-websocket').textContent === String(w.transports.websocket) &&
          document.getElementById('transport-sse').textContent === String(w.transports.sse) &&
          document.getElementById('transport-longpoll').textContent === String(w.transports.longpoll),
        want,
        { timeout: WAIT_MS },
      );
      step(`initial counts shown: ${JSON.stringify(await page.evaluate(dashboardText))}`);
    } catch (e) {
      problems.push(`initial counts ${JSON.stringify(want)} never shown; the page shows ${JSON.stringify(await page.evaluate(dashboardText))}`);
    }

    // 5. The Go test connects someone and publishes; the page catches up.
    const res = await fetch(cfg.controlURL, { method: 'POST' });
    if (!res.ok) throw new Error(`control: ${res.status} ${await res.text()}`);
    const grown = await res.json();
    step(`published: ${JSON.stringify(grown)}`);
    try {
      await page.waitForFunction(
        (w) => {
          const digits = (id) => document.getElementById(id).textContent.replace(/,/g, '');
          const chart = document.getElementById('chart');
          return (
            document.getElementById('stat-users').textContent === String(w.users) &&
            document.getElementById('stat-connections').textContent === String(w.connections) &&
            document.getElementById('stat-detached').textContent === String(w.detached) &&
            document.getElementById('transport-none').textContent === String(w.detached) &&
            digits('stat-messages') === String(w.messages) &&
            digits('stat-unique') === String(w.unique) &&
            Number(chart.dataset.points || 0) >= 3 &&
            Number(chart.dataset.maxRate || 0) > 0
          );
        },
        grown,
        { timeout: WAIT_MS },
      );
      step('live counts and chart shown');
    } catch (e) {
      problems.push(`counts ${JSON.stringify(grown)} never shown; the page shows ${JSON.stringify(await page.evaluate(dashboardText))}`);
    }
    // Two more polls, so that the chart also shows the rate falling back.
    await page.waitForTimeout(4200);
    const shown = await page.evaluate(dashboardText);
    const ink = await page.evaluate(chartInk);
    step(`chart canvas ${JSON.stringify(ink)}`);
    check(ink.width >= 300 && ink.height >= 150, `chart canvas is ${ink.width}x${ink.height}`);
    check(ink.painted > 1000, `chart canvas has only ${ink.painted} painted pixels`);
    check(ink.series > 50, `the messages-per-second line is not drawn (${ink.series} pixels in its colour)`);
    const news = shown.channelRows.find((r) => r.startsWith(cfg.channel + ' '));
    check(!!news, `no row for channel ${cfg.channel}: ${JSON.stringify(shown.channelRows)}`);
    if (news) {
      for (const s of cfg.channelShows) check(news.includes(s), `channel row "${news}" lacks "${s}"`);
    }
    const alice = shown.userRows.find((r) => r.startsWith(cfg.stateUser + ' '));
    check(!!alice, `no row for user ${cfg.stateUser}: ${JSON.stringify(shown.userRows)}`);
    if (alice) {
      check(alice.includes(cfg.publicState), `user row "${alice}" lacks its public state ${cfg.publicState}`);
      check(!alice.includes(cfg.privateKey), `user row "${alice}" shows the private key ${cfg.privateKey}`);
    }
    check(shown.status.startsWith('live'), `status "${shown.status}"`);
    check(shown.version === cfg.version, `version "${shown.version}", want ${cfg.version}`);
    await cspViolations('dashboard');
    await page.screenshot({ path: cfg.screenshot, fullPage: true });
    step(`screenshot ${cfg.screenshot}`);

    // 6. The sign-out link opens the sign-out page (a GET signs nobody
    // out); its button posts the sign-out, which expires the cookie and
    // revokes the session; /admin asks to sign in again, also with the
    // old cookie put back.
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin/sign_out', { timeout: WAIT_MS }), page.click('#sign-out')]);
    check(!!(await authCookie()), 'the sign-out page alone signed out');
    await cspViolations('sign-out page');
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin/sign_in', { timeout: WAIT_MS }), page.click('button[type=submit]')]);
    check(!(await authCookie()), 'auth_tkt survived signing out');
    await context.addCookies([cookie]);
    await page.goto(cfg.baseURL + '/admin');
    check(path() === '/admin/sign_in', `with the signed-out cookie put back GET /admin ended on ${page.url()}`);
    await context.clearCookies();
    await page.goto(cfg.baseURL + '/admin');
    check(path() === '/admin/sign_in', `after signing out GET /admin ended on ${page.url()}`);
    step('signed out');

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
