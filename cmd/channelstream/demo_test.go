package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/httpapi"
)

// demoGateway starts a node with the demo on and quick long-polls.
func demoGateway(t *testing.T) *testGateway {
	t.Helper()
	return startGateway(t, func(c *Config) {
		c.Demo = true
		c.LongpollTimeout = time.Second
		c.LongpollGather = 10 * time.Millisecond
	})
}

// demoDo sends a browser's request (no signature) to the node and returns
// the status, the body and the headers.
func demoDo(t *testing.T, base, method, path string, body any, header ...string) (int, []byte, http.Header) {
	t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// demoOK sends a request that must succeed and decodes its answer.
func demoOK(t *testing.T, tg *testGateway, method, path string, body any) any {
	t.Helper()
	code, b, _ := demoDo(t, tg.URL, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s answered %s: %v", method, path, b, err)
	}
	return v
}

// demoConnect connects name through the demo and returns the connection id
// and the answer.
func demoConnect(t *testing.T, tg *testGateway, name, color string, channels ...string) (string, map[string]any) {
	t.Helper()
	res := demoOK(t, tg, "POST", "/demo/connect", map[string]any{"username": name, "color": color, "channels": channels}).(map[string]any)
	id, _ := res["conn_id"].(string)
	if id == "" {
		t.Fatalf("connect answered no conn_id: %v", res)
	}
	return id, res
}

// dig walks a decoded JSON value along keys (object keys or list indexes).
func dig(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// demoInbox reads a connection's frames over long-poll.
type demoInbox struct {
	t      *testing.T
	tg     *testGateway
	connID string
	got    []map[string]any
}

// wait returns the first frame object (received before or polled now)
// that pred accepts, and fails after 10 s.
func (in *demoInbox) wait(what string, pred func(m map[string]any) bool) map[string]any {
	in.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; {
		for ; i < len(in.got); i++ {
			if pred(in.got[i]) {
				m := in.got[i]
				in.got = slices.Delete(in.got, i, i+1)
				return m
			}
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("%s never received %s; got %v", in.connID, what, in.got)
		}
		code, b, _ := demoDo(in.t, in.tg.URL, "GET", "/demo/listen?conn_id="+in.connID, nil)
		if code != http.StatusOK {
			in.t.Fatalf("listen: %d %s", code, b)
		}
		var frames []map[string]any
		if err := json.Unmarshal(b, &frames); err != nil {
			in.t.Fatalf("listen answered %s: %v", b, err)
		}
		in.got = append(in.got, frames...)
	}
}

// demoHubInfo is /info of the demo's own hub for channels, decoded.
func demoHubInfo(t *testing.T, tg *testGateway, channels ...string) any {
	t.Helper()
	opts := core.DefaultInfoOptions()
	opts.Channels = channels
	b, err := json.Marshal(tg.g.demo.hub.Info(t.Context(), opts))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func demoIs(typ, user string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ && (user == "" || m["user"] == user) }
}

func demoPresence(user, channel, action string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		return m["type"] == "presence" && m["user"] == user && m["channel"] == channel && dig(m, "message", "action") == action
	}
}

func TestDemoIsOffUnlessEnabled(t *testing.T) {
	tg := startGateway(t, nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/demo"}, {"GET", "/demo/"}, {"GET", "/demo/demo.js"}, {"POST", "/demo/connect"}, {"POST", "/demo/message"},
	} {
		if code, b, _ := demoDo(t, tg.URL, c.method, c.path, `{"username": "alice"}`); code != http.StatusNotFound {
			t.Errorf("%s %s with demo = false: %d %s, want 404", c.method, c.path, code, b)
		}
	}
}

func TestDemoServesThePage(t *testing.T) {
	tg := demoGateway(t)
	for _, p := range []string{"/demo", "/demo/", "/demo/index.html"} {
		code, b, h := demoDo(t, tg.URL, "GET", p, nil)
		if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", p, code, h.Get("Content-Type"))
		}
		page := string(b)
		for _, want := range []string{`<base href="/demo/">`, `src="../static/channelstream.js"`, `src="demo.js"`, `href="demo.css"`} {
			if !strings.Contains(page, want) {
				t.Errorf("GET %s: the page lacks %s", p, want)
			}
		}
		if strings.Contains(page, tg.Secret) {
			t.Errorf("GET %s: the page holds the secret", p)
		}
	}
	t.Run("assets are served", func(t *testing.T) {
		for path, ctype := range map[string]string{"/demo/demo.js": "javascript", "/demo/demo.css": "text/css", "/static/channelstream.js": "javascript"} {
			code, _, h := demoDo(t, tg.URL, "GET", path, nil)
			if code != http.StatusOK || !strings.Contains(h.Get("Content-Type"), ctype) {
				t.Errorf("GET %s: %d %s", path, code, h.Get("Content-Type"))
			}
		}
	})
	t.Run("a trusted proxy's prefix moves the base", func(t *testing.T) {
		proxied := startGateway(t, func(c *Config) { c.Demo, c.TrustedProxies = true, []string{"127.0.0.1"} })
		code, b, _ := demoDo(t, proxied.URL, "GET", "/chat/demo", nil, "X-Script-Name", "/chat")
		if code != http.StatusOK || !strings.Contains(string(b), `<base href="/chat/demo/">`) {
			t.Fatalf("GET /chat/demo with X-Script-Name: %d, base %q", code, b[:min(len(b), 300)])
		}
	})
	t.Run("anyone else's prefix does not", func(t *testing.T) {
		code, b, _ := demoDo(t, tg.URL, "GET", "/demo", nil, "X-Script-Name", "/chat")
		if code != http.StatusOK || !strings.Contains(string(b), `<base href="/demo/">`) {
			t.Fatalf("GET /demo with an untrusted X-Script-Name: %d, base %q", code, b[:min(len(b), 300)])
		}
	})
	t.Run("unknown pages and wrong methods are refused", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			want         int
		}{
			{"GET", "/demo/nothing.js", 404}, {"GET", "/demo/../web.go", 404}, {"GET", "/demo/connect", 405},
			{"PUT", "/demo/message", 405}, {"POST", "/demo", 405}, {"PATCH", "/demo/subscribe", 405},
		} {
			if code, b, _ := demoDo(t, tg.URL, c.method, c.path, nil); code != c.want {
				t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, b, c.want)
			}
		}
	})
}

