package core_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func TestFormatTime(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"microseconds are written when not zero", time.Date(2026, 11, 25, 9, 23, 9, 22902000, time.UTC), "2026-11-25T09:23:09.022902"},
		{"whole seconds leave them out", time.Date(2026, 11, 25, 9, 23, 9, 0, time.UTC), "2026-11-25T09:23:09"},
		{"sub-microsecond parts are dropped", time.Date(2026, 11, 25, 9, 23, 9, 999, time.UTC), "2026-11-25T09:23:09"},
		{"other zones are converted to naive UTC", time.Date(2026, 11, 25, 11, 0, 0, 500000000, time.FixedZone("", 2*3600)), "2026-11-25T09:00:00.500000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := core.FormatTime(tc.in); got != tc.want {
				t.Errorf("FormatTime = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewUUID(t *testing.T) {
	canonical := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		u := core.NewUUID()
		if !canonical.MatchString(u) {
			t.Fatalf("%q is not a canonical version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("%q repeated", u)
		}
		seen[u] = true
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := core.New(core.Config{}).Config()
	if cfg.ConnTimeout != 15*time.Second || cfg.UserTimeout != 24*time.Hour || cfg.GCInterval != time.Second ||
		cfg.MaxHistory != 1000 || cfg.ChannelFrames != 100 || cfg.UserFrames != 50 ||
		cfg.QueueFrames != 1000 || cfg.QueueBytes != 1<<20 || cfg.Now == nil {
		t.Errorf("defaults = %+v", cfg)
	}
	set := core.New(core.Config{QueueFrames: 7, MaxHistory: 3}).Config()
	if set.QueueFrames != 7 || set.MaxHistory != 3 {
		t.Errorf("explicit values replaced: %+v", set)
	}
}

func TestParseUUID(t *testing.T) {
	const canonical = "631d56fa-0b4c-4b8e-9a4e-2d0f1c3b5a77"
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"canonical form is accepted", canonical, true},
		{"upper case is lowered", "631D56FA-0B4C-4B8E-9A4E-2D0F1C3B5A77", true},
		{"32 hex digits without dashes", "631d56fa0b4c4b8e9a4e2d0f1c3b5a77", true},
		{"braces", "{" + canonical + "}", true},
		{"urn prefix", "urn:uuid:" + canonical, true},
		{"too short is refused", canonical[:35], false},
		{"non-hex is refused", "g31d56fa-0b4c-4b8e-9a4e-2d0f1c3b5a77", false},
		{"empty is refused", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := core.ParseUUID(tc.in)
			if ok != tc.ok || (ok && got != canonical) {
				t.Errorf("ParseUUID(%q) = %q, %v", tc.in, got, ok)
			}
		})
	}
}

func TestHasConn(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	c := connect(t, h, "alice")
	if !h.HasConn(c.ID) || h.HasConn(core.NewUUID()) || h.HasConn("") {
		t.Errorf("HasConn wrong before Disconnect")
	}
	h.Disconnect(t.Context(), c.ID)
	if h.HasConn(c.ID) {
		t.Errorf("HasConn true after Disconnect")
	}
}

func TestEndSessions(t *testing.T) {
	h, _ := newHub(t, core.Config{})
	a := listen(t, h, "alice", "room")
	b := listen(t, h, "bob", "room")
	connect(t, h, "carol", "room") // no transport
	h.Drain()
	if n := h.EndSessions(core.DisconnectShutdown); n != 2 {
		t.Errorf("ended %d sessions, want 2", n)
	}
	for _, c := range []*client{a, b} {
		if !isDone(c.sess) || c.sess.Reason() != core.DisconnectShutdown {
			t.Errorf("%s not ended with DisconnectShutdown", c.User)
		}
	}
	// Connections stay and keep queueing for a resume after the restart.
	publish(h, msg("room", "after"))
	if got := h.Admin(t.Context()).TotalConnections; got != 3 {
		t.Errorf("total_connections = %d", got)
	}
	if n := h.EndSessions(core.DisconnectShutdown); n != 0 {
		t.Errorf("second EndSessions ended %d", n)
	}
}
