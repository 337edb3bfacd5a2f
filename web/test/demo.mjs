// demo.mjs drives the demo chat (/demo) in headless Chromium: two browser
// contexts (two people) chat through it on each transport in turn and each
// checks it sees the other's messages, edits, deletes, presence and colour
// changes, and private messages.
//
// It is run by cmd/channelstream/demo_browser_test.go, which owns the node:
//
//	CS_DEMO_CONFIG='{"url": "http://127.0.0.1:port", ...}' node web/test/demo.mjs
//
// (the JSON may also be the first argument). The configuration:
//
//	url         the node, with the demo on (demo = true)
//	transports  the transports to run, in order: websocket, sse, longpoll
//	outDir      where the screenshots go (demo-<transport>.png)
//	timeoutMs   the whole run's deadline
//	waitMs      how long one expectation may take to come true (default 10000)
//
// It prints one JSON object on stdout: {ok, problems, browser, elapsedMs,
// runs: {transport: {steps, screenshot, elapsedMs, error}}, console} and
// exits 0 when ok, 1 when a run failed, 2 on a crash or timeout.
import { chromium } from 'playwright-core';
import path from 'node:path';

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
const TRANSPORTS = ['websocket', 'sse', 'longpoll'];
const COLORS = { alice: '#e05260', bob: '#1fae6b', bobLater: '#9b51e0' };

function readConfig() {
  const raw = process.env.CS_DEMO_CONFIG || process.argv[2];
  if (!raw) {
    throw new Error('no configuration: set CS_DEMO_CONFIG or pass the JSON as the first argument');
  }
  return JSON.parse(raw);
}

