package httpapi

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestDisconnect(t *testing.T) {
	a := newAPI(t, nil)
	a.ok("POST", "/channel_config", `{"p": {"notify_presence": true}}`)
	watcher := a.attach(a.connect("w", "p"))
	t.Run("GET with a known id: true, removed at once, parted (83)", func(t *testing.T) {
		id := a.connect("gone", "p")
		s, err := a.hub.Attach(id, core.AttachOptions{Transport: "test"})
		if err != nil {
			t.Fatal(err)
		}
		code, _, b := a.raw("GET", "/disconnect?conn_id="+id, "", nil)
		status(t, code, 200, b)
		jsonEq(t, b, `true`)
		select {
		case <-s.Done():
			if s.Reason().Code != 1000 {
				t.Fatalf("reason %+v", s.Reason())
			}
		case <-time.After(2 * time.Second):
			t.Fatal("session not ended")
		}
		got := watcher.wait(2)
		if got[1]["message"].(map[string]any)["action"] != "parted" {
			t.Fatalf("frames %v", got)
		}
		if a.hub.HasConn(id) {
			t.Fatal("connection still known")
		}
	})
	t.Run("unknown id is false, missing is 422 (84)", func(t *testing.T) {
		code, _, b := a.raw("GET", "/disconnect?conn_id="+core.NewUUID(), "", nil)
		status(t, code, 200, b)
		jsonEq(t, b, `false`)
		code, _, b = a.raw("GET", "/disconnect", "", nil)
		status(t, code, 422, b)
		jsonEq(t, b, `{"conn_id": ["Field may not be null."]}`)
		code, _, b = a.raw("GET", "/disconnect?conn_id=zz", "", nil)
		status(t, code, 422, b)
		jsonEq(t, b, `{"conn_id": ["Not a valid UUID."]}`)
	})
	t.Run("POST reads the body only (85), empty body is 400 (fix 1)", func(t *testing.T) {
		id := a.connect("x")
		code, _, b := a.raw("POST", "/disconnect?conn_id="+id, `{"conn_id": "`+core.NewUUID()+`"}`, nil)
		status(t, code, 200, b)
		jsonEq(t, b, `false`)
		code, _, b = a.raw("POST", "/disconnect?conn_id="+id, "", nil)
		status(t, code, 400, b)
		code, _, b = a.raw("POST", "/disconnect", `{"conn_id": "`+id+`"}`, nil)
		status(t, code, 200, b)
		jsonEq(t, b, `true`)
	})
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCollector(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	a := newAPI(t, func(_ *Config, h *core.Config) { h.Now = clock.Now })
	a.ok("POST", "/channel_config", `{"p": {"notify_presence": true}}`)

	watcherID := a.connect("w", "p")
	watcher := a.attach(watcherID)
	idle := a.connect("idle", "p")
	lonely := a.connect("lonely") // in no channel: collected too (fix 3)
	clock.advance(10 * time.Second)
	watcher.s.Touch()
	clock.advance(6 * time.Second)
	if n := a.hub.Collect(); n != 2 {
		t.Fatalf("collected %d connections, want 2 (106, fix 3)", n)
	}
	if a.hub.HasConn(idle) || a.hub.HasConn(lonely) || !a.hub.HasConn(watcherID) {
		t.Fatal("wrong connections collected")
	}
	f := watcher.wait(2)[1]
	if f["user"] != "idle" || f["message"].(map[string]any)["action"] != "parted" {
		t.Fatalf("no parted for the collected connection: %v", watcher.frames)
	}
	v := a.ok("GET", "/info", nil)
	if _, ok := v["channels"].(map[string]any)["p"]; !ok {
		t.Fatal("channels must never be removed (109)")
	}

	clock.advance(25 * time.Hour)
	watcher.s.Touch()
	a.hub.Collect()
	adm := a.hub.Admin(t.Context())
	if adm.RememberedUserCount != 1 || !a.hub.HasConn(watcherID) {
		t.Fatalf("after 25 h: %d users remembered, want only the connected one (108, fix 6)", adm.RememberedUserCount)
	}
}

func TestAdminJSON(t *testing.T) {
	a := newAPI(t, func(c *Config, _ *core.Config) {
		c.Build = Build{Version: "9.9.9", Revision: "0123456789abcdef", Modified: true}
	})
	id := a.connect("u", "c")
	a.connect("idle")
	a.hub.Disconnect(t.Context(), a.connect("gone"))
	a.call("POST", "/message", `{"user": "s", "channel": "c"}`)
	for _, m := range []string{"GET", "POST"} {
		code, b := a.call(m, "/admin/admin.json", nil)
		status(t, code, 200, b) // 116
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		for _, k := range []string{"remembered_user_count", "unique_user_count", "total_connections", "total_channels", "total_messages", "total_unique_messages", "channels", "users", "uptime", "version"} {
			if _, ok := v[k]; !ok {
				t.Fatalf("admin.json lacks %q: %s", k, b)
			}
		}
		if v["remembered_user_count"].(float64) != 3 || v["unique_user_count"].(float64) != 2 || v["total_messages"].(float64) != 1 || v["version"] != "9.9.9 (0123456789ab, modified)" || v["uptime"] != "0:00:00" {
			t.Fatalf("admin.json %s", b)
		}
		users := v["users"].([]any) // 117
		first := users[1].(map[string]any)
		if first["user"] != "u" || first["connections"].([]any)[0] != id || !uuidRE.MatchString(first["uuid"].(string)) {
			t.Fatalf("users %v", users)
		}
	}
	code, _, _ := a.raw("GET", "/admin/admin.json", "", nil)
	if code != 302 {
		t.Fatalf("unauthenticated admin.json: %d, want 302", code)
	}
}

func TestAdminDebug(t *testing.T) {
	a := newAPI(t, nil)
	code, h, b := a.raw("GET", "/admin/debug", "", map[string]string{"X-Channelstream-Secret": a.token()})
	status(t, code, 200, b) // 119
	if !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.Contains(string(b), "goroutine") {
		t.Fatalf("debug dump %q: %.200s", h.Get("Content-Type"), b)
	}
}
