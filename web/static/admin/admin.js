// channelstream admin dashboard.
//
// Polls /admin/admin.json every POLL_MS (with the session cookie, same
// origin) and renders it: totals, attached transports, a messages-per-second
// chart derived from the growth of total_messages and total_unique_messages
// between polls (the same hub counters /metrics serves as
// channelstream_messages_delivered_total and
// channelstream_messages_published_total), and the channel and user tables. Plain JS, no build step;
// the chart is uPlot (vendor/uplot). Everything the server sends is written
// with textContent, never as HTML.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const WINDOW_S = 300; // the chart shows the last five minutes
  const JSON_URL = 'admin/admin.json'; // relative to the page at /admin
  const SIGN_IN_URL = 'admin/sign_in';
  const TRANSPORTS = ['websocket', 'sse', 'longpoll'];
  const SETTING_LABELS = {
    notify_presence: 'presence',
    broadcast_presence_with_user_lists: 'user lists',
    notify_state: 'state changes',
    store_history: 'history',
    store_frames: 'catch-up frames',
  };

  const $ = (id) => document.getElementById(id);
  const numberFormat = new Intl.NumberFormat('en-US');
  const fmt = (n) => (typeof n === 'number' ? numberFormat.format(n) : '–');

  // ---- chart -------------------------------------------------------------

  const samples = { t: [], delivered: [], published: [] };
  let previous = null; // the last poll: {t, delivered, published}
  let chart = null;

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // withAlpha turns "#rrggbb" into "#rrggbbaa".
  function withAlpha(hex, alpha) {
    if (!/^#[0-9a-f]{6}$/i.test(hex)) return hex;
    return hex + Math.round(alpha * 255).toString(16).padStart(2, '0');
  }

  function createChart(el) {
    if (typeof window.uPlot !== 'function') {
      el.textContent = 'The chart library did not load.';
      return null;
    }
    const fg = cssVar('--muted');
    const grid = { stroke: cssVar('--line'), width: 1 };
    const axis = { stroke: fg, grid: grid, ticks: grid };
    const opts = {
      width: Math.max(el.clientWidth, 300),
      height: 220,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] },
      },
      series: [
        {},
        {
          label: 'delivered / s',
          stroke: cssVar('--accent'),
          fill: withAlpha(cssVar('--accent'), 0.12),
          width: 2,
          points: { show: false },
          value: (u, v) => (v == null ? '–' : v.toFixed(1)),
        },
        {
          label: 'published / s',
          stroke: cssVar('--accent-2'),
          width: 2,
          points: { show: false },
          value: (u, v) => (v == null ? '–' : v.toFixed(1)),
        },
      ],
      axes: [axis, Object.assign({ size: 56 }, axis)],
    };
    const u = new window.uPlot(opts, [[], [], []], el);
    new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 300), height: 220 })).observe(el);
    return u;
  }

  // addSample turns the counters of one poll into rates since the previous
  // one. A counter that went down means the server restarted: start over.
  function addSample(data, now) {
    const cur = { t: now / 1000, delivered: data.total_messages, published: data.total_unique_messages };
    const prev = previous;
    previous = cur;
    if (!prev || cur.delivered < prev.delivered || cur.published < prev.published) return null;
    const dt = cur.t - prev.t;
    if (dt <= 0) return null;
    const rate = (cur.delivered - prev.delivered) / dt;
    samples.t.push(cur.t);
    samples.delivered.push(rate);
    samples.published.push((cur.published - prev.published) / dt);
    while (samples.t.length && samples.t[0] < cur.t - WINDOW_S) {
      samples.t.shift();
      samples.delivered.shift();
      samples.published.shift();
    }
    if (chart) chart.setData([samples.t, samples.delivered, samples.published]);
    const el = $('chart');
    el.dataset.points = String(samples.t.length);
    el.dataset.maxRate = String(Math.max(0, ...samples.delivered));
    return rate;
  }

  // ---- rendering ---------------------------------------------------------

  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function cell(text, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    if (text != null) td.textContent = text;
    return td;
  }

  function tag(text, on) {
    const span = document.createElement('span');
    span.className = on ? 'tag on' : 'tag';
    span.textContent = text;
    return span;
  }

  // shortJSON is a compact one-line rendering of a value, cut at max chars.
  function shortJSON(v, max) {
    const s = JSON.stringify(v);
    return s.length > max ? s.slice(0, max - 1) + '…' : s;
  }

  // when turns a naive-UTC ISO timestamp into "YYYY-MM-DD HH:MM:SS".
  function when(iso) {
    return typeof iso === 'string' ? iso.replace('T', ' ').slice(0, 19) : '–';
  }

  function renderTotals(data, rate) {
    setText('version', data.version || '–');
    setText('stat-users', fmt(data.unique_user_count));
    setText('stat-remembered', fmt(data.remembered_user_count));
    setText('stat-connections', fmt(data.total_connections));
    setText('stat-channels', fmt(data.total_channels));
    setText('stat-messages', fmt(data.total_messages));
    setText('stat-unique', fmt(data.total_unique_messages));
    setText('stat-uptime', data.uptime || '–');
    if (rate != null) setText('stat-rate', rate.toFixed(1));
  }

  function renderTransports(data) {
    const counts = data.transports || {};
    const total = Math.max(data.total_connections || 0, 1);
    let attached = 0;
    for (const name of TRANSPORTS) {
      const n = counts[name];
      attached += n || 0;
      setText('transport-' + name, fmt(n));
      $('bar-' + name).style.width = Math.min(100, ((n || 0) / total) * 100) + '%';
    }
    // Connections with no transport attached: between polls or reconnects,
    // or never opened (the server reports no transports: unknown).
    const known = TRANSPORTS.some((name) => typeof counts[name] === 'number');
    const detached = Math.max(0, (data.total_connections || 0) - attached);
    setText('stat-detached', known ? fmt(detached) : '–');
    setText('transport-none', known ? fmt(detached) : '–');
    $('bar-none').style.width = known ? Math.min(100, (detached / total) * 100) + '%' : '0';
  }

  function settingsCell(settings) {
    const td = cell(null);
    td.title = JSON.stringify(settings || {});
    for (const [key, value] of Object.entries(settings || {})) {
      if (key === 'history_size') continue;
      if (value === true) {
        let label = SETTING_LABELS[key] || key;
        if (key === 'store_history') label += ' (' + settings.history_size + ')';
        td.append(tag(label, true));
      }
    }
    if (!td.childNodes.length) td.textContent = '–';
    return td;
  }

  function renderChannels(channels) {
    const names = Object.keys(channels || {}).sort();
    const rows = document.createDocumentFragment();
    for (const name of names) {
      const ch = channels[name];
      const tr = document.createElement('tr');
      tr.dataset.channel = name;
      const members = cell(null);
      for (const user of ch.users || []) members.append(tag(user, false));
      if (!members.childNodes.length) members.textContent = '–';
      tr.append(
        cell(name, 'name'),
        cell(fmt(ch.total_connections), 'num'),
        members,
        cell(fmt((ch.history || []).length), 'num'),
        settingsCell(ch.settings),
        cell(when(ch.last_active), 'mono'),
      );
      rows.append(tr);
    }
    $('channels').tBodies[0].replaceChildren(rows);
    $('channels').hidden = names.length === 0;
    $('channels-empty').hidden = names.length !== 0;
    setText('channels-count', fmt(names.length));
  }

  function renderUsers(users) {
    const rows = document.createDocumentFragment();
    for (const u of users || []) {
      const tr = document.createElement('tr');
      tr.dataset.user = u.user;
      const conns = cell(fmt((u.connections || []).length), 'num');
      conns.title = (u.connections || []).join('\n');
      const state = cell(shortJSON(u.state || {}, 160), 'mono');
      state.title = JSON.stringify(u.state || {}, null, 2);
      tr.append(cell(u.user, 'name'), conns, state, cell(u.uuid, 'mono'));
      rows.append(tr);
    }
    const n = (users || []).length;
    $('users').tBodies[0].replaceChildren(rows);
    $('users').hidden = n === 0;
    $('users-empty').hidden = n !== 0;
    setText('users-count', fmt(n));
  }

  function setStatus(state, text) {
    const el = $('status');
    el.dataset.state = state;
    setText('status', text);
  }

  // ---- polling -----------------------------------------------------------

  async function poll() {
    try {
      const res = await fetch(JSON_URL, {
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { Accept: 'application/json' },
      });
      const type = res.headers.get('Content-Type') || '';
      if (res.redirected || !type.includes('json')) {
        // The session ended (expired, signed out elsewhere, new cookie_secret).
        window.location.href = SIGN_IN_URL;
        return;
      }
      if (!res.ok) throw new Error('admin.json answered ' + res.status);
      const data = await res.json();
      const now = Date.now();
      const rate = addSample(data, now);
      renderTotals(data, rate);
      renderTransports(data);
      renderChannels(data.channels);
      renderUsers(data.users);
      setStatus('live', 'live · ' + new Date(now).toLocaleTimeString());
    } catch (err) {
      setStatus('error', 'no data: ' + err.message);
    }
    setTimeout(poll, POLL_MS);
  }

  chart = createChart($('chart'));
  poll();
})();
