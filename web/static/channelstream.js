/*!
 * channelstream.js: the browser client of channelstream-go, a drop-in
 * replacement of upstream's @channelstream/channelstream 0.1.x
 * (ChannelStreamConnection, ChannelStreamSigner). No dependencies.
 *
 * LOADING. One file cannot be both a classic script and an ES module (a
 * classic script may not contain `export`), so there are two:
 *
 *   channelstream.js   (this file) a classic script. It defines the globals
 *                      ChannelStreamConnection, ChannelStreamSigner,
 *                      ChannelStreamRequest and the namespace ChannelStream
 *                      (also module.exports under CommonJS). It is written
 *                      to run in strict mode too, so importing it as a
 *                      module for its side effect works as well.
 *   channelstream.mjs  the ES module: it imports this file for its effect
 *                      and re-exports the globals, named and default.
 *
 *   <script src="/static/channelstream.js"></script>
 *   <script type="module">
 *     import ChannelStreamConnection, { ChannelStreamSigner } from '/static/channelstream.mjs';
 *   </script>
 *
 * Loading both gives the same classes (this file defines them once).
 * Upstream's own copy (/static/channelstream/channelstream.js, also served
 * here as this classic script) was an ES module: code that did
 * `import {ChannelStreamConnection} from '.../channelstream.js'` imports
 * from channelstream.mjs now.
 *
 * UPSTREAM API, unchanged: the properties debug, channels, username,
 * connectionId, websocket, websocketUrl, connectUrl, disconnectUrl,
 * subscribeUrl, unsubscribeUrl, userStateUrl, messageUrl, messageEditUrl,
 * messageDeleteUrl, longPollUrl, shouldReconnect, heartbeats,
 * increaseBounceIv, noWebsocket, connected, mutators; the methods
 * addMutator, connect, updateUserState, subscribe, unsubscribe,
 * calculateSubscribe, calculateUnsubscribe, disconnect, message, edit,
 * delete, startListening, openWebsocket, openLongPoll, retryConnection,
 * closeConnection, createHeartBeats; every *Callback (they log when debug
 * is set; assign your own). Callbacks get (request, data) as upstream's:
 * the XMLHttpRequest and its parsed JSON answer. Frames reach
 * listenMessageCallback(list) as the JSON list the server sent (empty
 * lists are heartbeats, as upstream), objects keeping the server's extra
 * "seq" key.
 *
 * FIXED upstream defects: a long-poll error is retried; reconnecting backs
 * off exponentially with jitter (increaseBounceIv, then doubling up to
 * maxBounceIv) and starts over once a transport opens; only HTTP 2xx is
 * success (upstream took any status <= 400); request headers set by
 * mutators are applied (upstream set them before open(), which throws);
 * delete() mutators see the body; the heartbeat timer belongs to its socket.
 *
 * ADDED:
 *   sseUrl            the node's /sse. Empty: derived from longPollUrl
 *                     (.../listen -> .../sse) or websocketUrl (ws[s]://.../ws
 *                     -> http[s]://.../sse); empty when neither fits.
 *   transport         'auto' (default): WebSocket, then SSE, then long-poll,
 *                     each tried when the one before fails to open (refused,
 *                     or for SSE no byte within openTimeout, the sign of a
 *                     buffering proxy); the one that opened is kept for
 *                     later reconnects. 'websocket' | 'sse' | 'longpoll':
 *                     that one only. noWebsocket = true leaves WebSocket out.
 *   currentTransport  the live transport's name, null when none is open.
 *   lastSeq           the last frame seq received. A dropped transport is
 *                     re-attached to the SAME conn_id with last_seq (ws,
 *                     long-poll) / last_event_id (SSE), so nothing is lost
 *                     or repeated; objects whose seq <= lastSeq are dropped.
 *                     connect() (a new conn_id) runs only when the server no
 *                     longer knows the connection (ws close 1000, long-poll
 *                     401, SSE 404 "unknown connection").
 *   cursor            the resume cursor ("<seq>-<partition>.<epoch>.<n>...")
 *                     of the last object (or SSE event id) that carried one,
 *                     '' when none did: a data-plane cluster puts it on
 *                     the last object of each list. While it is the position
 *                     of lastSeq, reconnects send it (cursor=, beside
 *                     last_seq on /ws and /listen; on /sse instead of
 *                     last_event_id), also on a switch to another transport
 *                     or to another tab in shared mode, so that any node
 *                     resumes exactly after it.
 *   gapCallback(gap)  a {"type": "gap", "from_seq", "to_seq"} object: frames
 *                     the server could no longer keep were lost (reload
 *                     history through your app). Gap objects are taken out
 *                     of the list given to listenMessageCallback.
 *   openSse()         opens the SSE transport (fetch streaming, so that the
 *                     ":ok" greeting, heartbeats and the status are seen).
 *   openTimeout       ms a WebSocket or SSE stream gets to open (4000).
 *                     Long-poll counts as open at its first answer, or when
 *                     its first poll is still waiting after 1 s (a refusal
 *                     comes at once).
 *   idleTimeout       ms without a byte (the server sends a heartbeat every
 *                     5 s) after which a transport is deemed dead (30000;
 *                     0: never). Also the long-poll request timeout.
 *   maxBounceIv       the largest reconnect delay, ms (60000).
 *   sharedConnection  true: the tabs of this browser (same origin) share one
 *                     connection and one transport through BroadcastChannel.
 *                     The leader (elected with a Web Lock, released when its
 *                     tab closes) connects and forwards every frame; the
 *                     others receive them and, on joining, subscribe the
 *                     shared connection to their missing channels. When the
 *                     leader leaves, another tab takes over the same
 *                     connection from its lastSeq. sharedRole says
 *                     'leader' | 'follower' | null; sharedKey names the group
 *                     (default: connectUrl and username). Without
 *                     BroadcastChannel or navigator.locks each tab connects
 *                     on its own. A follower's connectCallback gets null
 *                     for the request and the leader's /connect answer as
 *                     data. In a follower, disconnect() and
 *                     closeConnection() only leave the group; the leader's
 *                     disconnect() posts /disconnect only when no other tab
 *                     waits to take over.
 *   leaveOnPageHide   true (default): when the page goes away (pagehide: a
 *                     closed tab, a navigation) the connection ends on the
 *                     server at once, so the others see the user part
 *                     within a second: an open WebSocket is closed with
 *                     1000; otherwise navigator.sendBeacon posts
 *                     {"conn_id"} to the gateway's unsigned /disconnect
 *                     (beaconUrl). A shared leader with other tabs waiting
 *                     hands over instead. Coming back from the
 *                     back/forward cache connects anew.
 *   beaconUrl         the gateway's /disconnect for that beacon. Empty:
 *                     derived from longPollUrl (.../listen), sseUrl
 *                     (.../sse) or websocketUrl (ws[s]://.../ws).
 *   CLOSE CODES       reconnecting, switching transport and closeConnection()
 *                     close a WebSocket with 4001 "coming back": the server
 *                     keeps the connection for resume (as for a dropped
 *                     network); so does disconnect(), whose request ends
 *                     the connection. 1000 (pagehide), 1001 (what a
 *                     closing tab sends) and a close without a code mean
 *                     "gone": the server removes the connection at once.
 *   ChannelStreamSigner(secret).signRequest([value[, timestamp]]) returns a
 *                     Promise of the itsdangerous TimestampSigner token (value
 *                     "channelstream" by default), computed with WebCrypto
 *                     HMAC-SHA1 (a built-in SHA-1 where WebCrypto is missing,
 *                     e.g. plain http on a LAN address), padding and
 *                     url-safe alphabet handled in full.
 */