// demoFakeAPI records the demo's API calls, checking each is signed.
type demoFakeAPI struct {
	t      *testing.T
	secret string

	mu    sync.Mutex
	calls []demoCall
}

type demoCall struct {
	Method, Path, RemoteAddr string
	Body                     any
}

func (f *demoFakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := r.Header.Get("X-Channelstream-Secret")
	if err := httpapi.NewVerifier(f.secret, time.Minute, nil).Verify(token); err != nil {
		f.t.Errorf("%s %s is not signed with the secret: %q: %v", r.Method, r.URL.Path, token, err)
	}
	var body any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("%s %s body: %v", r.Method, r.URL.Path, err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, demoCall{r.Method, r.URL.Path, r.RemoteAddr, body})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/connect":
		_, _ = io.WriteString(w, `{"conn_id": "00000000-0000-4000-8000-000000000001", "username": "alice"}`)
	case "/message":
		_, _ = io.WriteString(w, `[{"uuid": "00000000-0000-4000-8000-0000000000aa"}]`)
	default:
		_, _ = io.WriteString(w, `{}`)
	}
}

func (f *demoFakeAPI) call(path string, n int) (demoCall, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c.Path == path {
			if n == 0 {
				return c, true
			}
			n--
		}
	}
	return demoCall{}, false
}

