// transports.mjs drives headless Chromium against a running channelstream-go
// node and checks that the browser's own WebSocket, EventSource and fetch
// receive every published message exactly once, in order, while their
// network path is cut mid-stream.
//
// It is run by cmd/channelstream/browser_test.go, which owns the node, the
// page's origin and the publishing:
//
//	CS_BROWSER_CONFIG='{"pageURL": ..., "controlURL": ..., "transports": {...}}' node web/test/transports.mjs
//
// (the JSON may also be the first argument). The configuration:
//
//	pageURL      a blank page on another origin than the node (cross-origin, as in production)
//	controlURL   POST {transport, from, to, cut, cutAfter}: the Go test publishes messages
//	             from..to to the transport's channel, cutting the network path ("server": the
//	             hub ends the session; "proxy": the TCP proxy in front of the node swallows
//	             what the node sends from message cutAfter-1 on, then resets every connection)
//	             right after message cutAfter; answers {"ended": n, "killed": n, "dropped": bytes}
//	transports   {websocket|sse|longpoll: {gateway, connID, channel}}: gateway is the URL the
//	             page uses for that transport (a proxy in front of the node)
//	burst        messages per burst
//	cuts         one entry per burst: "" (none), "server", "client" (the page aborts its own
//	             transport after receiving the burst's third message) or "proxy"
//	heartbeatMs  the node's heartbeat_interval
//	settleMs     how long to keep listening after the last message (default 600)
//	timeoutMs    the whole run's deadline
//
// It prints one JSON object on stdout: {ok, problems, browser, elapsedMs,
// transports: {name: state}, console} and exits 0 when ok, 1 when the run
// finished with problems, 2 on a crash or timeout.
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

function readConfig() {
  const raw = process.env.CS_BROWSER_CONFIG || process.argv[2];
  if (!raw) {
    throw new Error('no configuration: set CS_BROWSER_CONFIG or pass the JSON as the first argument');
  }
  return JSON.parse(raw);
}

