// demo.js: the channelstream-go demo chat. Plain JavaScript, no build step.
//
// The page talks to its "web application" (the gateway's /demo/* routes,
// which sign REST calls server-side) through the upstream client library's
// ChannelStreamConnection (../static/channelstream.js), and listens on the
// gateway's /ws, /sse or /listen. It handles the message types of the
// upstream chat demo: message, message:edit, message:delete, presence and
// user_state_change, and seeds each channel from channels_info history.
(function () {
  'use strict';

  const PALETTE = ['#4f5bd5', '#e05260', '#1fae6b', '#e6a23c', '#9b51e0', '#159bb3', '#f0659a', '#56627a'];
  const TRANSPORTS = { websocket: 'WebSocket', sse: 'SSE', longpoll: 'Long-poll' };
  const SYSTEM = 'system';

  const base = new URL('.', document.baseURI); // …/demo/
  const root = new URL('..', base); // the gateway
  const $ = (sel) => document.querySelector(sel);

  const S = {
    me: '', // my user name once connected
    color: PALETTE[Math.floor(Math.random() * PALETTE.length)],
    transport: 'websocket',
    conn: null,
    users: new Map(), // name → public state
    channels: new Map(), // channel → {users: Set, settings}
    convs: new Map(), // '#channel' or '@user' → {items: [], unread}
    where: new Map(), // uuid → conversation key
    active: '',
    editing: '', // uuid of the message being edited
    editText: '',
  };
  window.demoState = S; // for curious developers and the browser test

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'style') e.style.cssText = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function colorOf(user) {
    const st = S.users.get(user);
    const c = st && st.color;
    return typeof c === 'string' && /^#[0-9a-fA-F]{6}$/.test(c) ? c : '#8a90a8';
  }

  function avatar(user, cls) {
    return el('span', { class: 'avatar ' + (cls || ''), style: '--c:' + colorOf(user) }, (user || '?').slice(0, 1));
  }

  // parseTs reads channelstream's naive-UTC ISO timestamps.
  function parseTs(ts) {
    if (!ts) return Date.now();
    let s = String(ts).replace(' ', 'T').replace(/(\.\d{3})\d+/, '$1');
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(s)) s += 'Z';
    const t = Date.parse(s);
    return Number.isNaN(t) ? Date.now() : t;
  }

  function clock(t) {
    return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  let toastTimer = 0;
  function toast(text, bad) {
    const t = $('#toast');
    t.textContent = text;
    t.className = 'toast show' + (bad ? ' bad' : '');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.className = 'toast'; }, 3500);
  }

  function errorText(request, data) {
    if (data && typeof data === 'object') {
      if (data.error) return data.error;
      return JSON.stringify(data);
    }
    const status = request && request.status;
    return status ? 'the server answered ' + status : 'the server cannot be reached';
  }

  // --------------------------------------------------------- conversations

  function conv(key) {
    let c = S.convs.get(key);
    if (!c) {
      c = { items: [], unread: 0 };
      S.convs.set(key, c);
    }
    return c;
  }

  function keyOf(m) {
    if (m.channel) return '#' + m.channel;
    const to = m.message && m.message.to;
    const other = m.user === S.me ? to : m.user;
    return other ? '@' + other : '';
  }

  // addItem files an item by time; a uuid already seen is ignored (history
  // and catch-up may repeat what arrived live).
  function addItem(key, item) {
    if (!key || (item.uuid && S.where.has(item.uuid))) return;
    const c = conv(key);
    let i = c.items.length;
    while (i > 0 && c.items[i - 1].ts > item.ts) i--;
    c.items.splice(i, 0, item);
    if (item.uuid) S.where.set(item.uuid, key);
    if (key !== S.active && item.kind !== 'presence' && item.user !== S.me) c.unread++;
  }

  function addMessage(m) {
    addItem(keyOf(m), {
      kind: m.user === SYSTEM ? 'system' : 'message',
      uuid: m.uuid,
      user: m.user,
      text: (m.message && typeof m.message.text === 'string') ? m.message.text : JSON.stringify(m.message),
      ts: parseTs(m.timestamp),
      edited: !!m.edited,
      private: !m.channel,
    });
  }

  // dropConv forgets a conversation; history brings it back on rejoining.
  function dropConv(key) {
    const c = S.convs.get(key);
    if (!c) return;
    for (const it of c.items) S.where.delete(it.uuid);
    S.convs.delete(key);
  }

  function findItem(uuid) {
    const key = S.where.get(uuid);
    const c = key && S.convs.get(key);
    return c ? c.items.find((it) => it.uuid === uuid) : null;
  }

  function editMessage(m) {
    const it = findItem(m.uuid);
    if (!it) return;
    if (m.message && typeof m.message.text === 'string') it.text = m.message.text;
    it.edited = true;
  }

  function deleteMessage(m) {
    const key = S.where.get(m.uuid);
    const c = key && S.convs.get(key);
    if (!c) return;
    c.items = c.items.filter((it) => it.uuid !== m.uuid);
    if (S.editing === m.uuid) S.editing = '';
  }

  function setState(user, state) {
    if (!user || !state) return;
    S.users.set(user, Object.assign({}, S.users.get(user), state));
  }

  function presence(m) {
    const ch = S.channels.get(m.channel);
    const joined = m.message && m.message.action === 'joined';
    if (ch) {
      if (Array.isArray(m.users) && m.users.length) {
        ch.users = new Set(m.users.map((u) => u.user));
        for (const u of m.users) setState(u.user, u.state);
      }
      if (joined) ch.users.add(m.user);
      else ch.users.delete(m.user);
    }
    if (joined) setState(m.user, m.state);
    addItem('#' + m.channel, { kind: 'presence', uuid: m.uuid, user: m.user, joined, ts: parseTs(m.timestamp) });
  }

  // onFrames handles one frame: a list of message objects ([] is a
  // heartbeat).
  function onFrames(list) {
    if (!Array.isArray(list) || !list.length) return;
    for (const m of list) {
      if (!m || typeof m !== 'object') continue;
      switch (m.type) {
        case 'message': addMessage(m); break;
        case 'message:edit': editMessage(m); break;
        case 'message:delete': deleteMessage(m); break;
        case 'presence': presence(m); break;
        case 'user_state_change': setState(m.user, m.message && m.message.state); break;
        default: break;
      }
    }
    render();
  }

  // applyInfo takes channels_info from /connect or /subscribe: who is
  // where with which public state, each channel's settings and history.
  function applyInfo(info) {
    if (!info) return;
    for (const u of info.users || []) setState(u.user, u.state);
    for (const [name, c] of Object.entries(info.channels || {})) {
      S.channels.set(name, { users: new Set(c.users || []), settings: c.settings || {} });
      conv('#' + name);
      for (const h of c.history || []) addMessage(h);
    }
  }

  function activate(key) {
    if (!key) return;
    S.active = key;
    S.editing = '';
    conv(key).unread = 0;
    render();
    $('#composer-input').focus();
  }

  // firstChannel is where the page opens: pub_chan, else the first channel.
  function firstChannel() {
    if (S.channels.has('pub_chan')) return '#pub_chan';
    const names = [...S.channels.keys()].sort();
    return names.length ? '#' + names[0] : '';
  }

  // ------------------------------------------------------------ connection

  function wsURL(u) {
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.href;
  }

  function setLive(state) {
    const live = $('#live');
    const c = S.conn;
    const t = (c && c.currentTransport) || '';
    live.dataset.state = state;
    live.dataset.transport = state === 'live' ? t : '';
    $('#live-text').textContent = state === 'live' ? 'live · ' + (TRANSPORTS[t] || t || '?')
      : state === 'connecting' ? 'connecting…' : 'offline';
  }

  function newConnection(name, channels) {
    const c = new window.ChannelStreamConnection();
    c.connectUrl = new URL('connect', base).href;
    c.subscribeUrl = new URL('subscribe', base).href;
    c.unsubscribeUrl = new URL('unsubscribe', base).href;
    c.userStateUrl = new URL('user_state', base).href;
    c.messageUrl = c.messageEditUrl = c.messageDeleteUrl = new URL('message', base).href;
    // The demo's own hub and transports, under /demo/.
    c.disconnectUrl = new URL('disconnect', base).href;
    c.longPollUrl = new URL('listen', base).href;
    c.sseUrl = new URL('sse', base).href;
    c.websocketUrl = wsURL(new URL('ws', base));
    c.username = name;
    c.channels = channels;
    c.transport = S.transport;
    // The demo backend takes the colour with the connect call, as
    // upstream's demo takes `state` through a mutator.
    c.addMutator('connect', (request) => {
      request.body.color = S.color;
      request.body.state = { color: S.color };
    });

    c.connectCallback = (request, data) => {
      S.me = data.username || name;
      S.channels = new Map();
      setState(S.me, data.public_state);
      applyInfo(data.channels_info);
      if (!S.active || (S.active.startsWith('#') && !S.channels.has(S.active.slice(1)))) {
        S.active = firstChannel();
      }
      $('#app').dataset.view = 'chat';
      render();
    };
    c.connectErrorCallback = (request, data) => {
      setLive('connecting');
      if ($('#app').dataset.view === 'login') {
        c.shouldReconnect = false;
        c.closeConnection();
        S.conn = null;
        $('#login-error').textContent = errorText(request, data);
        $('#login-join').disabled = false;
      }
    };
    c.listenMessageCallback = onFrames;
    c.gapCallback = () => toast('Some messages were lost while the connection was down', true);
    c.listenOpenedCallback = () => setLive('live');
    c.listenCloseCallback = () => setLive('connecting');
    c.listenErrorCallback = () => setLive('connecting');
    c.connectionClosedCallback = () => { if (S.conn !== c) setLive('off'); };
    c.subscribeCallback = (request, data) => {
      applyInfo(data.channels_info);
      const joined = (data.subscribed_to || [])[0];
      activate(joined ? '#' + joined : S.active);
    };
    c.unsubscribeCallback = (request, data) => {
      for (const name of data.unsubscribed_from || []) {
        S.channels.delete(name);
        dropConv('#' + name);
      }
      if (S.active.startsWith('#') && !S.channels.has(S.active.slice(1))) S.active = firstChannel();
      render();
    };
    c.setUserStateCallback = (request, data) => {
      if (data && data.user_state) setState(S.me, { color: data.user_state.color });
      render();
    };
    const failed = (what) => (request, data) => toast(what + ': ' + errorText(request, data), true);
    c.subscribeErrorCallback = failed('Joining failed');
    c.unsubscribeErrorCallback = failed('Leaving failed');
    c.messageErrorCallback = failed('Sending failed');
    c.messageEditErrorCallback = failed('Editing failed');
    c.messageDeleteErrorCallback = failed('Deleting failed');
    c.setUserStateErrorCallback = failed('Changing colour failed');
    return c;
  }

  function join(name, channels) {
    S.conn = newConnection(name, channels);
    setLive('connecting');
    S.conn.connect();
  }

  // switchTransport moves the listening connection to another transport:
  // the same connection id, a new socket, stream or poll.
  function switchTransport(t) {
    S.transport = t;
    markSegmented('#transport-switch', t);
    markSegmented('#login-transport', t);
    const c = S.conn;
    if (!c || !c.connectionId) return;
    setLive('connecting');
    c.closeConnection();
    c.transport = t;
    c.startListening();
  }

  function leave() {
    const c = S.conn;
    S.conn = null;
    if (c) {
      c.shouldReconnect = false;
      c.disconnect();
    }
    S.channels = new Map();
    S.convs = new Map();
    S.where = new Map();
    S.active = '';
    setLive('off');
    $('#app').dataset.view = 'login';
    $('#login-join').disabled = false;
  }

  // A closing page ends its connection at once: the client library's
  // leaveOnPageHide (on by default) closes the socket with 1000 or sends a
  // beacon to /disconnect, so others see it leave now rather than when the
  // connection times out.

  // ---------------------------------------------------------------- actions

  function send(text) {
    const c = S.conn;
    text = text.trim();
    if (!c || !text || !S.active) return;
    const msg = { conn_id: c.connectionId, message: { text } };
    if (S.active.startsWith('#')) msg.channel = S.active.slice(1);
    else msg.to = S.active.slice(1);
    c.message(msg);
  }

  function saveEdit(uuid, text) {
    text = text.trim();
    S.editing = '';
    if (text && S.conn) S.conn.edit({ conn_id: S.conn.connectionId, uuid, message: { text } });
    render();
  }

  function remove(uuid) {
    if (S.conn) S.conn.delete({ conn_id: S.conn.connectionId, uuid });
  }

  function changeColor(color) {
    S.color = color;
    localStorage.setItem('cs-demo-color', color);
    if (S.conn && S.conn.connectionId) S.conn.updateUserState({ user_state: { color } });
    render();
  }

  function openDM(user) {
    if (!user || user === S.me) return;
    conv('@' + user);
    activate('@' + user);
  }

  // -------------------------------------------------------------- rendering

  function markSegmented(sel, value) {
    for (const b of document.querySelectorAll(sel + ' button')) {
      b.setAttribute('aria-checked', String(b.dataset.transport === value));
    }
  }

  function swatches(container, current, onPick) {
    container.replaceChildren(...PALETTE.map((c) => el('button', {
      type: 'button', class: 'swatch', role: 'radio', 'data-color': c, title: c,
      'aria-checked': String(c === current), style: '--c:' + c, onclick: () => onPick(c),
    })));
  }

  function render() {
    if (!S.me) return;
    $('#me-name').textContent = S.me;
    const av = $('#me-avatar');
    av.textContent = S.me.slice(0, 1);
    av.style.setProperty('--c', colorOf(S.me));
    swatches($('#me-swatches'), colorOf(S.me), changeColor);
    renderSidebar();
    renderHead();
    renderMessages();
    renderPeople();
  }

  function renderSidebar() {
    const chans = [...S.channels.keys()].sort().map((name) => {
      const key = '#' + name;
      const unread = conv(key).unread;
      return el('li', { class: 'conv', 'data-key': key, 'aria-current': String(key === S.active), onclick: () => activate(key) },
        el('span', { class: 'hash' }, '#'), el('span', { class: 'name' }, name),
        unread ? el('span', { class: 'badge' }, unread) : null,
        el('button', {
          class: 'leave-channel', type: 'button', title: 'Leave ' + name, 'aria-label': 'Leave ' + name,
          onclick: (e) => { e.stopPropagation(); S.conn && S.conn.unsubscribe([name]); },
        }, '×'));
    });
    $('#channel-list').replaceChildren(...chans);
    const dms = [...S.convs.keys()].filter((k) => k.startsWith('@')).sort().map((key) => {
      const unread = conv(key).unread;
      return el('li', { class: 'conv', 'data-key': key, 'aria-current': String(key === S.active), onclick: () => activate(key) },
        avatar(key.slice(1)), el('span', { class: 'name' }, key.slice(1)),
        unread ? el('span', { class: 'badge' }, unread) : null);
    });
    $('#dm-list').replaceChildren(...dms);
    $('#dm-hint').hidden = dms.length > 0;
  }

  function renderHead() {
    const key = S.active;
    $('#conv-title').textContent = !key ? 'No channel' : key.startsWith('#') ? key : 'Private chat with ' + key.slice(1);
    const chips = [];
    const ch = key.startsWith('#') && S.channels.get(key.slice(1));
    if (ch) {
      const s = ch.settings;
      if (s.notify_presence) chips.push('presence');
      if (s.notify_state) chips.push('colour changes');
      if (s.broadcast_presence_with_user_lists) chips.push('user lists');
      chips.push(s.store_history ? 'history ' + (s.history_size || 'all') : 'no history');
    } else if (key) {
      chips.push('only the two of you');
    }
    $('#conv-chips').replaceChildren(...chips.map((c) => el('span', { class: 'chip' }, c)));
    const input = $('#composer-input');
    input.disabled = !key;
    $('#composer-send').disabled = !key;
    input.placeholder = key ? 'Message ' + (key.startsWith('#') ? key : key.slice(1)) + '…' : 'Join a channel to write';
  }

  function renderMessages() {
    const box = $('#messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    const items = S.active ? conv(S.active).items : [];
    if (!items.length) {
      box.replaceChildren(el('p', { class: 'empty' }, S.active ? 'No messages yet. Say hello!' : 'Join a channel on the left.'));
      return;
    }
    box.replaceChildren(...items.map(renderItem));
    const editor = box.querySelector('.edit-input');
    if (editor && document.activeElement !== editor) {
      editor.focus();
      editor.setSelectionRange(editor.value.length, editor.value.length);
    }
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function renderItem(it) {
    if (it.kind === 'presence') {
      return el('div', { class: 'notice', 'data-uuid': it.uuid, style: '--c:' + colorOf(it.user) },
        el('b', {}, it.user), it.joined ? ' joined' : ' left', ' · ' + clock(it.ts));
    }
    const mine = it.user === S.me;
    const system = it.kind === 'system';
    const editing = mine && S.editing === it.uuid;
    let text;
    if (editing) {
      text = [
        el('textarea', {
          class: 'edit-input', rows: 2, maxlength: 2000,
          oninput: (e) => { S.editText = e.target.value; },
          onkeydown: (e) => {
            if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); saveEdit(it.uuid, e.target.value); }
            if (e.key === 'Escape') { S.editing = ''; render(); }
          },
        }, S.editText),
        el('div', { class: 'edit-help' }, 'Enter to save · Esc to cancel'),
      ];
    } else {
      text = el('div', { class: 'text' }, it.text);
    }
    return el('div', {
      class: 'msg' + (mine ? ' mine' : '') + (system ? ' system' : ''),
      'data-uuid': it.uuid, 'data-user': it.user, style: '--c:' + colorOf(it.user),
    },
    avatar(it.user, 'big'),
    el('div', { class: 'body' },
      el('div', { class: 'meta' },
        el('span', { class: 'author' }, system ? 'channelstream' : it.user),
        el('span', { class: 'time' }, clock(it.ts)),
        system || (it.private && S.active.startsWith('#')) ? el('span', { class: 'tag' }, 'only you') : null,
        it.edited ? el('span', { class: 'edited' }, '(edited)') : null),
      text),
    mine && !editing ? el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'act-edit', onclick: () => { S.editing = it.uuid; S.editText = it.text; render(); } }, 'Edit'),
      el('button', { type: 'button', class: 'act-delete', onclick: () => remove(it.uuid) }, 'Delete')) : null);
  }

  function renderPeople() {
    let names = [];
    let title = '';
    if (S.active.startsWith('#')) {
      const ch = S.channels.get(S.active.slice(1));
      names = ch ? [...ch.users] : [];
      title = 'In ' + S.active + ' · ' + names.length;
    } else if (S.active) {
      names = [S.me, S.active.slice(1)];
      title = 'Private chat';
    }
    names.sort((a, b) => (a === S.me ? -1 : b === S.me ? 1 : a.localeCompare(b)));
    $('#people-title').textContent = title;
    $('#people-list').replaceChildren(...names.map((name) => {
      const st = S.users.get(name) || {};
      const me = name === S.me;
      return el('li', {
        class: 'person' + (me ? ' me' : ''), 'data-user': name, 'data-color': colorOf(name),
        title: me ? 'you' : 'Write to ' + name + ' privately', onclick: () => openDM(name),
      }, avatar(name), el('div', { class: 'who' },
        el('span', { class: 'pname' }, name, me ? el('span', { class: 'you' }, 'you') : null),
        el('span', { class: 'status' }, typeof st.status === 'string' ? st.status : 'online')));
    }));
  }

  // ------------------------------------------------------------------ setup

  function setup() {
    const params = new URLSearchParams(location.search);
    const t = params.get('transport');
    if (TRANSPORTS[t]) S.transport = t;
    const savedColor = localStorage.getItem('cs-demo-color');
    if (PALETTE.includes(savedColor)) S.color = savedColor;
    const name = $('#login-name');
    name.value = params.get('name') || localStorage.getItem('cs-demo-name') || 'guest-' + Math.floor(100 + Math.random() * 900);

    const pickLoginColor = (c) => { S.color = c; swatches($('#login-swatches'), c, pickLoginColor); };
    pickLoginColor(S.color);
    markSegmented('#login-transport', S.transport);
    markSegmented('#transport-switch', S.transport);
    for (const b of document.querySelectorAll('#login-transport button')) {
      b.addEventListener('click', () => { S.transport = b.dataset.transport; markSegmented('#login-transport', S.transport); });
    }
    for (const b of document.querySelectorAll('#transport-switch button')) {
      b.addEventListener('click', () => switchTransport(b.dataset.transport));
    }

    $('#login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const n = name.value.trim();
      if (!n) return;
      if (typeof window.ChannelStreamConnection !== 'function') {
        $('#login-error').textContent = 'The client library (/static/channelstream.js) did not load.';
        return;
      }
      localStorage.setItem('cs-demo-name', n);
      localStorage.setItem('cs-demo-color', S.color);
      $('#login-error').textContent = '';
      $('#login-join').disabled = true;
      const channels = [...document.querySelectorAll('#login-form input[name=channel]:checked')].map((i) => i.value);
      markSegmented('#transport-switch', S.transport);
      join(n, channels);
    });

    $('#composer').addEventListener('submit', (e) => {
      e.preventDefault();
      send($('#composer-input').value);
      $('#composer-input').value = '';
    });
    $('#composer-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        $('#composer').requestSubmit();
      }
    });
    $('#join-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const ch = $('#join-input').value.trim();
      $('#join-input').value = '';
      if (!ch || !S.conn) return;
      if (S.channels.has(ch)) activate('#' + ch);
      else S.conn.subscribe([ch]);
    });
    $('#leave').addEventListener('click', leave);
    name.focus();
    name.select();
  }

  setup();
}());
