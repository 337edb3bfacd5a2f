// clientlib.mjs drives headless Chromium for the client library's tests
// (cmd/channelstream/clientlib_test.go). The Go test owns the node, the
// pages' origin and every check; this script is a remote control:
//
//	node web/test/clientlib.mjs
//
// It reads one JSON command per line on stdin and answers each with one
// JSON line on stdout, {"id": n, "ok": true, "value": ...} or {"id": n,
// "ok": false, "error": "..."}. Other lines are events: {"event": "ready",
// "browser": version} once Chromium runs, {"event": "console", "page", "text"}
// for the pages' console and errors. Commands (all pages share one browser
// context, so they share BroadcastChannel and Web Locks like tabs):
//
//	{"id", "cmd": "open", "page", "url"}              new page, loaded
//	{"id", "cmd": "eval", "page", "js"}               evaluates the expression (awaits a promise), returns its JSON value
//	{"id", "cmd": "wait", "page", "js", "timeoutMs"}  waits until the expression is truthy, returns its value
//	{"id", "cmd": "screenshot", "page", "path"}       full-page PNG
//	{"id", "cmd": "close", "page"}                    closes the page (as closing its tab)
//	{"id", "cmd": "quit"}                             closes the browser and exits 0
//
// It exits when stdin closes.
import { createInterface } from 'node:readline';
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

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true });
const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
const pages = new Map();

function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page ${name}`);
  return p;
}

async function run(c) {
  switch (c.cmd) {
    case 'open': {
      const p = await context.newPage();
      p.on('console', (m) => out({ event: 'console', page: c.page, text: `${m.type()}: ${m.text()}` }));
      p.on('pageerror', (e) => out({ event: 'console', page: c.page, text: `pageerror: ${e.message}` }));
      pages.set(c.page, p);
      await p.goto(c.url, { waitUntil: 'load' });
      return null;
    }
    case 'eval':
      return await page(c.page).evaluate(c.js);
    case 'wait': {
      const h = await page(c.page).waitForFunction(c.js, null, { timeout: c.timeoutMs || 10000, polling: 50 });
      return await h.jsonValue();
    }
    case 'screenshot':
      await page(c.page).screenshot({ path: c.path, fullPage: true });
      return null;
    case 'close':
      await page(c.page).close({ runBeforeUnload: false });
      pages.delete(c.page);
      return null;
    case 'quit':
      await browser.close();
      out({ id: c.id, ok: true, value: null });
      process.exit(0);
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

out({ event: 'ready', browser: browser.version() });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    out({ event: 'console', page: '', text: `bad command: ${line}` });
    return;
  }
  run(c).then(
    (value) => out({ id: c.id, ok: true, value: value === undefined ? null : value }),
    (err) => out({ id: c.id, ok: false, error: String(err && err.message ? err.message : err) }),
  );
});
rl.on('close', async () => {
  await browser.close().catch(() => {});
  process.exit(0);
});