func TestDemoSignsItsAPICallsAndKeepsTheSecret(t *testing.T) {
	const secret = "demo-test-secret"
	api := &demoFakeAPI{t: t, secret: secret}
	d := newDemo(api, secret, zerolog.Nop())
	d.welcomeDelay = 10 * time.Millisecond
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)

	code, b, _ := demoDo(t, srv.URL, "POST", "/demo/connect", map[string]any{
		"username": " alice ", "channels": []string{"pub_chan", "notify", "room", "room"}, "state": map[string]any{"color": "#AA0000"},
	})
	if code != http.StatusOK || strings.Contains(string(b), secret) {
		t.Fatalf("connect: %d %s", code, b)
	}
	c, ok := api.call("/connect", 0)
	if !ok {
		t.Fatal("no /connect call")
	}
	if c.Method != "POST" || !strings.HasPrefix(c.RemoteAddr, "127.0.0.1:") {
		t.Errorf("/connect call: %s from %s", c.Method, c.RemoteAddr)
	}
	want := map[string]any{
		"username": "alice",
		"channels": []any{"pub_chan", "notify", "room"},
		"fresh_user_state": map[string]any{
			"email": nil, "status": "online", "private": "only the demo backend sees this", "bar": 1.0,
		},
		"user_state":        map[string]any{"color": "#aa0000"},
		"state_public_keys": []any{"email", "status", "bar", "color"},
		"info":              map[string]any{"return_public_state": true},
		"channel_configs": map[string]any{
			"pub_chan": map[string]any{"notify_presence": true, "notify_state": true, "store_history": true,
				"history_size": 10.0, "broadcast_presence_with_user_lists": true},
			"notify": map[string]any{"notify_presence": true, "store_history": true, "history_size": 50.0},
			"room": map[string]any{"notify_presence": true, "notify_state": true, "store_history": true,
				"history_size": 20.0, "broadcast_presence_with_user_lists": true},
		},
	}
	if !reflect.DeepEqual(c.Body, want) {
		t.Errorf("/connect body\n got %v\nwant %v", c.Body, want)
	}

	deadline := time.Now().Add(5 * time.Second)
	welcome, ok := api.call("/message", 0)
	for ; !ok && time.Now().Before(deadline); welcome, ok = api.call("/message", 0) {
		time.Sleep(5 * time.Millisecond)
	}
	if !ok {
		t.Fatal("no welcome message")
	}
	el := dig(welcome.Body, 0)
	if dig(el, "user") != "system" || dig(el, "channel") != "pub_chan" || !reflect.DeepEqual(dig(el, "pm_users"), []any{"alice"}) ||
		dig(el, "no_history") != true || !strings.Contains(fmt.Sprint(dig(el, "message", "text")), "Welcome") {
		t.Errorf("welcome message %v", welcome.Body)
	}

	id := "00000000-0000-4000-8000-000000000001"
	for _, step := range []struct {
		method, path string
		body         any
		apiPath      string
		want         map[string]any
	}{
		{"POST", "/demo/subscribe", map[string]any{"conn_id": id, "channels": []string{"other"}}, "/subscribe",
			map[string]any{"conn_id": id, "channels": []any{"other"}, "info": map[string]any{"return_public_state": true}}},
		{"POST", "/demo/unsubscribe", map[string]any{"conn_id": id, "channels": []string{"notify"}}, "/unsubscribe",
			map[string]any{"conn_id": id, "channels": []any{"notify"}, "info": map[string]any{"return_public_state": true}}},
		{"POST", "/demo/user_state", map[string]any{"username": "alice", "conn_id": id, "update_state": map[string]any{"user_state": map[string]any{"color": "#00AA00"}}}, "/user_state",
			map[string]any{"user": "alice", "user_state": map[string]any{"color": "#00aa00"}}},
	} {
		if code, b, _ := demoDo(t, srv.URL, step.method, step.path, step.body); code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", step.method, step.path, code, b)
		}
		c, ok := api.call(step.apiPath, 0)
		if !ok {
			t.Fatalf("%s made no %s call", step.path, step.apiPath)
		}
		body, _ := c.Body.(map[string]any)
		delete(body, "channel_configs")
		if !reflect.DeepEqual(body, step.want) {
			t.Errorf("%s body\n got %v\nwant %v", step.apiPath, body, step.want)
		}
	}
	if code, b, _ := demoDo(t, srv.URL, "POST", "/demo/message", map[string]any{"conn_id": id, "to": "bob", "message": map[string]any{"text": " hi "}}); code != http.StatusOK {
		t.Fatalf("message: %d %s", code, b)
	}
	pm, _ := api.call("/message", 1)
	if want := []any{map[string]any{"user": "alice", "pm_users": []any{"bob", "alice"}, "message": map[string]any{"text": "hi", "to": "bob"}}}; !reflect.DeepEqual(pm.Body, want) {
		t.Errorf("private message body\n got %v\nwant %v", pm.Body, want)
	}
}

