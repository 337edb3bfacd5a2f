package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/httpapi"
	"github.com/channelstream-go/channelstream-go/httpapi/client"
	"github.com/channelstream-go/channelstream-go/transports/longpoll"
	"github.com/channelstream-go/channelstream-go/transports/sse"
	"github.com/channelstream-go/channelstream-go/transports/websocket"
	"github.com/channelstream-go/channelstream-go/web"
)

// The demo chat (key demo): the gateway plays the part of the customer's
// web application, like upstream's Pyramid chat demo (UPSTREAM.md §9.2).
// The browser loads /demo, calls /demo/connect, /demo/subscribe, … with
// the client library, and the demo turns each call into a signed REST
// call. The REST API is called in process: a request signed with the
// secret is served by an API handler into a recorder, so the secret never
// leaves the server. Browsers listen on /ws, /sse or /listen directly.
//
// A browser may act only as the user it connected as: the demo remembers
// which user each connection it created belongs to and which user wrote
// each message it sent, and takes the user from there, never from the
// request.
//
// The demo lives in a hub of its own (in memory on this node, whatever
// redis_url says), with its own transports under /demo/ws, /demo/sse,
// /demo/listen and /demo/disconnect: its users, channels and messages
// cannot meet the application's, in either direction. That hub is small
// and bounded (demoHubConfig; users beyond demoMaxUsers are refused with
// 429) and collects what its clients leave, like any hub.

const (
	demoNameMax     = 32            // runes in a user or channel name
	demoTextMax     = 2000          // runes in a message
	demoChannelsMax = 10            // channels in one request
	demoBodyMax     = 64 << 10      // bytes in a request body
	demoRemembered  = 2000          // messages remembered (authors, for edits)
	demoSystemUser  = "system"      // the welcome message's sender; nobody may take the name
	demoDefaultHue  = "#3f6ad8"     // colour of a user who picked none
	demoAPIAddr     = "127.0.0.1:0" // RemoteAddr of the in-process API calls
)

// demoWelcomeDelay is how long after /demo/connect the welcome message
// comes, as in upstream's demo.
const demoWelcomeDelay = 2 * time.Second

// demoPublicKeys are the state keys other users see (upstream's demo keys).
var demoPublicKeys = []string{"email", "status", "bar", "color"}

// demoChannelConfigs are upstream's demo channel settings; a channel of any
// other name gets demoOtherChannel.
var demoChannelConfigs = map[string]map[string]any{
	"pub_chan": {"notify_presence": true, "notify_state": true, "store_history": true, "history_size": 10,
		"broadcast_presence_with_user_lists": true},
	"notify": {"notify_presence": true, "store_history": true, "history_size": 50},
}

var demoOtherChannel = map[string]any{"notify_presence": true, "notify_state": true, "store_history": true,
	"history_size": 20, "broadcast_presence_with_user_lists": true}

const demoWelcomeText = `Welcome! Only you see this message: it is sent to you alone and not kept in history.

Channels behave differently:
• pub_chan: presence, colour changes, user lists, history of 10
• notify: presence and a history of 50, no colour changes
• any other name: like pub_chan, with a history of 20

Open this page in a second window to chat with yourself, and switch transports at the top.`

var (
	demoColour  = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	demoChannel = regexp.MustCompile(`^[\p{L}\p{N}_.:-]+$`)
)

// demo serves /demo and its subtree.
type demo struct {
	hub *core.Hub // the demo's own hub (nil in tests of the actions alone)
	// The demo hub's transports: /demo/ws, /demo/sse, /demo/listen.
	ws       *websocket.Handler
	sse      *sse.Handler
	longpoll *longpoll.Handler

	api          http.Handler // the signed REST API of the demo hub
	secret       string
	pages        fs.FS // web.Static()
	log          zerolog.Logger
	now          func() time.Time
	welcomeDelay time.Duration
	live         func(connID string) bool // whether a connection still exists; nil: always

	conns *demoMemory[string]      // conn_id → username, pruned with the connections
	msgs  *demoMemory[demoMessage] // message uuid → author and routing

	connectMu sync.Mutex // one /demo/connect at a time: the user count holds
}

// demoMessage is what the demo remembers of a message it sent.
type demoMessage struct {
	author  string
	channel string // "" for a private message
	to      string // the addressee of a private message
}

// newDemo returns the demo calling api, signing with secret.
func newDemo(api http.Handler, secret string, log zerolog.Logger) *demo {
	return &demo{
		api:          api,
		secret:       secret,
		pages:        web.Static(),
		log:          log,
		now:          time.Now,
		welcomeDelay: demoWelcomeDelay,
		conns:        newDemoMemory[string](2 * demoMaxConns),
		msgs:         newDemoMemory[demoMessage](demoRemembered),
	}
}

// demoError is an answer to a refused request.
type demoError struct {
	status int
	msg    string
}

func (e *demoError) Error() string { return e.msg }