function emit(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

// person opens the demo in a new browser context and signs in.
async function person(browser, cfg, log, who, name, color, transport) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(cfg.waitMs);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.push(`${name} ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.push(`${name} PAGE ERROR: ${e.message}`));
  await page.goto(cfg.url + '/demo');
  await page.fill('#login-name', name);
  await page.click(`#login-swatches .swatch[data-color="${color}"]`);
  await page.click(`#login-transport button[data-transport="${transport}"]`);
  await page.click('#login-join');
  await live(page, transport);
  return { who, name, page, context };
}

// live waits until the page listens on transport.
async function live(page, transport) {
  await page.waitForSelector(`#live[data-state="live"][data-transport="${transport}"]`);
}

async function say(p, text) {
  await p.page.fill('#composer-input', text);
  await p.page.press('#composer-input', 'Enter');
}

function msgWith(text) {
  return `#messages .msg:has(.text:text-is(${JSON.stringify(text)}))`;
}

async function seesText(p, text) {
  await p.page.waitForSelector(msgWith(text));
}

async function seesPerson(p, name, attrs = '') {
  return p.page.waitForSelector(`#people-list .person[data-user="${name}"]${attrs}`);
}

async function noPerson(p, name) {
  await p.page.waitForSelector(`#people-list .person[data-user="${name}"]`, { state: 'detached' });
}

async function openConv(p, key) {
  await p.page.click(`.conv[data-key="${key}"]`);
  await p.page.waitForSelector(`.conv[data-key="${key}"][aria-current="true"]`);
}

// chat is the whole conversation between two people on one transport.
async function chat(browser, cfg, transport, log) {
  const steps = [];
  const t0 = Date.now();
  const step = async (what, fn) => {
    const s = Date.now();
    try {
      await fn();
    } catch (e) {
      throw new Error(`${what}: ${e.message.split('\n')[0]}`);
    }
    steps.push(`${what} (${Date.now() - s} ms)`);
  };
  const other = TRANSPORTS[(TRANSPORTS.indexOf(transport) + 1) % TRANSPORTS.length];
  const aliceName = `alice-${transport}`;
  const bobName = `bob-${transport}`;
  let alice;
  let bob;
  const run = { steps, transport };
  try {
    await step(`alice signs in on ${transport}`, async () => {
      alice = await person(browser, cfg, log, 'alice', aliceName, COLORS.alice, transport);
    });
    await step(`bob signs in on ${other}, then switches to ${transport}`, async () => {
      bob = await person(browser, cfg, log, 'bob', bobName, COLORS.bob, other);
      await bob.page.click(`#transport-switch button[data-transport="${transport}"]`);
      await live(bob.page, transport);
    });
    await step('each sees the other present in #pub_chan with their colour', async () => {
      await seesPerson(alice, bobName, `[data-color="${COLORS.bob}"]`);
      await seesPerson(bob, aliceName, `[data-color="${COLORS.alice}"]`);
      await alice.page.waitForSelector(`#messages .notice:has-text("${bobName} joined")`);
    });
    await step('the welcome message arrives, for alice only', async () => {
      await alice.page.waitForSelector('#messages .msg.system:has-text("Welcome")');
    });
    const hello = `hello from ${aliceName}`;
    const reply = `hi ${aliceName}, ${bobName} here`;
    await step('alice writes, bob reads', async () => {
      await say(alice, hello);
      await seesText(bob, hello);
      await seesText(alice, hello);
    });
    await step('bob answers, alice reads', async () => {
      await say(bob, reply);
      await seesText(alice, reply);
    });
    const edited = `${hello} (edited)`;
    await step('alice edits her message, bob sees the edit', async () => {
      const m = alice.page.locator(msgWith(hello));
      await m.hover();
      await m.locator('.act-edit').click();
      await alice.page.fill('#messages .edit-input', edited);
      await alice.page.press('#messages .edit-input', 'Enter');
      await bob.page.waitForSelector(`${msgWith(edited)} .edited`);
      await seesText(alice, edited);
    });
    await step('bob cannot edit alice\'s message', async () => {
      const n = await bob.page.locator(`${msgWith(edited)} .act-edit`).count();
      if (n !== 0) throw new Error('bob has an edit button on alice\'s message');
    });
    await step('alice deletes her message, it goes from bob\'s page', async () => {
      const m = alice.page.locator(msgWith(edited));
      await m.hover();
      await m.locator('.act-delete').click();
      await bob.page.waitForSelector(msgWith(edited), { state: 'detached' });
      await alice.page.waitForSelector(msgWith(edited), { state: 'detached' });
    });
    await step('bob changes colour, alice sees it', async () => {
      await bob.page.click(`#me-swatches .swatch[data-color="${COLORS.bobLater}"]`);
      await seesPerson(alice, bobName, `[data-color="${COLORS.bobLater}"]`);
      await alice.page.waitForSelector(`#messages .msg[data-user="${bobName}"][style*="${COLORS.bobLater}"]`);
    });
    const secret = `psst, ${bobName}: only you read this`;
    await step('alice writes to bob privately', async () => {
      await alice.page.click(`#people-list .person[data-user="${bobName}"]`);
      await alice.page.waitForSelector(`.conv[data-key="@${bobName}"][aria-current="true"]`);
      await say(alice, secret);
      await seesText(alice, secret);
      await bob.page.waitForSelector(`#dm-list .conv[data-key="@${aliceName}"] .badge`);
      await openConv(bob, `@${aliceName}`);
      await seesText(bob, secret);
    });
    await step('bob leaves #pub_chan, alice sees him go', async () => {
      await openConv(alice, '#pub_chan');
      await openConv(bob, '#pub_chan');
      const row = bob.page.locator('.conv[data-key="#pub_chan"]');
      await row.hover();
      await row.locator('.leave-channel').click();
      await bob.page.waitForSelector('.conv[data-key="#pub_chan"]', { state: 'detached' });
      await noPerson(alice, bobName);
      await alice.page.waitForSelector(`#messages .notice:has-text("${bobName} left")`);
    });
    await step('bob joins again and finds the history, alice sees him back', async () => {
      await bob.page.fill('#join-input', 'pub_chan');
      await bob.page.press('#join-input', 'Enter');
      await bob.page.waitForSelector('.conv[data-key="#pub_chan"][aria-current="true"]');
      await seesText(bob, reply);
      await seesPerson(alice, bobName, `[data-color="${COLORS.bobLater}"]`);
    });
    await step('both still listen on ' + transport, async () => {
      await live(alice.page, transport);
      await live(bob.page, transport);
    });
    await step('screenshot', async () => {
      await alice.page.mouse.move(0, 0);
      await alice.page.waitForTimeout(300); // let the last notices settle
      run.screenshot = path.join(cfg.outDir, `demo-${transport}.png`);
      await alice.page.screenshot({ path: run.screenshot });
    });
  } catch (e) {
    run.error = e.message;
    if (alice && cfg.outDir) {
      run.failureScreenshot = path.join(cfg.outDir, `demo-${transport}-failed-alice.png`);
      await alice.page.screenshot({ path: run.failureScreenshot }).catch(() => {});
    }
    if (bob && cfg.outDir) {
      await bob.page.screenshot({ path: path.join(cfg.outDir, `demo-${transport}-failed-bob.png`) }).catch(() => {});
    }
  } finally {
    for (const p of [alice, bob]) {
      if (p) await p.context.close().catch(() => {});
    }
  }
  run.elapsedMs = Date.now() - t0;
  return run;
}

async function main() {
  const cfg = readConfig();
  cfg.waitMs = cfg.waitMs || 10000;
  const t0 = Date.now();
  const log = [];
  const result = { ok: false, problems: [], browser: '', elapsedMs: 0, runs: {}, console: log };
  const timer = setTimeout(() => {
    result.problems.push(`timed out after ${cfg.timeoutMs} ms`);
    result.elapsedMs = Date.now() - t0;
    emit(result, 2);
  }, cfg.timeoutMs || 120000);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true });
  try {
    result.browser = browser.version();
    for (const t of cfg.transports || TRANSPORTS) {
      const run = await chat(browser, cfg, t, log);
      result.runs[t] = run;
      if (run.error) result.problems.push(`${t}: ${run.error}`);
    }
    for (const line of log) {
      if (line.includes('PAGE ERROR')) result.problems.push(line);
    }
  } finally {
    await browser.close().catch(() => {});
  }
  clearTimeout(timer);
  result.ok = result.problems.length === 0;
  result.elapsedMs = Date.now() - t0;
  emit(result, result.ok ? 0 : 1);
}

main().catch((e) => {
  emit({ ok: false, problems: [`crash: ${e && e.stack ? e.stack : e}`], runs: {}, console: [] }, 2);
});