func TestDemoForwardsToTheAPI(t *testing.T) {
	tg := demoGateway(t)
	alice, res := demoConnect(t, tg, "alice", "#AA0000", "pub_chan", "notify")
	if dig(res, "public_state", "color") != "#aa0000" || dig(res, "state", "private") == nil {
		t.Errorf("connect answer state %v public_state %v", res["state"], res["public_state"])
	}
	bob, res := demoConnect(t, tg, "bob", "#0000aa", "pub_chan")
	users, _ := dig(res, "channels_info", "users").([]any)
	for _, u := range users {
		if dig(u, "state", "private") != nil {
			t.Errorf("channels_info shows private state: %v", u)
		}
	}
	if !reflect.DeepEqual(dig(res, "channels_info", "channels", "pub_chan", "users"), []any{"alice", "bob"}) {
		t.Errorf("pub_chan users %v", dig(res, "channels_info", "channels", "pub_chan", "users"))
	}
	v := demoHubInfo(t, tg, "pub_chan", "notify")
	for ch, want := range map[string]map[string]any{
		"pub_chan": {"notify_presence": true, "notify_state": true, "store_history": true, "history_size": 10.0, "broadcast_presence_with_user_lists": true},
		"notify":   {"notify_presence": true, "notify_state": false, "store_history": true, "history_size": 50.0, "broadcast_presence_with_user_lists": false},
	} {
		for k, w := range want {
			if got := dig(v, "channels", ch, "settings", k); got != w {
				t.Errorf("%s %s = %v, want %v", ch, k, got, w)
			}
		}
	}

	bobIn := &demoInbox{t: t, tg: tg, connID: bob}
	aliceIn := &demoInbox{t: t, tg: tg, connID: alice}
	welcome := bobIn.wait("the welcome message", demoIs("message", "system"))
	if dig(welcome, "channel") != "pub_chan" || !strings.Contains(fmt.Sprint(dig(welcome, "message", "text")), "Welcome") {
		t.Errorf("welcome %v", welcome)
	}

	t.Run("message, edit, delete", func(t *testing.T) {
		sent := demoOK(t, tg, "POST", "/demo/message", map[string]any{"conn_id": alice, "channel": "pub_chan", "message": map[string]any{"text": "hello bob"}})
		uuid, _ := dig(sent, 0, "uuid").(string)
		m := bobIn.wait("alice's message", demoIs("message", "alice"))
		if m["uuid"] != uuid || dig(m, "message", "text") != "hello bob" || m["channel"] != "pub_chan" {
			t.Errorf("message %v", m)
		}
		demoOK(t, tg, "PATCH", "/demo/message", map[string]any{"conn_id": alice, "uuid": uuid, "message": map[string]any{"text": "hello, bob"}})
		e := bobIn.wait("the edit", demoIs("message:edit", ""))
		if e["uuid"] != uuid || dig(e, "message", "text") != "hello, bob" || e["channel"] != "pub_chan" || e["user"] != "alice" {
			t.Errorf("edit %v", e)
		}
		demoOK(t, tg, "DELETE", "/demo/message", map[string]any{"conn_id": alice, "uuid": uuid})
		if d := bobIn.wait("the delete", demoIs("message:delete", "")); d["uuid"] != uuid || d["channel"] != "pub_chan" {
			t.Errorf("delete %v", d)
		}
	})
	t.Run("private message reaches both and names the addressee", func(t *testing.T) {
		demoOK(t, tg, "POST", "/demo/message", map[string]any{"conn_id": alice, "to": "bob", "message": map[string]any{"text": "psst"}})
		for _, in := range []*demoInbox{bobIn, aliceIn} {
			m := in.wait("the private message", func(m map[string]any) bool { return m["type"] == "message" && dig(m, "message", "text") == "psst" })
			if m["channel"] != nil || m["user"] != "alice" || dig(m, "message", "to") != "bob" {
				t.Errorf("private message %v", m)
			}
		}
	})
	t.Run("colour change", func(t *testing.T) {
		demoOK(t, tg, "POST", "/demo/user_state", map[string]any{"username": "alice", "conn_id": alice, "update_state": map[string]any{"user_state": map[string]any{"color": "#00aa00"}}})
		m := bobIn.wait("alice's state change", demoIs("user_state_change", "alice"))
		if dig(m, "message", "state", "color") != "#00aa00" || dig(m, "message", "state", "private") != nil {
			t.Errorf("user_state_change %v", m)
		}
	})
	t.Run("subscribe and unsubscribe with presence", func(t *testing.T) {
		res := demoOK(t, tg, "POST", "/demo/subscribe", map[string]any{"conn_id": bob, "channels": []string{"notify", "room-1"}})
		if !reflect.DeepEqual(dig(res, "subscribed_to"), []any{"notify", "room-1"}) || dig(res, "channels_info", "channels", "room-1", "settings", "notify_presence") != true {
			t.Errorf("subscribe %v", res)
		}
		if p := aliceIn.wait("bob joining notify", demoPresence("bob", "notify", "joined")); dig(p, "state", "color") != "#0000aa" {
			t.Errorf("presence %v", p)
		}
		res = demoOK(t, tg, "POST", "/demo/unsubscribe", map[string]any{"conn_id": bob, "channels": []string{"notify"}})
		if !reflect.DeepEqual(dig(res, "unsubscribed_from"), []any{"notify"}) {
			t.Errorf("unsubscribe %v", res)
		}
		aliceIn.wait("bob leaving notify", demoPresence("bob", "notify", "parted"))
	})
	t.Run("history seeds a newcomer", func(t *testing.T) {
		demoOK(t, tg, "POST", "/demo/message", map[string]any{"conn_id": bob, "channel": "pub_chan", "message": map[string]any{"text": "for the record"}})
		bobIn.wait("bob's own message", demoIs("message", "bob"))
		_, res := demoConnect(t, tg, "carol", "#123456", "pub_chan")
		hist, _ := dig(res, "channels_info", "channels", "pub_chan", "history").([]any)
		var texts []any
		for _, h := range hist {
			texts = append(texts, dig(h, "message", "text"))
		}
		if !slices.Contains(texts, "for the record") || slices.Contains(texts, "hello, bob") {
			t.Errorf("history texts %v", texts)
		}
	})
}

