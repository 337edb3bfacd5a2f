// tls.mjs opens many EventSource streams from one page to a channelstream-go
// node served over HTTPS (a throwaway self-signed certificate, accepted with
// --ignore-certificate-errors) and reports how many of them received a
// message. Over HTTP/2 every stream shares one connection; over HTTP/1.1
// (--disable-http2) Chromium holds at most six connections per origin, so
// the streams past the sixth wait. It is run by
// cmd/channelstream/tls_browser_test.go, which owns the node, makes the
// connections and publishes to their channel every 100 ms:
//
//	CS_TLS_CONFIG='{"baseURL": ..., ...}' node web/test/tls.mjs
//
// The configuration:
//
//	baseURL   the node, https://127.0.0.1:PORT
//	connIDs   the connections to attach, one EventSource each
//	http2     false: launch Chromium with --disable-http2
//	waitMs    how long the streams may take to receive
//	timeoutMs the whole run's deadline
//
// It prints one JSON object on stdout: {ok, problems, browser, protocol,
// opened, received, console} (protocol is the page's nextHopProtocol,
// received the number of messages each stream got) and exits 0, or 2 on a
// crash or timeout.
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function emit(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

const cfg = JSON.parse(process.env.CS_TLS_CONFIG || process.argv[2]);
const console_ = [];
const timer = setTimeout(() => emit({ ok: false, problems: ['timeout'], console: console_ }, 2), cfg.timeoutMs);

try {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--ignore-certificate-errors'];
  if (!cfg.http2) args.push('--disable-http2');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args });
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
  await page.goto(cfg.baseURL + '/healthz');
  const res = await page.evaluate(async ({ ids, waitMs }) => {
    const received = ids.map(() => 0);
    const opened = ids.map(() => false);
    const streams = ids.map((id, i) => {
      const es = new EventSource('/sse?conn_id=' + encodeURIComponent(id));
      es.onopen = () => { opened[i] = true; };
      es.onmessage = (e) => {
        for (const f of JSON.parse(e.data)) if (f.type === 'message') received[i]++;
      };
      return es;
    });
    const start = performance.now();
    while (performance.now() - start < waitMs && received.some((n) => n === 0)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    streams.forEach((es) => es.close());
    const nav = performance.getEntriesByType('navigation')[0];
    return { protocol: nav ? nav.nextHopProtocol : '', opened: opened.filter(Boolean).length, received };
  }, { ids: cfg.connIDs, waitMs: cfg.waitMs });
  const version = browser.version();
  await browser.close();
  clearTimeout(timer);
  emit({ ok: true, problems: [], browser: version, ...res, console: console_ }, 0);
} catch (e) {
  clearTimeout(timer);
  emit({ ok: false, problems: [String(e && e.stack ? e.stack : e)], console: console_ }, 2);
}