function emit(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

// runInPage runs inside the page: it must be self-contained (Playwright
// sends its source text). It drives all three transports at once, each on
// its own connection and channel, and returns what each received.
async function runInPage(cfg) {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const now = () => Math.round(performance.now());

  async function waitFor(cond, ms, what) {
    const end = performance.now() + ms;
    while (!cond()) {
      if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(5);
    }
  }

  async function control(body) {
    const r = await fetch(cfg.controlURL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`control ${r.status}: ${text}`);
    return JSON.parse(text);
  }

  function newState(name, t) {
    return {
      transport: name,
      channel: t.channel,
      received: [], // [n, seq, catchup, text] per message object, in arrival order
      gaps: [], // gap objects (must stay empty)
      lastSeq: 0, // the last seq seen: the resume point
      seqRegressions: [], // [lastSeq, seq] when a seq did not grow
      noSeq: 0, // objects without a seq
      foreign: 0, // objects that are not messages of our channel
      frames: 0, // lists received (WebSocket frames, SSE events, poll answers)
      heartbeats: 0, // empty lists
      bad: [], // frames that were not JSON lists
      opens: 0, // transport (re)connections started by the page or the browser
      events: [], // a short log: opens, closes, errors, cuts
      cuts: [],
      closes: [], // WebSocket close events
      errors: 0, // EventSource error events / failed polls
      gaveUp: 0, // EventSource that ended up CLOSED without the page asking
      idMismatch: [], // SSE event ids that are not the batch's last seq
      polls: 0,
      badStatus: [],
      error: '',
      elapsedMs: 0,
    };
  }

  function log(st, what) {
    if (st.events.length < 200) st.events.push(`${now()} ${what}`);
  }

  function maxN(st) {
    return st.received.length ? st.received[st.received.length - 1][0] : 0;
  }

  // handle takes one JSON list from any transport.
  function handle(st, list, hooks) {
    st.frames++;
    if (!Array.isArray(list)) {
      st.bad.push(JSON.stringify(list).slice(0, 200));
      return;
    }
    if (list.length === 0) st.heartbeats++;
    for (const m of list) {
      if (typeof m.seq === 'number') {
        if (m.seq <= st.lastSeq) st.seqRegressions.push([st.lastSeq, m.seq]);
        st.lastSeq = Math.max(st.lastSeq, m.seq);
      } else {
        st.noSeq++;
      }
      if (m.type === 'gap') {
        st.gaps.push(m);
        continue;
      }
      if (m.type !== 'message' || m.channel !== st.channel || !m.message) {
        st.foreign++;
        continue;
      }
      st.received.push([m.message.n, m.seq, m.catchup === true, m.message.text]);
      if (hooks.cutAt && m.message.n >= hooks.cutAt) {
        hooks.cutAt = 0;
        st.cuts.push({ kind: 'client', afterReceiving: m.message.n });
        log(st, `client cut after ${m.message.n}`);
        hooks.cut();
      }
    }
  }

  // Each runner: start(), ready(), clientCut(), stop().

  function webSocketRunner(st, t, hooks) {
    const base = `${t.gateway.replace(/^http/, 'ws')}/ws?conn_id=${encodeURIComponent(t.connID)}`;
    let ws = null;
    let stopped = false;
    let open = false;
    function connect() {
      const url = st.opens === 0 ? base : `${base}&last_seq=${st.lastSeq}`;
      st.opens++;
      open = false;
      const sock = new WebSocket(url);
      ws = sock;
      log(st, `connect ${url.includes('last_seq') ? 'last_seq=' + st.lastSeq : 'fresh'}`);
      sock.onopen = () => {
        open = true;
        log(st, 'open');
      };
      sock.onmessage = (e) => {
        let list;
        try {
          list = JSON.parse(e.data);
        } catch {
          st.bad.push(String(e.data).slice(0, 200));
          return;
        }
        handle(st, list, hooks);
      };
      sock.onclose = (e) => {
        st.closes.push({ code: e.code, reason: e.reason, clean: e.wasClean });
        log(st, `close ${e.code} ${e.reason}`);
        if (sock === ws && !stopped) setTimeout(connect, 20);
      };
    }
    return {
      start: connect,
      ready: () => open,
      // The browser dispatches nothing more once close() is called: frames
      // already on the wire are dropped and must come again on resume. 4001
      // says "coming back" (1000 would end the connection on the server).
      clientCut: () => ws.close(4001, 'page cut'),
      stop: () => {
        stopped = true;
        ws.close(1000, 'done');
      },
    };
  }

  function eventSourceRunner(st, t, hooks) {
    const base = `${t.gateway}/sse?conn_id=${encodeURIComponent(t.connID)}`;
    let es = null;
    let stopped = false;
    let open = false;
    function connect(url) {
      st.opens++;
      open = false;
      const src = new EventSource(url);
      es = src;
      log(st, `connect ${url.includes('last_event_id') ? 'last_event_id=' + st.lastSeq : 'fresh'}`);
      src.onopen = () => {
        open = true;
        log(st, 'open');
      };
      src.onmessage = (e) => {
        let list;
        try {
          list = JSON.parse(e.data);
        } catch {
          st.bad.push(String(e.data).slice(0, 200));
          return;
        }
        handle(st, list, hooks);
        if (e.lastEventId !== String(st.lastSeq)) st.idMismatch.push([e.lastEventId, st.lastSeq]);
      };
      src.onerror = () => {
        st.errors++;
        // CONNECTING: the browser reconnects by itself, with Last-Event-ID.
        log(st, `error readyState=${src.readyState}`);
        if (src.readyState === EventSource.CLOSED && src === es && !stopped) {
          st.gaveUp++;
          if (st.gaveUp < 5) setTimeout(() => connect(`${base}&last_event_id=${st.lastSeq}`), 200);
        }
      };
    }
    return {
      start: () => connect(base),
      ready: () => open,
      // close() aborts the request; a new EventSource does not send
      // Last-Event-ID by itself, so the resume point goes in the query. The
      // new one opens once the current list is handled, so that lastSeq
      // includes all of it.
      clientCut: () => {
        es.close();
        setTimeout(() => connect(`${base}&last_event_id=${st.lastSeq}`), 0);
      },
      stop: () => {
        stopped = true;
        es.close();
      },
    };
  }

  function longPollRunner(st, t, hooks) {
    const base = `${t.gateway}/listen?conn_id=${encodeURIComponent(t.connID)}`;
    let stopped = false;
    let cutNext = false;
    let ctl = null;
    async function loop() {
      while (!stopped) {
        const my = new AbortController();
        ctl = my;
        st.polls++;
        st.opens++;
        if (cutNext) {
          cutNext = false;
          setTimeout(() => {
            log(st, 'client abort');
            my.abort();
          }, 5);
        }
        try {
          const r = await fetch(`${base}&last_seq=${st.lastSeq}`, { signal: my.signal, cache: 'no-store' });
          if (!r.ok) {
            st.badStatus.push(r.status);
            log(st, `status ${r.status}`);
            await sleep(100);
            continue;
          }
          handle(st, await r.json(), hooks);
        } catch (e) {
          st.errors++;
          log(st, `poll failed: ${e.name}`);
          if (!stopped) await sleep(20);
        }
      }
    }
    return {
      start: () => {
        loop();
      },
      ready: () => true,
      // Abort the next poll 5 ms after it starts, while the burst goes on:
      // whatever the node wrote to it is lost and must come again.
      clientCut: () => {
        cutNext = true;
      },
      stop: () => {
        stopped = true;
        if (ctl) ctl.abort();
      },
    };
  }

  async function scenario(name, makeRunner) {
    const t = cfg.transports[name];
    const st = newState(name, t);
    const hooks = { cutAt: 0, cut: null };
    const runner = makeRunner(st, t, hooks);
    hooks.cut = runner.clientCut;
    const t0 = performance.now();
    try {
      runner.start();
      await waitFor(runner.ready, 5000, 'the first connection');
      for (let b = 0; b < cfg.cuts.length; b++) {
        const from = b * cfg.burst + 1;
        const to = from + cfg.burst - 1;
        const cutAfter = from + Math.floor(cfg.burst / 2) - 1;
        const cut = cfg.cuts[b];
        if (cut === 'client') hooks.cutAt = from + 2;
        const ans = await control({ transport: name, from, to, cut: cut === 'client' ? '' : cut, cutAfter });
        if (cut === 'server' || cut === 'proxy') {
          st.cuts.push({ kind: cut, afterPublishing: cutAfter, ...ans });
          log(st, `${cut} cut after publishing ${cutAfter}: ${JSON.stringify(ans)}`);
        }
        await waitFor(() => maxN(st) >= to, 15000, `message ${to}`);
      }
      // Late duplicates would show up here; a WebSocket also gets its
      // heartbeat [] (sent every heartbeatMs while attached).
      const settle = sleep(cfg.settleMs);
      if (name === 'websocket') {
        const before = st.heartbeats;
        await waitFor(() => st.heartbeats > before, 4 * cfg.heartbeatMs, 'a heartbeat []');
      }
      await settle;
    } catch (e) {
      st.error = String(e && e.message ? e.message : e);
    } finally {
      runner.stop();
    }
    st.elapsedMs = Math.round(performance.now() - t0);
    return st;
  }

  const [websocket, sse, longpoll] = await Promise.all([
    scenario('websocket', webSocketRunner),
    scenario('sse', eventSourceRunner),
    scenario('longpoll', longPollRunner),
  ]);
  return { transports: { websocket, sse, longpoll } };
}

// problems lists what is wrong with one transport's state: every message
// 1..total exactly once, in order, seq growing, no gap.
function problems(name, st, total) {
  const out = [];
  const say = (s) => out.push(`${name}: ${s}`);
  if (st.error) say(st.error);
  const ns = st.received.map((r) => r[0]);
  const seen = new Map();
  for (const n of ns) seen.set(n, (seen.get(n) || 0) + 1);
  const dups = [...seen].filter(([, c]) => c > 1).map(([n]) => n);
  const missing = [];
  for (let n = 1; n <= total; n++) if (!seen.has(n)) missing.push(n);
  if (dups.length) say(`duplicates ${dups.join(',')}`);
  if (missing.length) say(`missing ${missing.join(',')}`);
  for (let i = 1; i < ns.length; i++) {
    if (ns[i] <= ns[i - 1]) {
      say(`out of order: ${ns[i - 1]} then ${ns[i]}`);
      break;
    }
  }
  if (st.gaps.length) say(`gap objects ${JSON.stringify(st.gaps)}`);
  if (st.seqRegressions.length) say(`seq did not grow ${JSON.stringify(st.seqRegressions)}`);
  if (st.noSeq) say(`${st.noSeq} objects without seq`);
  if (st.bad.length) say(`frames that are not JSON lists ${JSON.stringify(st.bad)}`);
  return out;
}

async function main() {
  const cfg = readConfig();
  cfg.settleMs ??= 600;
  const started = Date.now();
  const consoleLines = [];
  let browser = null;
  const timer = setTimeout(() => {
    emit({ ok: false, problems: [`timed out after ${cfg.timeoutMs} ms`], console: consoleLines }, 2);
  }, cfg.timeoutMs);
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
    const page = await browser.newPage();
    page.on('console', (m) => consoleLines.length < 100 && consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    const resp = await page.goto(cfg.pageURL);
    if (!resp || !resp.ok()) throw new Error(`page ${cfg.pageURL}: ${resp ? resp.status() : 'no response'}`);
    const result = await page.evaluate(runInPage, cfg);
    const total = cfg.burst * cfg.cuts.length;
    result.problems = Object.entries(result.transports).flatMap(([name, st]) => problems(name, st, total));
    result.ok = result.problems.length === 0;
    result.browser = browser.version();
    result.elapsedMs = Date.now() - started;
    result.console = consoleLines;
    clearTimeout(timer);
    await browser.close();
    emit(result, result.ok ? 0 : 1);
  } catch (e) {
    clearTimeout(timer);
    if (browser) await browser.close().catch(() => {});
    emit({ ok: false, problems: [`crash: ${e && e.stack ? e.stack : e}`], console: consoleLines }, 2);
  }
}

main();
