package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParseAllowListRejectsBadEntries(t *testing.T) {
	for _, bad := range []string{"localhost", "10.0.0.0/33", "1.2.3.4:80", "10.0.0.1/8x", "fe80::1%eth0/64", "256.0.0.1"} {
		t.Run(bad+" is an error naming it", func(t *testing.T) {
			_, err := ParseAllowList([]string{"127.0.0.1", bad})
			if err == nil || !strings.Contains(err.Error(), bad) {
				t.Fatalf("ParseAllowList error = %v, want one naming %q", err, bad)
			}
		})
	}
}

func TestAllowListAllows(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		addr    string
		want    bool
	}{
		{"exact IPv4 is allowed", []string{"127.0.0.1"}, "127.0.0.1", true},
		{"other IPv4 is refused", []string{"127.0.0.1"}, "127.0.0.2", false},
		{"mapped form of listed IPv4 is allowed", []string{"127.0.0.1"}, "::ffff:127.0.0.1", true},
		{"IPv4 of listed mapped form is allowed", []string{"::ffff:127.0.0.1"}, "127.0.0.1", true},
		{"exact IPv6 is allowed", []string{"::1"}, "::1", true},
		{"IPv6 in another spelling is allowed", []string{"2001:db8:0:0::1"}, "2001:0db8::0001", true},
		{"IPv6 with zone is allowed", []string{"fe80::1"}, "fe80::1%eth0", true},
		{"listed zone matches any zone", []string{"fe80::1%eth0"}, "fe80::1", true},
		{"IPv4 is not IPv6 loopback", []string{"::1"}, "127.0.0.1", false},
		{"address in IPv4 range is allowed", []string{"10.0.0.0/8"}, "10.200.3.4", true},
		{"address outside IPv4 range is refused", []string{"10.0.0.0/8"}, "11.0.0.1", false},
		{"unmasked range still matches", []string{"10.1.2.3/8"}, "10.9.9.9", true},
		{"mapped address in IPv4 range is allowed", []string{"10.0.0.0/8"}, "::ffff:10.1.1.1", true},
		{"address in mapped range is allowed", []string{"::ffff:10.0.0.0/104"}, "10.1.1.1", true},
		{"address in IPv6 range is allowed", []string{"2001:db8::/32"}, "2001:db8:1::5", true},
		{"address outside IPv6 range is refused", []string{"2001:db8::/32"}, "2001:db9::1", false},
		{"IPv4 matches IPv6 everything range", []string{"::/0"}, "192.0.2.1", true},
		{"0.0.0.0 allows any IPv4", []string{"0.0.0.0"}, "203.0.113.9", true},
		{"0.0.0.0 allows any IPv6", []string{"0.0.0.0"}, "2001:db8::1", true},
		{"0.0.0.0 allows an invalid address", []string{"0.0.0.0"}, "", true},
		{"0.0.0.0 among others allows any", []string{"127.0.0.1", " 0.0.0.0 "}, "198.51.100.1", true},
		{"entries are trimmed", []string{" 127.0.0.1 ", ""}, "127.0.0.1", true},
		{"empty list refuses", nil, "127.0.0.1", false},
		{"invalid address is refused", []string{"127.0.0.1"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAllowList(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			var addr netip.Addr
			if tt.addr != "" {
				addr = netip.MustParseAddr(tt.addr)
			}
			if got := a.Allows(addr); got != tt.want {
				t.Fatalf("Allows(%s) with %q = %v, want %v", tt.addr, tt.entries, got, tt.want)
			}
		})
	}
}

func TestNewClientIPRejectsBadEntries(t *testing.T) {
	_, err := NewClientIP([]string{"10.0.0.1", "proxy.local"})
	if err == nil || !strings.Contains(err.Error(), "proxy.local") {
		t.Fatalf("NewClientIP error = %v, want one naming %q", err, "proxy.local")
	}
}

func TestClientIPFromRequest(t *testing.T) {
	proxies := []string{"10.0.0.1", "192.168.0.0/16", "::1"}
	tests := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string // "" means an error
	}{
		{"peer without proxies", nil, "203.0.113.5:4000", nil, "203.0.113.5"},
		{"XFF from untrusted peer is ignored", proxies, "203.0.113.5:4000", []string{"1.1.1.1"}, "203.0.113.5"},
		{"XFF ignored when nothing is trusted", nil, "10.0.0.1:4000", []string{"1.1.1.1"}, "10.0.0.1"},
		{"trusted peer without XFF is the client", proxies, "10.0.0.1:4000", nil, "10.0.0.1"},
		{"trusted peer forwards one client", proxies, "10.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"rightmost untrusted entry wins over spoofed left", proxies, "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops are skipped", proxies, "10.0.0.1:4000", []string{"198.51.100.7, 192.168.3.3"}, "198.51.100.7"},
		{"several header lines are one list", proxies, "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.7", "192.168.1.1"}, "198.51.100.7"},
		{"all trusted gives the leftmost", proxies, "10.0.0.1:4000", []string{"192.168.1.1, 192.168.2.2"}, "192.168.1.1"},
		{"empty entries are skipped", proxies, "10.0.0.1:4000", []string{" , 198.51.100.7 ,"}, "198.51.100.7"},
		{"entry with port is read", proxies, "10.0.0.1:4000", []string{"198.51.100.7:1234"}, "198.51.100.7"},
		{"IPv6 entry with port is read", proxies, "10.0.0.1:4000", []string{"[2001:db8::7]:1234"}, "2001:db8::7"},
		{"mapped peer address is unmapped", nil, "[::ffff:203.0.113.5]:4000", nil, "203.0.113.5"},
		{"IPv6 trusted peer", proxies, "[::1]:4000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"peer without port", nil, "203.0.113.5", nil, "203.0.113.5"},
		{"garbage XFF entry is an error", proxies, "10.0.0.1:4000", []string{"198.51.100.7, unknown"}, ""},
		{"garbage left of the client is not read", proxies, "10.0.0.1:4000", []string{"unknown, 198.51.100.7"}, "198.51.100.7"},
		{"unparsable RemoteAddr is an error", nil, "@", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClientIP(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/connect", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, err := c.FromRequest(r)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("FromRequest = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromRequest error = %v", err)
			}
			if got != netip.MustParseAddr(tt.want) {
				t.Fatalf("FromRequest = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClientIPZeroValueTrustsNobody(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "1.1.1.1")
	got, err := (&ClientIP{}).FromRequest(r)
	if err != nil || got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("FromRequest = %v, %v; want 10.0.0.1", got, err)
	}
}