func demoErr(status int, format string, args ...any) error {
	return &demoError{status: status, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP routes the demo's pages and actions.
func (d *demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/demo")
	if rest == "" || rest == "/" || rest == "/index.html" {
		d.servePage(w, r)
		return
	}
	if t := d.transport(rest); t != nil {
		t.ServeHTTP(w, r)
		return
	}
	allowed, isAction := demoActions[rest]
	if !isAction {
		d.serveAsset(w, r, rest)
		return
	}
	action := map[string]func(*http.Request) (int, []byte, error){
		"/connect": d.connect, "/subscribe": d.subscribe, "/unsubscribe": d.unsubscribe,
		"/user_state": d.userState, "/message": d.message, "/disconnect": d.disconnect,
	}[rest]
	if !slices.Contains(allowed, r.Method) {
		list := strings.Join(allowed, ", ")
		w.Header().Set("Allow", list)
		demoWriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " is not allowed here; use " + list})
		return
	}
	w.Header().Set("Cache-Control", "no-cache, no-store")
	status, body, err := action(r)
	var de *demoError
	switch {
	case errors.As(err, &de):
		demoWriteJSON(w, de.status, map[string]string{"error": de.msg})
	case err != nil:
		d.log.Error().Err(err).Str("path", r.URL.Path).Msg("demo request failed")
		demoWriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// servePage serves index.html with its <base> under the X-Script-Name
// prefix the API stripped (a trusted proxy's only, httpapi.ScriptName), so that its relative links work behind a
// proxy that mounts the gateway below a path.
func (d *demo) servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		demoWriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "the page is GET only"})
		return
	}
	page, err := fs.ReadFile(d.pages, "demo/index.html")
	if err != nil {
		demoWriteJSON(w, http.StatusNotFound, map[string]string{"error": "the demo page is not built in"})
		return
	}
	if prefix := httpapi.ScriptName(r); prefix != "" {
		page = bytes.Replace(page, []byte(`<base href="/demo/">`), []byte(`<base href="`+htmlAttr(prefix)+`/demo/">`), 1)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(page)
	}
}

// serveAsset serves web/static/demo/<name> (demo.js, demo.css).
func (d *demo) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	name := path.Join("demo", path.Clean("/"+rest))
	st, err := fs.Stat(d.pages, name)
	if err != nil || st.IsDir() || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		demoWriteJSON(w, http.StatusNotFound, map[string]string{"error": "no demo page " + r.URL.Path})
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, d.pages, name)
}

func htmlAttr(s string) string {
	return strings.NewReplacer(`&`, "&amp;", `"`, "&quot;", `<`, "&lt;", `>`, "&gt;").Replace(s)
}

func demoWriteJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// call makes a signed request to the REST API in process and returns its
// answer.
func (d *demo) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("encode %s %s: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://channelstream.internal"+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.RemoteAddr = demoAPIAddr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(client.Header, client.Sign(d.secret, client.SignedValue, d.now()))
	rec := httptest.NewRecorder()
	d.api.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), nil
}

// demoDecode reads a JSON object body into v.
func demoDecode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, demoBodyMax+1))
	if err != nil {
		return demoErr(http.StatusBadRequest, "reading the body: %v", err)
	}
	if len(b) > demoBodyMax {
		return demoErr(http.StatusRequestEntityTooLarge, "the body is over %d bytes", demoBodyMax)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return demoErr(http.StatusBadRequest, "the body is not the JSON object expected: %v", err)
	}
	return nil
}

// demoName checks a user name: 1–32 printable characters after trimming.
func demoName(s string) (string, error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n == 0 || n > demoNameMax {
		return "", demoErr(http.StatusUnprocessableEntity, "a name has 1 to %d characters", demoNameMax)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return "", demoErr(http.StatusUnprocessableEntity, "a name has printable characters only")
		}
	}
	if strings.EqualFold(s, demoSystemUser) {
		return "", demoErr(http.StatusUnprocessableEntity, "the name %q is taken by the demo", demoSystemUser)
	}
	return s, nil
}

// demoChannels checks a list of channel names and drops duplicates.
func demoChannels(list []string, min int) ([]string, error) {
	if len(list) < min || len(list) > demoChannelsMax {
		return nil, demoErr(http.StatusUnprocessableEntity, "name %d to %d channels", min, demoChannelsMax)
	}
	out := make([]string, 0, len(list))
	seen := map[string]bool{}
	for _, ch := range list {
		if utf8.RuneCountInString(ch) > demoNameMax || !demoChannel.MatchString(ch) {
			return nil, demoErr(http.StatusUnprocessableEntity, "channel %q: 1 to %d letters, digits or _.:-", ch, demoNameMax)
		}
		if !seen[ch] {
			seen[ch] = true
			out = append(out, ch)
		}
	}
	return out, nil
}

// demoConfigs returns the channel_configs for channels.
func demoConfigs(channels []string) map[string]map[string]any {
	out := make(map[string]map[string]any, len(channels))
	for _, ch := range channels {
		if c, ok := demoChannelConfigs[ch]; ok {
			out[ch] = c
		} else {
			out[ch] = demoOtherChannel
		}
	}
	return out
}

// demoInfo asks for public state only: the demo's users have a private key.
var demoInfo = map[string]any{"return_public_state": true}

// user returns the user a connection created by this demo belongs to, and
// checks a claimed user name, if any, is that one.
func (d *demo) user(connID, claimed string) (string, error) {
	name, ok := d.conns.get(connID)
	if !ok || (d.live != nil && !d.live(connID)) {
		return "", demoErr(http.StatusForbidden, "unknown connection: connect through /demo/connect first")
	}
	if claimed != "" && claimed != name {
		return "", demoErr(http.StatusForbidden, "connection %s belongs to %q, not %q: you may act only as yourself", connID, name, claimed)
	}
	return name, nil
}