(function (root, factory) {
  'use strict';
  var api = root && root.ChannelStream && root.ChannelStream.channelstreamGo ? root.ChannelStream : factory(root);
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
  }
  if (root) {
    root.ChannelStream = api;
    root.ChannelStreamConnection = api.ChannelStreamConnection;
    root.ChannelStreamSigner = api.ChannelStreamSigner;
    root.ChannelStreamRequest = api.ChannelStreamRequest;
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : typeof window !== 'undefined' ? window : undefined, function (root) {
  'use strict';

  var HEARTBEAT_MS = 10000; // client heartbeat over WebSocket, as upstream
  var STABLE_MS = 1000; // an open WebSocket counts as working after this (or a frame)
  var LONGPOLL_OPEN_MS = 1000; // a first poll still waiting after this counts as open
  var TRANSPORTS = ['websocket', 'sse', 'longpoll'];
  var CLOSE_COMING_BACK = 4001; // our WebSocket close code for "keep my connection"
  // A resume cursor (core.Cursor's text): a seq, then partition positions.
  var CURSOR = /^\d+(?:-\d+\.\d+\.\d+)*$/;

  /** The seq a resume cursor (or a plain seq) names. */
  function cursorSeq(c) {
    return parseInt(c, 10);
  }

  /** Appends query parameters to url (which may already have a query). */
  function withParams(url, params) {
    var parts = [];
    for (var k in params) {
      if (Object.prototype.hasOwnProperty.call(params, k) && params[k] !== null && params[k] !== undefined) {
        parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(params[k])));
      }
    }
    if (!parts.length) {
      return url;
    }
    var hash = '';
    var h = url.indexOf('#');
    if (h !== -1) {
      hash = url.slice(h);
      url = url.slice(0, h);
    }
    return url + (url.indexOf('?') === -1 ? '?' : '&') + parts.join('&') + hash;
  }

  /** Rethrows err outside the caller, so that a throwing app callback is
   * reported but does not break the transport that called it. */
  function report(err) {
    setTimeout(function () { throw err; }, 0);
  }

  // ------------------------------------------------------------------------
  // ChannelStreamRequest: upstream's small XMLHttpRequest wrapper, which
  // mutators receive (request.url, request.body, request.headers).

  /**
   * One AJAX request. handleResponse(xhr, data) runs for HTTP 2xx,
   * handleError(xhr, data) for anything else (network errors: status 0);
   * data is the JSON-parsed answer, or its text when it is not JSON.
   * headers: a list of {name, value} (upstream) or an object name -> value.
   */
  class ChannelStreamRequest {
    constructor() {
      this.headers = [];
      this.body = null;
      this.url = '';
      this.request = null;
      /** Request timeout in ms (0: none). */
      this.timeout = 0;
      /** Send cookies cross-origin (XMLHttpRequest.withCredentials). */
      this.withCredentials = false;
      this.aborted = false;
    }

    handleError(request, respText) {
      console.error('request', request);
      console.error('respText', respText);
    }

    handleResponse(request, respText) {
      console.info('request', request);
      console.info('respText', respText);
    }

    /** Called on every readyState change before the request is done. */
    handleRequest(request) {}

    handleStateChange() {
      var r = this.request;
      if (r.readyState !== XMLHttpRequest.DONE) {
        this.handleRequest(r);
        return;
      }
      if (this.aborted) {
        return;
      }
      var result = r.responseText;
      try {
        result = JSON.parse(result);
      } catch (exc) {
        // not JSON: keep the text
      }
      if (r.status >= 200 && r.status < 300) {
        this.handleResponse(r, result);
      } else {
        this.handleError(r, result);
      }
    }

    /** Sends the request: verb, default POST with a body and GET without. */
    execute(verb) {
      var xhr = new XMLHttpRequest();
      this.request = xhr;
      this.aborted = false;
      xhr.onreadystatechange = this.handleStateChange.bind(this);
      var hasBody = this.body !== null && this.body !== undefined;
      xhr.open(verb || (hasBody ? 'POST' : 'GET'), this.url);
      if (this.timeout) {
        xhr.timeout = this.timeout;
      }
      if (this.withCredentials) {
        xhr.withCredentials = true;
      }
      var contentType = false;
      var set = function (name, value) {
        if (String(name).toLowerCase() === 'content-type') {
          contentType = true;
        }
        xhr.setRequestHeader(name, value);
      };
      if (Array.isArray(this.headers)) {
        for (var i = 0; i < this.headers.length; i++) {
          set(this.headers[i].name, this.headers[i].value);
        }
      } else if (this.headers) {
        for (var name in this.headers) {
          if (Object.prototype.hasOwnProperty.call(this.headers, name)) {
            set(name, this.headers[name]);
          }
        }
      }
      if (hasBody) {
        if (!contentType) {
          xhr.setRequestHeader('Content-Type', 'application/json');
        }
        xhr.send(JSON.stringify(this.body));
      } else {
        xhr.send();
      }
    }

    /** Aborts the request; no handler runs afterwards. */
    abort() {
      this.aborted = true;
      if (this.request) {
        this.request.abort();
      }
    }
  }

  // ------------------------------------------------------------------------
  // SSE parsing (the WHATWG event-stream format), for fetch streaming.

  class SseParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buf = '';
      this.data = [];
      this.event = '';
      this.lastId = '';
      this.retry = 0;
    }

    push(text) {
      var buf = this.buf + text;
      var start = 0;
      for (var i = 0; i < buf.length; i++) {
        var c = buf.charCodeAt(i);
        if (c !== 10 && c !== 13) {
          continue;
        }
        if (c === 13 && i + 1 === buf.length) {
          break; // a CR at the end: wait to see whether LF follows
        }
        this.line(buf.slice(start, i));
        if (c === 13 && buf.charCodeAt(i + 1) === 10) {
          i++;
        }
        start = i + 1;
      }
      this.buf = buf.slice(start);
    }

    line(line) {
      if (line === '') {
        if (this.data.length) {
          this.onEvent({ type: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
        }
        this.data = [];
        this.event = '';
        return;
      }
      if (line.charCodeAt(0) === 58) { // ':' comment (":ok", ": hb")
        return;
      }
      var colon = line.indexOf(':');
      var field = colon === -1 ? line : line.slice(0, colon);
      var value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) {
        value = value.slice(1);
      }
      if (field === 'data') {
        this.data.push(value);
      } else if (field === 'id') {
        if (value.indexOf('\0') === -1) {
          this.lastId = value;
        }
      } else if (field === 'retry') {
        if (/^\d+$/.test(value)) {
          this.retry = parseInt(value, 10);
        }
      } else if (field === 'event') {
        this.event = value;
      }
    }
  }

  // ------------------------------------------------------------------------
  // ChannelStreamConnection

  /** Main Channelstream connection class. */
  class ChannelStreamConnection {
    static get version() {
      return '0.1';
    }

    constructor() {
      this.debug = false;
      /** List of channels user should be subscribed to. */
      this.channels = [];
      /** Username of connecting user. */
      this.username = 'Anonymous';
      /** Connection identifier. */
      this.connectionId = null;
      /** Websocket instance. */
      this.websocket = null;
      /** Websocket connection url. */
      this.websocketUrl = '';
      /** URL used in `connect()`. */
      this.connectUrl = '';
      /** URL used in `disconnect()`. */
      this.disconnectUrl = '';
      /** URL used in `subscribe()`. */
      this.subscribeUrl = '';
      /** URL used in `unsubscribe()`. */
      this.unsubscribeUrl = '';
      /** URL used in `updateUserState()`. */
      this.userStateUrl = '';
      /** URL used in `message()`. */
      this.messageUrl = '';
      /** URL used in `edit()`. */
      this.messageEditUrl = '';
      /** URL used in `delete()`. */
      this.messageDeleteUrl = '';
      /** Long-polling connection url. */
      this.longPollUrl = '';
      /** Server-Sent Events url (added); empty: derived, see the header. */
      this.sseUrl = '';
      /** Reconnect when the transport drops. */
      this.shouldReconnect = true;
      /** Should send heartbeats. */
      this.heartbeats = true;
      /** The first reconnect delay step in ms; later ones double. */
      this.increaseBounceIv = 2000;
      /** The largest reconnect delay in ms (added). */
      this.maxBounceIv = 60000;
      this._currentBounceIv = 0;
      /** Leave WebSocket out of the transports. */
      this.noWebsocket = false;
      this.connected = false;
      /** 'auto' | 'websocket' | 'sse' | 'longpoll' (added). */
      this.transport = 'auto';
      /** The open transport's name, or null (added). */
      this.currentTransport = null;
      /** The seq of the last frame received on this connection (added). */
      this.lastSeq = 0;
      /** The resume cursor of the last frame that carried one, or '' (added). */
      this.cursor = '';
      /** ms a WebSocket or SSE stream gets to open before the next transport is tried. */
      this.openTimeout = 4000;
      /** ms without any byte after which a transport is deemed dead (0: never). */
      this.idleTimeout = 30000;
      /** Share one connection between the tabs of this browser (added). */
      this.sharedConnection = false;
      /** The name of the tab group sharing a connection; '' derives it. */
      this.sharedKey = '';
      /** 'leader' | 'follower' | null (added). */
      this.sharedRole = null;
      /** End the connection at once when the page goes away (added). */
      this.leaveOnPageHide = true;
      /** The gateway's /disconnect for the pagehide beacon; '' derives it (added). */
      this.beaconUrl = '';

      /**
       * Mutators hold functions that you can set locally to change the data
       * that the client is sending to all endpoints; add them with
       * addMutator(type, fn). They run in the order they were added.
       */
      this.mutators = {
        connect: [],
        message: [],
        messageEdit: [],
        messageDelete: [],
        subscribe: [],
        unsubscribe: [],
        disconnect: [],
        userState: []
      };

      this._gen = 0; // transport generation: events of older ones are ignored
      this._closed = false; // closeConnection() was called
      this._attempt = 0; // reconnect attempts since a transport last worked
      this._retryTimer = null;
      this._openTimer = null;
      this._idleTimer = null;
      this._stableTimer = null;
      this._heartbeat = undefined;
      this._ajaxListen = null;
      this._sseAbort = null;
      this._seqConnId = null; // the connection lastSeq counts for
      this._connGone = false; // the server no longer knows connectionId
      this._order = null; // candidate transports
      this._idx = 0; // the one being tried or used
      this._preferred = null; // the name of the last one that opened
      this._group = null; // shared mode state
      this._connectData = null; // the last /connect answer (shared with followers)
      this._tab = Math.random().toString(36).slice(2); // this tab in a shared group
      this._pageHooked = false; // pagehide/pageshow listeners added
      this._leftOnHide = false; // pagehide ended the connection
    }

    // ---- upstream REST methods ---------------------------------------------

    /**
     * Sends an AJAX call that creates the user and the connection through
     * your application, then starts listening.
     */
    connect() {
      this._closed = false;
      this._hookPage();
      if (this.sharedConnection && sharedSupported()) {
        this._sharedConnect();
        return;
      }
      this._connectRequest();
    }

    _connectRequest() {
      this._clearRetry();
      var request = new ChannelStreamRequest();
      request.url = this.connectUrl;
      request.body = {
        username: this.username,
        channels: this.channels
      };
      this._mutate('connect', request);
      request.handleError = this._handleConnectError.bind(this);
      request.handleResponse = this._handleConnect.bind(this);
      request.execute();
    }

    /**
     * Adds a function that may change a request (url, body, headers) before
     * it is sent.
     * @param type {string} connect, message, messageEdit, messageDelete,
     *   subscribe, unsubscribe, disconnect or userState
     * @param func {function} called with the ChannelStreamRequest
     */
    addMutator(type, func) {
      if (!this.mutators[type]) {
        this.mutators[type] = [];
      }
      this.mutators[type].push(func);
    }

    _mutate(type, request) {
      var list = this.mutators[type] || [];
      for (var i = 0; i < list.length; i++) {
        list[i](request);
      }
    }

    /**
     * Sends an AJAX request to update the user's state.
     * @param stateObj {object}
     */
    updateUserState(stateObj) {
      var request = new ChannelStreamRequest();
      request.url = this.userStateUrl;
      request.body = {
        username: this.username,
        conn_id: this.connectionId,
        update_state: stateObj
      };
      this._mutate('userState', request);
      request.handleError = this._handleSetUserStateError.bind(this);
      request.handleResponse = this._handleSetUserState.bind(this);
      request.execute();
    }

    /**
     * Subscribes the connection to channels (nothing is sent for an empty list).
     * @param channels {string[]} sent via POST to `subscribeUrl`.
     */
    subscribe(channels) {
      var request = new ChannelStreamRequest();
      request.url = this.subscribeUrl;
      request.body = {
        channels: channels,
        conn_id: this.connectionId
      };
      this._mutate('subscribe', request);
      request.handleError = this._handleSubscribeError.bind(this);
      request.handleResponse = this._handleSubscribe.bind(this);
      if (request.body.channels && request.body.channels.length) {
        request.execute('POST');
      }
    }

    /**
     * Unsubscribes the connection from channels.
     * @param channels {string[]} sent via POST to `unsubscribeUrl`.
     */
    unsubscribe(channels) {
      var request = new ChannelStreamRequest();
      request.url = this.unsubscribeUrl;
      request.body = {
        channels: channels,
        conn_id: this.connectionId
      };
      this._mutate('unsubscribe', request);
      request.handleError = this._handleUnsubscribeError.bind(this);
      request.handleResponse = this._handleUnsubscribe.bind(this);
      request.execute('POST');
    }

    /** The channels of the list that `channels` lacks. */
    calculateSubscribe(channels) {
      var toSubscribe = [];
      for (var i = 0; i < (channels || []).length; i++) {
        if (this.channels.indexOf(channels[i]) === -1) {
          toSubscribe.push(channels[i]);
        }
      }
      return toSubscribe;
    }

    /** The channels of the list that `channels` has. */
    calculateUnsubscribe(channels) {
      var toUnsubscribe = [];
      for (var i = 0; i < (channels || []).length; i++) {
        if (this.channels.indexOf(channels[i]) !== -1) {
          toUnsubscribe.push(channels[i]);
        }
      }
      return toUnsubscribe;
    }

    /** Ends the connection on the server (/disconnect) and closes the transport. */
    disconnect() {
      var g = this._group;
      if (g && this.sharedRole === 'follower') {
        this.closeConnection(); // leaves the group; the connection is shared
        return;
      }
      if (g && this.sharedRole === 'leader') {
        // Ask before letting the lock go: a tab waiting for it will take
        // the connection over, so it must stay on the server.
        var self = this;
        var id = this.connectionId;
        var done = function (alone) {
          if (alone) {
            self._disconnectRequest(id);
          }
          if (self._group === g) {
            self.closeConnection();
          }
        };
        this._closed = true;
        this._clearRetry();
        this._teardown();
        navigator.locks.query().then(function (state) {
          done(!(state.pending || []).some(function (l) { return l.name === g.lockName; }));
        }, function () {
          done(true);
        });
        return;
      }
      // The socket closes with 4001: the request ends the connection (a
      // close with 1000 could end it first and the request answer false).
      this._disconnectRequest(this.connectionId);
      this.closeConnection();
    }

    _disconnectRequest(connId) {
      var request = new ChannelStreamRequest();
      request.url = withParams(this.disconnectUrl, { conn_id: connId });
      request.body = {
        conn_id: connId
      };
      this._mutate('disconnect', request);
      request.handleResponse = this._handleDisconnect.bind(this);
      request.handleError = function () {};
      request.execute();
    }

    /**
     * Sends a POST to the web application backend.
     * @param message {object} sent via POST to `messageUrl`.
     */
    message(message) {
      var request = new ChannelStreamRequest();
      request.url = this.messageUrl;
      request.body = message;
      this._mutate('message', request);
      request.handleError = this._handleMessageError.bind(this);
      request.handleResponse = this._handleMessage.bind(this);
      request.execute('POST');
    }

    /**
     * Sends a DELETE request to the web application backend.
     * @param message {object} sent via DELETE to `messageDeleteUrl`.
     */
    delete(message) {
      var request = new ChannelStreamRequest();
      request.url = this.messageDeleteUrl;
      request.body = message;
      this._mutate('messageDelete', request);
      request.handleError = this._handleMessageDeleteError.bind(this);
      request.handleResponse = this._handleMessageDelete.bind(this);
      request.execute('DELETE');
    }

    /**
     * Sends a PATCH request to the web application backend.
     * @param message {object} sent via PATCH to `messageEditUrl`.
     */
    edit(message) {
      var request = new ChannelStreamRequest();
      request.url = this.messageEditUrl;
      request.body = message;
      this._mutate('messageEdit', request);
      request.handleError = this._handleMessageEditError.bind(this);
      request.handleResponse = this._handleMessageEdit.bind(this);
      request.execute('PATCH');
    }

    // ---- listening -----------------------------------------------------------

    /**
     * Opens the long-lived transport for connectionId: the first of the
     * candidate transports (see `transport`), or the one that worked last.
     */
    startListening(request, data) {
      this._closed = false;
      this._hookPage();
      this.beforeListeningCallback(request, data);
      this._order = this._candidates();
      if (!this._order.length) {
        this.listenErrorCallback(null, 'channelstream: no transport: set websocketUrl, sseUrl or longPollUrl');
        return;
      }
      var i = this._preferred ? this._order.indexOf(this._preferred) : -1;
      this._idx = i === -1 ? 0 : i;
      this._openCurrent();
    }

    /** The transports to try, in order: those with a URL that this browser has. */
    _candidates() {
      var usable = {
        websocket: typeof WebSocket !== 'undefined' && !!this.websocketUrl,
        sse: typeof fetch === 'function' && typeof ReadableStream !== 'undefined' &&
          typeof TextDecoder !== 'undefined' && !!this._sseUrl(),
        longpoll: !!this.longPollUrl
      };
      var t = this.transport || 'auto';
      if (TRANSPORTS.indexOf(t) !== -1) {
        return usable[t] ? [t] : [];
      }
      var self = this;
      return TRANSPORTS.filter(function (name) {
        return usable[name] && !(name === 'websocket' && self.noWebsocket);
      });
    }

    /** sseUrl, or the one derived from longPollUrl or websocketUrl. */
    _sseUrl() {
      if (this.sseUrl) {
        return this.sseUrl;
      }
      var m = /^([^?#]*\/)listen\/?([?#].*)?$/.exec(this.longPollUrl || '');
      if (m) {
        return m[1] + 'sse' + (m[2] || '');
      }
      m = /^ws(s?):(\/\/[^?#]*\/)ws\/?([?#].*)?$/i.exec(this.websocketUrl || '');
      if (m) {
        return 'http' + m[1] + ':' + m[2] + 'sse' + (m[3] || '');
      }
      return '';
    }

    _openCurrent() {
      var name = this._order && this._order[this._idx];
      if (name === 'websocket') {
        this.openWebsocket();
      } else if (name === 'sse') {
        this.openSse();
      } else {
        this.openLongPoll();
      }
    }

    /** Opens a websocket connection (resuming after lastSeq). */
    openWebsocket() {
      var gen = this._begin();
      var self = this;
      var url = withParams(this.websocketUrl, this._resumeParams({ conn_id: this.connectionId, last_seq: this.lastSeq }));
      var ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        this.listenErrorCallback(null, e);
        this._failedToOpen(gen, {});
        return;
      }
      this.websocket = ws;
      var opened = false;
      this._openTimer = setTimeout(function () {
        if (gen === self._gen && !opened) {
          self.listenErrorCallback(null, 'channelstream: the WebSocket did not open within ' + self.openTimeout + ' ms');
          self._failedToOpen(gen, {});
        }
      }, this.openTimeout);
      ws.onopen = function (event) {
        if (gen !== self._gen) {
          return;
        }
        opened = true;
        self._opened(gen, 'websocket', event);
        self._touch(gen);
        self.createHeartBeats();
        self._stableTimer = setTimeout(function () {
          if (gen === self._gen) {
            self._stable();
          }
        }, STABLE_MS);
      };
      ws.onmessage = function (event) {
        if (gen !== self._gen) {
          return;
        }
        self._touch(gen);
        self._stable();
        self._handleListenWSMessageEvent(event);
      };
      ws.onerror = function (event) {
        if (gen !== self._gen) {
          return;
        }
        self._handleListenErrorEvent(event);
      };
      ws.onclose = function (event) {
        if (gen !== self._gen) {
          return;
        }
        self.connected = false;
        self.listenCloseCallback(event);
        if (gen !== self._gen) {
          return; // the callback reconnected or closed
        }
        // 1000 is the server's "unknown connection" / "connection closed":
        // a new connect() is needed. Anything else (1006 dropped, 1012
        // restart, 4000 replaced, 1008 slow) resumes the same connection.
        var gone = event.code === 1000;
        if (!opened) {
          self._failedToOpen(gen, { gone: gone });
        } else {
          self._dropped(gen, { gone: gone });
        }
      };
    }

    /** Opens the Server-Sent Events transport (resuming after lastSeq). */
    openSse() {
      var gen = this._begin();
      var self = this;
      // A new stream cannot set Last-Event-ID: the cursor goes as cursor=.
      var url = withParams(this._sseUrl(), this._cursorValid() ? { conn_id: this.connectionId, cursor: this.cursor } :
        { conn_id: this.connectionId, last_event_id: this.lastSeq });
      var ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
      this._sseAbort = ctl;
      var opened = false;
      var parser = new SseParser(function (ev) {
        if (gen !== self._gen || ev.type !== 'message') {
          return;
        }
        var list;
        try {
          list = JSON.parse(ev.data);
        } catch (e) {
          return;
        }
        self._handleFrames(list, ev.id);
      });
      this._openTimer = setTimeout(function () {
        if (gen === self._gen && !opened) {
          self.listenErrorCallback(null, 'channelstream: no SSE data within ' + self.openTimeout + ' ms (a buffering proxy?)');
          self._failedToOpen(gen, {});
        }
      }, this.openTimeout);
      var response = null;
      fetch(url, {
        signal: ctl ? ctl.signal : undefined,
        cache: 'no-store',
        credentials: 'same-origin',
        headers: { Accept: 'text/event-stream' }
      }).then(function (resp) {
        response = resp;
        if (gen !== self._gen) {
          if (ctl) { ctl.abort(); }
          return null;
        }
        var type = resp.headers.get('Content-Type') || '';
        if (!resp.ok || !resp.body || type.indexOf('text/event-stream') === -1) {
          return resp.text().catch(function () { return ''; }).then(function (text) {
            if (gen !== self._gen) {
              return;
            }
            self.listenErrorCallback(resp, text);
            self._failedToOpen(gen, {
              gone: resp.status === 404 && /unknown connection/.test(text),
              busy: resp.status === 503
            });
          });
        }
        var reader = resp.body.getReader();
        var decoder = new TextDecoder();
        var pump = function () {
          return reader.read().then(function (chunk) {
            if (gen !== self._gen) {
              reader.cancel().catch(function () {});
              return;
            }
            if (chunk.done) {
              self.connected = false;
              self.listenCloseCallback(resp);
              if (!opened) {
                self._failedToOpen(gen, {});
              } else {
                self._dropped(gen, { minDelay: parser.retry });
              }
              return;
            }
            if (!opened) {
              opened = true;
              self._opened(gen, 'sse', resp);
              self._stable();
            }
            self._touch(gen);
            parser.push(decoder.decode(chunk.value, { stream: true }));
            return pump();
          });
        };
        return pump();
      }).catch(function (err) {
        if (gen !== self._gen) {
          return; // aborted by us
        }
        self.connected = false;
        self.listenErrorCallback(response, err);
        if (gen !== self._gen) {
          return;
        }
        if (!opened) {
          self._failedToOpen(gen, {});
        } else {
          self._dropped(gen, { minDelay: parser.retry });
        }
      });
    }

    /**
     * Opens the long-poll transport: polls one after another, resuming after
     * lastSeq. It counts as open at its first answer, or once the first poll
     * has waited LONGPOLL_OPEN_MS without being refused (the server refuses
     * at once; an empty poll answers only after its timeout, 5 s).
     */
    openLongPoll() {
      var gen = this._begin();
      var self = this;
      var st = { opened: false };
      this._openTimer = setTimeout(function () {
        self._longPollOpened(gen, st, self._ajaxListen && self._ajaxListen.request);
      }, LONGPOLL_OPEN_MS);
      this._poll(gen, st);
    }

    _longPollOpened(gen, st, xhr) {
      if (gen !== this._gen || st.opened) {
        return;
      }
      st.opened = true;
      this._opened(gen, 'longpoll', xhr);
      if (gen === this._gen) {
        this._stable();
      }
    }

    _poll(gen, st) {
      var self = this;
      var request = new ChannelStreamRequest();
      request.url = withParams(this.longPollUrl, this._resumeParams({ conn_id: this.connectionId, last_seq: this.lastSeq }));
      request.timeout = this.idleTimeout > 0 ? this.idleTimeout : 0;
      request.handleRequest = function () {};
      request.handleError = function (xhr, data) {
        if (gen !== self._gen) {
          return;
        }
        self._handleListenErrorEvent(xhr, data);
        if (gen !== self._gen) {
          return;
        }
        // 401: the server does not know the connection (upstream too).
        var how = { gone: xhr.status === 401, busy: xhr.status === 503 };
        if (st.opened) {
          self._dropped(gen, how);
        } else {
          self._failedToOpen(gen, how);
        }
      };
      request.handleResponse = function (xhr, data) {
        if (gen !== self._gen) {
          return;
        }
        self._longPollOpened(gen, st, xhr);
        if (gen !== self._gen) {
          return;
        }
        setTimeout(function () {
          if (gen === self._gen) {
            self._poll(gen, st);
          }
        }, 0);
        self._handleFrames(data, null);
      };
      this._ajaxListen = request;
      request.execute();
    }

    /**
     * Schedules a reconnect after the backoff delay: the transport is
     * re-attached to the same connection, or connect() runs when the server
     * no longer knows it.
     */
    retryConnection() {
      this._scheduleRetry(0);
    }

    _scheduleRetry(minDelay) {
      if (!this.shouldReconnect || this._closed || this.sharedRole === 'follower') {
        return;
      }
      this._clearRetry();
      var delay = Math.max(this._nextDelay(), minDelay || 0);
      this._attempt++;
      this._currentBounceIv = delay;
      var self = this;
      this._retryTimer = setTimeout(function () {
        self._retryTimer = null;
        self._reconnect();
      }, delay);
    }

    /** The next reconnect delay: up to increaseBounceIv / 2 at first, then
     * increaseBounceIv doubling up to maxBounceIv, each with random jitter
     * over its upper half. */
    _nextDelay() {
      var step = Math.max(0, Number(this.increaseBounceIv) || 0);
      if (this._attempt === 0) {
        return Math.random() * step / 2;
      }
      var base = Math.min(this.maxBounceIv || 60000, step * Math.pow(2, Math.min(this._attempt - 1, 30)));
      return base / 2 + Math.random() * base / 2;
    }

    _clearRetry() {
      if (this._retryTimer !== null) {
        clearTimeout(this._retryTimer);
        this._retryTimer = null;
      }
    }

    _reconnect() {
      if (this._closed || this.sharedRole === 'follower') {
        return;
      }
      if (this.connectionId && !this._connGone) {
        if (!this._order || !this._order.length) {
          this._order = this._candidates();
          this._idx = 0;
        }
        if (this._order.length) {
          this._openCurrent();
        }
        return;
      }
      this._connectRequest();
    }

    /**
     * Closes the listening transport without reconnecting. The connection
     * stays on the server (a WebSocket closes with 4001 "coming back") until
     * startListening() resumes it or the server collects it after its
     * conn_timeout; disconnect() ends it at once.
     */
    closeConnection() {
      this._closed = true;
      this._clearRetry();
      this._teardown();
      var g = this._group;
      if (g) {
        this._leaveGroup(g);
      }
      this.connected = false;
      this.currentTransport = null;
      this.connectionClosedCallback();
    }

    /** Listens for the page going away (once per instance). */
    _hookPage() {
      if (this._pageHooked || !root || typeof root.addEventListener !== 'function') {
        return;
      }
      this._pageHooked = true;
      root.addEventListener('pagehide', this._pageHide.bind(this));
      root.addEventListener('pageshow', this._pageShow.bind(this));
    }

    /**
     * The page goes away: end the connection at once (see leaveOnPageHide),
     * or, as a shared leader with other tabs waiting, hand it over.
     */
    _pageHide() {
      if (!this.leaveOnPageHide || this._closed || !this.connectionId) {
        return;
      }
      var g = this._group;
      if (g && this.sharedRole === 'follower') {
        this._post({ t: 'bye', tab: this._tab });
        return;
      }
      if (g && this.sharedRole === 'leader' && Object.keys(g.peers).length) {
        this._teardown(false); // a waiting tab takes the connection over
        return;
      }
      var ws = this.websocket;
      var socketOpen = !!ws && ws.readyState === WebSocket.OPEN;
      var id = this.connectionId;
      this._closed = true;
      this._leftOnHide = true;
      this._clearRetry();
      this._teardown(true);
      var url = this._beaconUrl();
      if (!socketOpen && url && typeof navigator !== 'undefined' && navigator.sendBeacon) {
        try {
          navigator.sendBeacon(url, JSON.stringify({ conn_id: id }));
        } catch (e) {
          // the page is going anyway
        }
      }
    }

    /** Back from the back/forward cache after pagehide ended the connection: connect anew. */
    _pageShow(event) {
      if (!event || !event.persisted || !this._leftOnHide) {
        return;
      }
      this._leftOnHide = false;
      this._connGone = true;
      this.connect();
    }

    /** beaconUrl, or the gateway's /disconnect derived from the transport URLs. */
    _beaconUrl() {
      if (this.beaconUrl) {
        return this.beaconUrl;
      }
      var urls = [this.longPollUrl, this.sseUrl];
      var m;
      for (var i = 0; i < urls.length; i++) {
        m = /^([^?#]*\/)(?:listen|sse)\/?(?:[?#].*)?$/.exec(urls[i] || '');
        if (m) {
          return m[1] + 'disconnect';
        }
      }
      m = /^ws(s?):(\/\/[^?#]*\/)ws\/?(?:[?#].*)?$/i.exec(this.websocketUrl || '');
      if (m) {
        return 'http' + m[1] + ':' + m[2] + 'disconnect';
      }
      return '';
    }

    /** Starts sending heartbeats over the open WebSocket. */
    createHeartBeats() {
      if (typeof this._heartbeat === 'undefined' && this.websocket !== null && this.heartbeats) {
        this._heartbeat = setInterval(this._sendHeartBeat.bind(this), HEARTBEAT_MS);
      }
    }

    _sendHeartBeat() {
      if (this.websocket && this.websocket.readyState === WebSocket.OPEN && this.heartbeats) {
        this.websocket.send(JSON.stringify({ type: 'heartbeat' }));
      }
    }

    // ---- transport lifecycle -------------------------------------------------

    /** Closes whatever transport is open and starts a new generation. */
    _begin() {
      this._teardown();
      this._clearRetry();
      if (this.connectionId !== this._seqConnId) {
        // connectionId was set by hand: lastSeq counted for another one.
        this._seqConnId = this.connectionId;
        this.lastSeq = 0;
        this.cursor = '';
      }
      return this._gen;
    }

    /**
     * Closes the transport; its late events are ignored from now on. A
     * WebSocket is closed with 1000 when leaving (the server removes the
     * connection at once), else with CLOSE_COMING_BACK (it keeps it).
     */
    _teardown(leaving) {
      this._gen++;
      clearTimeout(this._openTimer);
      clearTimeout(this._idleTimer);
      clearTimeout(this._stableTimer);
      if (typeof this._heartbeat !== 'undefined') {
        clearInterval(this._heartbeat);
        this._heartbeat = undefined;
      }
      var ws = this.websocket;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
          try {
            if (leaving) {
              ws.close(1000);
            } else {
              ws.close(CLOSE_COMING_BACK, 'coming back');
            }
          } catch (e) {
            // already closing
          }
        }
        this.websocket = null;
      }
      if (this._sseAbort) {
        this._sseAbort.abort();
        this._sseAbort = null;
      }
      if (this._ajaxListen) {
        this._ajaxListen.abort();
        this._ajaxListen = null;
      }
    }

    _opened(gen, name, event) {
      clearTimeout(this._openTimer);
      this._preferred = name;
      this.connected = true;
      this.currentTransport = name;
      this.listenOpenedCallback(event);
      this._shareState();
    }

    /** The transport works: the backoff starts over. */
    _stable() {
      clearTimeout(this._stableTimer);
      this._attempt = 0;
      this._currentBounceIv = 0;
    }

    /** Arms the idle watchdog of a streaming transport. */
    _touch(gen) {
      clearTimeout(this._idleTimer);
      if (!(this.idleTimeout > 0)) {
        return;
      }
      var self = this;
      this._idleTimer = setTimeout(function () {
        if (gen !== self._gen) {
          return;
        }
        self.connected = false;
        self.listenErrorCallback(null, 'channelstream: nothing received for ' + self.idleTimeout + ' ms');
        if (gen === self._gen) {
          self._dropped(gen, {});
        }
      }, this.idleTimeout);
    }

    /**
     * A transport did not open. how.gone: the server does not know the
     * connection; how.busy: it is refusing for now (503). Otherwise the next
     * candidate is tried at once, and after the last one the first again
     * after the backoff delay.
     */
    _failedToOpen(gen, how) {
      if (gen !== this._gen) {
        return;
      }
      this._teardown();
      this.connected = false;
      this.currentTransport = null;
      if (this._closed) {
        return;
      }
      if (how.gone) {
        this._connGone = true;
      } else if (!how.busy && this._order && this._idx + 1 < this._order.length) {
        this._idx++;
        this._openCurrent();
        return;
      } else if (!how.busy && this._order) {
        this._idx = 0;
      }
      this._shareState();
      this._scheduleRetry(0);
    }

    /** An open transport dropped: reconnect the same one after the backoff. */
    _dropped(gen, how) {
      if (gen !== this._gen) {
        return;
      }
      this._teardown();
      this.connected = false;
      this.currentTransport = null;
      if (how.gone) {
        this._connGone = true;
      }
      this._shareState();
      if (!this._closed) {
        this._scheduleRetry(how.minDelay || 0);
      }
    }

    /**
     * Delivers one frame: drops objects already seen (seq <= lastSeq),
     * passes gap objects to gapCallback and the rest, as a list, to
     * listenMessageCallback (an empty frame is a heartbeat, passed on as
     * upstream does).
     */
    _handleFrames(list, eventId) {
      if (!Array.isArray(list)) {
        this._safe(this.listenMessageCallback, [list]);
        return;
      }
      var seq = this.lastSeq;
      var cursor = this.cursor;
      var out = [];
      var gaps = [];
      for (var i = 0; i < list.length; i++) {
        var m = list[i];
        if (m && typeof m === 'object') {
          if (typeof m.seq === 'number' && m.seq <= seq && m.type !== 'gap') {
            continue; // already delivered
          }
          if (typeof m.cursor === 'string' && CURSOR.test(m.cursor)) {
            cursor = m.cursor;
          }
          if (m.type === 'gap') {
            gaps.push(m);
            if (typeof m.to_seq === 'number' && m.to_seq > seq) {
              seq = m.to_seq;
            }
            continue;
          }
          if (typeof m.seq === 'number') {
            seq = m.seq;
          }
        }
        out.push(m);
      }
      if (eventId && CURSOR.test(eventId) && cursorSeq(eventId) >= seq) {
        // SSE: the event id is the seq, or in a cluster the cursor.
        seq = cursorSeq(eventId);
        cursor = eventId.indexOf('-') === -1 ? cursor : eventId;
      }
      this.lastSeq = seq;
      this.cursor = cursor;
      this._deliver(out, gaps, list.length === 0);
      if (this._group && this.sharedRole === 'leader' && (out.length || gaps.length)) {
        this._post({ t: 'frames', connId: this.connectionId, lastSeq: seq, cursor: cursor, list: out, gaps: gaps });
      }
    }

    /** The cursor is the position of lastSeq (not older: objects without one came after it). */
    _cursorValid() {
      return !!this.cursor && cursorSeq(this.cursor) === this.lastSeq;
    }

    /** params plus the cursor, when it is valid, beside last_seq. */
    _resumeParams(params) {
      if (this._cursorValid()) {
        params.cursor = this.cursor;
      }
      return params;
    }

    _deliver(out, gaps, heartbeat) {
      for (var i = 0; i < gaps.length; i++) {
        this._safe(this.gapCallback, [gaps[i]]);
      }
      if (out.length || heartbeat) {
        this._safe(this.listenMessageCallback, [out]);
      }
    }

    _safe(fn, args) {
      try {
        fn.apply(this, args);
      } catch (e) {
        report(e);
      }
    }

    // ---- shared connection (one per browser) -------------------------------------

    _sharedConnect() {
      var g = this._group;
      if (g) {
        if (this.sharedRole === 'leader') {
          this._connectRequest();
        } else {
          this._post({ t: 'hello', tab: this._tab });
        }
        return;
      }
      var key = this.sharedKey || (this.connectUrl + '|' + this.username);
      g = {
        lockName: 'channelstream:' + key,
        bc: new BroadcastChannel('channelstream:' + key),
        abort: typeof AbortController !== 'undefined' ? new AbortController() : null,
        release: null,
        wanted: (this.channels || []).slice(),
        joined: false,
        peers: {} // the leader's view of the other tabs waiting (by tab id)
      };
      this._group = g;
      var self = this;
      g.bc.onmessage = function (ev) {
        if (self._group === g) {
          self._onShared(ev.data);
        }
      };
      var lead = function (lock) {
        if (!lock || self._group !== g) {
          return null;
        }
        return new Promise(function (resolve) {
          g.release = resolve;
          self._lead(g);
        });
      };
      navigator.locks.request(g.lockName, { ifAvailable: true }, function (lock) {
        if (lock) {
          return lead(lock);
        }
        if (self._group !== g) {
          return null;
        }
        self.sharedRole = 'follower';
        self._post({ t: 'hello', tab: self._tab });
        var opts = g.abort ? { signal: g.abort.signal } : {};
        navigator.locks.request(g.lockName, opts, lead).catch(function () {});
        return null;
      }).catch(function () {});
    }

    /** This tab holds the lock: it owns the transport. */
    _lead(g) {
      this.sharedRole = 'leader';
      g.peers = {};
      this._post({ t: 'who' }); // the followers answer hello
      if (this._closed) {
        return;
      }
      if (g.joined && this.connectionId && !this._connGone) {
        // Take over the connection the previous leader had, from lastSeq.
        if (this.connected) {
          this.connected = false;
          this.currentTransport = null;
          this.listenCloseCallback(null);
        }
        this._attempt = 0;
        this.startListening(null, this._connectData);
      } else {
        this._connectRequest();
      }
    }

    _post(msg) {
      var g = this._group;
      if (g) {
        try {
          g.bc.postMessage(msg);
        } catch (e) {
          // closed
        }
      }
    }

    /** Tells the other tabs the leader's connection and transport state. */
    _shareState() {
      if (!this._group || this.sharedRole !== 'leader' || !this.connectionId) {
        return;
      }
      this._post({
        t: 'state',
        connId: this.connectionId,
        channels: this.channels,
        lastSeq: this.lastSeq,
        cursor: this.cursor,
        connected: this.connected,
        transport: this.currentTransport,
        connectData: this._connectData
      });
    }

    _onShared(msg) {
      if (!msg || typeof msg !== 'object') {
        return;
      }
      var leader = this.sharedRole === 'leader';
      switch (msg.t) {
        case 'hello':
          if (leader) {
            if (msg.tab && this._group) {
              this._group.peers[msg.tab] = true;
            }
            this._shareState();
          }
          break;
        case 'bye':
          if (leader && msg.tab && this._group) {
            delete this._group.peers[msg.tab];
          }
          break;
        case 'who':
          if (!leader) {
            this._post({ t: 'hello', tab: this._tab });
          }
          break;
        case 'state':
          if (!leader) {
            this._adoptState(msg);
          }
          break;
        case 'frames':
          if (!leader && msg.connId && msg.connId === this.connectionId) {
            var out = [];
            for (var i = 0; i < msg.list.length; i++) {
              var m = msg.list[i];
              if (m && typeof m.seq === 'number' && m.seq <= this.lastSeq) {
                continue;
              }
              out.push(m);
            }
            if (msg.lastSeq > this.lastSeq) {
              this.lastSeq = msg.lastSeq;
            }
            if (msg.lastSeq >= this.lastSeq && typeof msg.cursor === 'string') {
              this.cursor = msg.cursor;
            }
            this._deliver(out, msg.gaps || [], false);
          }
          break;
        case 'channels':
          if (msg.connId && msg.connId === this.connectionId) {
            this.channels = msg.channels;
            this.channelsChangedCallback(this.channels);
          }
          break;
      }
    }

    /** A follower learns the leader's connection. */
    _adoptState(s) {
      var g = this._group;
      if (!s.connId || this._closed) {
        return;
      }
      if (!g.joined || s.connId !== this.connectionId) {
        this.connectionId = s.connId;
        this._seqConnId = s.connId;
        this.lastSeq = s.lastSeq || 0;
        this.cursor = typeof s.cursor === 'string' ? s.cursor : '';
        this._connGone = false;
        this._connectData = s.connectData;
        this.channels = (s.channels || []).slice();
        g.joined = true;
        this.channelsChangedCallback(this.channels);
        this.connectCallback(null, s.connectData);
        this.subscribe(g.wanted.filter(function (c) { return (s.channels || []).indexOf(c) === -1; }));
      } else if (JSON.stringify(s.channels) !== JSON.stringify(this.channels)) {
        this.channels = (s.channels || []).slice();
        this.channelsChangedCallback(this.channels);
      }
      if (!!s.connected !== this.connected) {
        this.connected = !!s.connected;
        this.currentTransport = s.connected ? s.transport : null;
        if (this.connected) {
          this.listenOpenedCallback(null);
        } else {
          this.listenCloseCallback(null);
        }
      } else if (this.connected) {
        this.currentTransport = s.transport;
      }
    }

    _leaveGroup(g) {
      if (this.sharedRole === 'follower') {
        this._post({ t: 'bye', tab: this._tab });
      }
      this._group = null;
      if (g.abort) {
        g.abort.abort();
      }
      if (g.release) {
        g.release();
      }
      try {
        g.bc.close();
      } catch (e) {
        // closed
      }
      this.sharedRole = null;
    }

    // ---- callbacks (upstream names; assign your own) ---------------------------------

    /** Fired before the connection starts listening for messages. */
    beforeListeningCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('beforeListeningCallback', request, data);
    }

    /** Fired when the listening connection is closed by closeConnection(). */
    connectionClosedCallback() {
      if (!this.debug) {
        return;
      }
      console.log('connectionClosedCallback');
    }

    /** Fired when the channels property changes. */
    channelsChangedCallback(data) {
      if (!this.debug) {
        return;
      }
      console.log('channelsChangedCallback', data);
    }

    _handleListenOpen(request, data) {
      this.connected = true;
      this.listenOpenedCallback(request, data);
      this.createHeartBeats();
    }

    /** Fired when the client starts listening for messages (each transport open). */
    listenOpenedCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('listenOpenedCallback', request, data);
    }

    _handleListenError(request, data) {
      this.connected = false;
      this.retryConnection(request, data);
    }

    _handleConnectError(request, data) {
      this.connected = false;
      this.retryConnection(request, data);
      this.connectErrorCallback(request, data);
    }

    /** Fired when the connect() call fails. */
    connectErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('connectErrorCallback', request, data);
    }

    _handleListenMessageEvent(data) {
      this._handleFrames(data, null);
    }

    _handleListenWSMessageEvent(event) {
      var parsed;
      try {
        parsed = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      this._handleFrames(parsed, null);
    }

    /** Fired when messages are received: a list of message objects. */
    listenMessageCallback(data) {
      if (!this.debug) {
        return;
      }
      console.log('listenMessageCallback', data);
    }

    /** Fired for a {"type": "gap", "from_seq", "to_seq"} object (added). */
    gapCallback(gap) {
      if (!this.debug) {
        return;
      }
      console.log('gapCallback', gap);
    }

    _handleWebsocketCloseEvent(request, data) {
      this.connected = false;
      this.listenCloseCallback(request, data);
      this.retryConnection();
    }

    /** Fired when the listening transport closes (WebSocket close, SSE end). */
    listenCloseCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('listenCloseCallback', request, data);
    }

    _handleListenErrorEvent(request, data) {
      this.connected = false;
      this.listenErrorCallback(request, data);
    }

    /** Fired on a transport error (WebSocket, SSE or long-poll). */
    listenErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('listenErrorCallback', request, data);
    }

    _handleConnect(request, data) {
      if (this._closed) {
        return;
      }
      if (!data || typeof data !== 'object' || !data.conn_id) {
        this._handleConnectError(request, data);
        return;
      }
      if (data.conn_id !== this._seqConnId) {
        this._seqConnId = data.conn_id;
        this.lastSeq = 0;
        this.cursor = '';
      }
      this._connGone = false;
      this._connectData = data;
      this.connectionId = data.conn_id;
      if (Array.isArray(data.channels)) {
        this.channels = data.channels;
      }
      if (this._group) {
        this._group.joined = true;
      }
      this.channelsChangedCallback(this.channels);
      this.connectCallback(request, data);
      this._shareState();
      this.startListening(request, data);
    }

    /** Fired on a successful connect() call. */
    connectCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('connectCallback', request, data);
    }

    _handleDisconnect(request, data) {
      this.connected = false;
      this.disconnectCallback(request, data);
    }

    /** Fired after a successful disconnect() call. */
    disconnectCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('disconnectCallback', request, data);
    }

    _handleMessage(request, data) {
      this.messageCallback(request, data);
    }

    /** Fired on a successful message() call. */
    messageCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('messageCallback', request, data);
    }

    _handleMessageError(request, data) {
      this.messageErrorCallback(request, data);
    }

    /** Fired on a message() call error. */
    messageErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('messageErrorCallback', request, data);
    }

    _handleMessageEdit(request, data) {
      this.messageEditCallback(request, data);
    }

    /** Fired on a successful edit() call. */
    messageEditCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('messageEditCallback', request, data);
    }

    _handleMessageEditError(request, data) {
      this.messageEditErrorCallback(request, data);
    }

    /** Fired on an edit() call error. */
    messageEditErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('messageEditErrorCallback', request, data);
    }

    _handleMessageDelete(request, data) {
      this.messageDeleteCallback(request, data);
    }

    /** Fired on a successful delete() call. */
    messageDeleteCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('messageDeleteCallback', request, data);
    }

    _handleMessageDeleteError(request, data) {
      this.messageDeleteErrorCallback(request, data);
    }

    /** Fired on a delete() call error. */
    messageDeleteErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('messageDeleteErrorCallback', request, data);
    }

    _handleSubscribe(request, data) {
      if (data && Array.isArray(data.channels)) {
        this.channels = data.channels;
        this._post({ t: 'channels', connId: this.connectionId, channels: this.channels });
      }
      this.channelsChangedCallback(this.channels);
      this.subscribeCallback(request, data);
    }

    /** Fired on a successful subscribe() call. */
    subscribeCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('subscribeCallback', request, data);
    }

    _handleSubscribeError(request, data) {
      this.subscribeErrorCallback(request, data);
    }

    /** Fired on a subscribe() call error. */
    subscribeErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('subscribeErrorCallback', request, data);
    }

    _handleUnsubscribe(request, data) {
      if (data && Array.isArray(data.channels)) {
        this.channels = data.channels;
        this._post({ t: 'channels', connId: this.connectionId, channels: this.channels });
      }
      this.channelsChangedCallback(this.channels);
      this.unsubscribeCallback(request, data);
    }

    /** Fired on a successful unsubscribe() call. */
    unsubscribeCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('unsubscribeCallback', request, data);
    }

    _handleUnsubscribeError(request, data) {
      this.unsubscribeErrorCallback(request, data);
    }

    /** Fired on an unsubscribe() call error. */
    unsubscribeErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('unsubscribeErrorCallback', request, data);
    }

    _handleSetUserState(request, data) {
      this.setUserStateCallback(request, data);
    }

    /** Fired on a successful updateUserState() call. */
    setUserStateCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('setUserStateCallback', request, data);
    }

    _handleSetUserStateError(request, data) {
      this.setUserStateErrorCallback(request, data);
    }

    /** Fired on an updateUserState() error. */
    setUserStateErrorCallback(request, data) {
      if (!this.debug) {
        return;
      }
      console.log('setUserStateErrorCallback', request, data);
    }
  }

  function sharedSupported() {
    return typeof BroadcastChannel !== 'undefined' && typeof navigator !== 'undefined' &&
      !!navigator.locks && typeof navigator.locks.request === 'function';
  }

  // ------------------------------------------------------------------------
  // ChannelStreamSigner: itsdangerous TimestampSigner tokens.

  var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  /** Unpadded url-safe base64 of bytes. */
  function b64url(bytes) {
    var out = '';
    for (var i = 0; i < bytes.length; i += 3) {
      var n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
      if (i + 1 < bytes.length) {
        out += B64[(n >> 6) & 63];
      }
      if (i + 2 < bytes.length) {
        out += B64[n & 63];
      }
    }
    return out;
  }

  /** The big-endian bytes of a non-negative integer, without leading zeros. */
  function intBytes(x) {
    var bytes = [];
    x = Math.floor(x);
    while (x > 0) {
      bytes.unshift(x % 256);
      x = Math.floor(x / 256);
    }
    return new Uint8Array(bytes);
  }

  function utf8(s) {
    return new TextEncoder().encode(s);
  }

  function concat(a, b) {
    var out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  /** SHA-1 in plain JavaScript, for where WebCrypto is missing. */
  function sha1(msg) {
    var len = msg.length;
    var words = new Uint32Array((((len + 8) >> 6) + 1) * 16);
    for (var i = 0; i < len; i++) {
      words[i >> 2] |= msg[i] << (24 - (i % 4) * 8);
    }
    words[len >> 2] |= 0x80 << (24 - (len % 4) * 8);
    words[words.length - 1] = len * 8;
    var h0 = 0x67452301, h1 = 0xefcdab89, h2 = 0x98badcfe, h3 = 0x10325476, h4 = 0xc3d2e1f0;
    var w = new Uint32Array(80);
    for (var j = 0; j < words.length; j += 16) {
      for (var t = 0; t < 80; t++) {
        if (t < 16) {
          w[t] = words[j + t];
        } else {
          var x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
          w[t] = (x << 1) | (x >>> 31);
        }
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4;
      for (t = 0; t < 80; t++) {
        var f, k;
        if (t < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
        else if (t < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
        else if (t < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
        else { f = b ^ c ^ d; k = 0xca62c1d6; }
        var tmp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]) >>> 0;
        e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = tmp;
      }
      h0 = (h0 + a) >>> 0; h1 = (h1 + b) >>> 0; h2 = (h2 + c) >>> 0; h3 = (h3 + d) >>> 0; h4 = (h4 + e) >>> 0;
    }
    var out = new Uint8Array(20);
    [h0, h1, h2, h3, h4].forEach(function (h, n) {
      out[n * 4] = h >>> 24; out[n * 4 + 1] = (h >>> 16) & 255; out[n * 4 + 2] = (h >>> 8) & 255; out[n * 4 + 3] = h & 255;
    });
    return out;
  }

  function hmacSha1(key, msg) {
    if (key.length > 64) {
      key = sha1(key);
    }
    var ipad = new Uint8Array(64), opad = new Uint8Array(64);
    for (var i = 0; i < 64; i++) {
      ipad[i] = (key[i] || 0) ^ 0x36;
      opad[i] = (key[i] || 0) ^ 0x5c;
    }
    return sha1(concat(opad, sha1(concat(ipad, msg))));
  }

  function subtleCrypto() {
    var c = root && root.crypto;
    return c && c.subtle && typeof c.subtle.importKey === 'function' ? c.subtle : null;
  }

  /**
   * Signs the value "channelstream" as itsdangerous.TimestampSigner(secret)
   * does, for the x-channelstream-secret header (or ?secret=).
   */
  class ChannelStreamSigner {
    constructor(secret) {
      this.secret = secret;
    }

    /**
     * Returns a Promise of the token "<value>.<timestamp>.<signature>".
     * @param value {string} the signed value (default "channelstream")
     * @param timestamp {number} unix seconds (default now)
     */
    signRequest(value, timestamp) {
      if (value === undefined || value === null) {
        value = 'channelstream';
      }
      if (timestamp === undefined || timestamp === null) {
        timestamp = Date.now() / 1000;
      }
      var signed = value + '.' + b64url(intBytes(timestamp));
      var salted = utf8('itsdangerous.Signer' + 'signer' + this.secret);
      var data = utf8(signed);
      var subtle = subtleCrypto();
      if (!subtle) {
        return Promise.resolve(signed + '.' + b64url(hmacSha1(sha1(salted), data)));
      }
      return subtle.digest('SHA-1', salted).then(function (derived) {
        return subtle.importKey('raw', derived, { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
      }).then(function (key) {
        return subtle.sign('HMAC', key, data);
      }).then(function (sig) {
        return signed + '.' + b64url(new Uint8Array(sig));
      });
    }
  }

  return {
    channelstreamGo: true,
    ChannelStreamConnection: ChannelStreamConnection,
    ChannelStreamSigner: ChannelStreamSigner,
    ChannelStreamRequest: ChannelStreamRequest,
    default: ChannelStreamConnection
  };
});