func TestDemoRefusesActingAsAnotherUser(t *testing.T) {
	tg := demoGateway(t)
	alice, _ := demoConnect(t, tg, "alice", "#aa0000", "pub_chan")
	bob, _ := demoConnect(t, tg, "bob", "#0000aa", "pub_chan")
	uuid, _ := dig(demoOK(t, tg, "POST", "/demo/message", map[string]any{"conn_id": alice, "channel": "pub_chan", "message": map[string]any{"text": "mine"}}), 0, "uuid").(string)
	stranger := "3f2a6c1e-0000-4000-8000-00000000beef"
	for _, c := range []struct {
		name         string
		method, path string
		body         map[string]any
		want         int
	}{
		{"edit another's message", "PATCH", "/demo/message", map[string]any{"conn_id": bob, "uuid": uuid, "message": map[string]any{"text": "yours now"}}, 403},
		{"delete another's message", "DELETE", "/demo/message", map[string]any{"conn_id": bob, "uuid": uuid}, 403},
		{"send as another user", "POST", "/demo/message", map[string]any{"conn_id": bob, "user": "alice", "channel": "pub_chan", "message": map[string]any{"text": "I am alice"}}, 403},
		{"change another's state", "POST", "/demo/user_state", map[string]any{"conn_id": bob, "username": "alice", "update_state": map[string]any{"user_state": map[string]any{"color": "#000000"}}}, 403},
		{"unknown connection sends", "POST", "/demo/message", map[string]any{"conn_id": stranger, "channel": "pub_chan", "message": map[string]any{"text": "hi"}}, 403},
		{"unknown connection subscribes", "POST", "/demo/subscribe", map[string]any{"conn_id": stranger, "channels": []string{"x"}}, 403},
		{"no connection unsubscribes", "POST", "/demo/unsubscribe", map[string]any{"channels": []string{"pub_chan"}}, 403},
		{"a connection made without the demo", "POST", "/demo/message", map[string]any{"conn_id": tg.Connect("mallory", "pub_chan"), "channel": "pub_chan", "message": map[string]any{"text": "hi"}}, 403},
		{"edit an unknown message", "PATCH", "/demo/message", map[string]any{"conn_id": bob, "uuid": stranger, "message": map[string]any{"text": "x"}}, 404},
		{"empty name", "POST", "/demo/connect", map[string]any{"username": "  ", "channels": []string{}}, 422},
		{"long name", "POST", "/demo/connect", map[string]any{"username": strings.Repeat("n", 33)}, 422},
		{"the system's name", "POST", "/demo/connect", map[string]any{"username": "System"}, 422},
		{"a control character", "POST", "/demo/connect", map[string]any{"username": "a\x07b"}, 422},
		{"a bad colour", "POST", "/demo/connect", map[string]any{"username": "dave", "color": "red"}, 422},
		{"a bad channel", "POST", "/demo/connect", map[string]any{"username": "dave", "channels": []string{"no spaces"}}, 422},
		{"too many channels", "POST", "/demo/subscribe", map[string]any{"conn_id": bob, "channels": strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}, 422},
		{"an empty message", "POST", "/demo/message", map[string]any{"conn_id": bob, "channel": "pub_chan", "message": map[string]any{"text": " "}}, 422},
		{"both channel and addressee", "POST", "/demo/message", map[string]any{"conn_id": bob, "channel": "pub_chan", "to": "alice", "message": map[string]any{"text": "x"}}, 422},
		{"a state key the demo does not allow", "POST", "/demo/user_state", map[string]any{"conn_id": bob, "update_state": map[string]any{"private": "x"}}, 422},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, b, _ := demoDo(t, tg.URL, c.method, c.path, c.body)
			var e struct{ Error string }
			if code != c.want || json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Errorf("%d %s, want %d with an error", code, b, c.want)
			}
		})
	}
	t.Run("a body that is not JSON", func(t *testing.T) {
		if code, b, _ := demoDo(t, tg.URL, "POST", "/demo/connect", "{nope"); code != http.StatusBadRequest {
			t.Errorf("%d %s", code, b)
		}
	})
	t.Run("nothing changed", func(t *testing.T) {
		v := demoHubInfo(t, tg, "pub_chan")
		if got := dig(v, "channels", "pub_chan", "history", 0, "message", "text"); got != "mine" {
			t.Errorf("alice's message is now %v", got)
		}
		if n := len(dig(v, "channels", "pub_chan", "history").([]any)); n != 1 {
			t.Errorf("history holds %d messages", n)
		}
		for _, u := range dig(v, "users").([]any) {
			if dig(u, "user") == "alice" && dig(u, "state", "color") != "#aa0000" {
				t.Errorf("alice's state %v", u)
			}
		}
	})
	t.Run("the author may edit after reconnecting", func(t *testing.T) {
		again, _ := demoConnect(t, tg, "alice", "#aa0000", "pub_chan")
		demoOK(t, tg, "PATCH", "/demo/message", map[string]any{"conn_id": again, "uuid": uuid, "message": map[string]any{"text": "still mine"}})
	})
}

func TestDemoMemoryKeepsTheNewest(t *testing.T) {
	m := newDemoMemory[int](3)
	for i := range 5 {
		m.put(fmt.Sprint(i), i)
	}
	for k, want := range map[string]bool{"0": false, "1": false, "2": true, "3": true, "4": true} {
		if _, ok := m.get(k); ok != want {
			t.Errorf("key %s kept = %v, want %v", k, ok, want)
		}
	}
	m.forget("2")
	m.put("2", 22) // put again after forget: a new entry, not the stale one
	m.put("5", 5)
	if v, ok := m.get("2"); !ok || v != 22 {
		t.Errorf(`"2" = %v, %v after the stale entry went`, v, ok)
	}
	if _, ok := m.get("3"); ok {
		t.Error(`"3" survived past the bound`)
	}
	for i := range 100 {
		m.put("x", i)
		m.forget("x")
	}
	if len(m.order) > 6 {
		t.Errorf("order holds %d entries for a bound of 3", len(m.order))
	}
}
