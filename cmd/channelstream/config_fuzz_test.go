package main

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseIni feeds arbitrary ini files to the loader. It must never panic;
// what it accepts must satisfy the invariants of Config; and, unless a value
// starts with a quote that ini.v1 would interpret, make_config's rendering of
// it must parse back to the same Config.
func FuzzParseIni(f *testing.F) {
	f.Add([]byte(renderIni(defaultConfig())))
	f.Add([]byte("[channelstream]\nallow_posting_from = 127.0.0.1,\n  10.0.0.1\nport = 8001\n"))
	f.Add([]byte("[DEFAULT]\nsecret = d\n[channelstream]\nSECRET = a#b;c\ndemo = true\nhttp_scheme = HTTPS\n"))
	f.Add([]byte("[channelstream]\nsecret =\n  one\n\ttwo\nheartbeat_interval = 0.25\nlog_level = warn\n"))
	f.Add([]byte("[channelstream]\ntrusted_proxies = 10.0.0.0/8, ::1\nconn_timeout = 1m30s\nadmin_secret = \"q\"\n"))
	f.Add([]byte("\xef\xbb\xbf[channelstream]\r\nport: 1\r\nsecret = `x`\n"))
	keys := configKeys()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ok := fuzzLoad(data, keys)
		if !ok {
			return
		}
		checkInvariants(t, cfg)
		for _, k := range keys {
			if v := k.get(&cfg); strings.HasPrefix(v, "`") || strings.HasPrefix(v, `"""`) {
				return
			}
		}
		again, ok := fuzzLoad([]byte(renderIni(cfg)), keys)
		if !ok {
			t.Fatalf("rendering of an accepted config is rejected:\n%s", renderIni(cfg))
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("round trip changed the config:\nfirst  %#v\nsecond %#v", cfg, again)
		}
	})
}

// fuzzLoad parses data as an ini file over the defaults.
func fuzzLoad(data []byte, keys []key) (Config, bool) {
	settings, _, err := parseIni(data, "fuzz.ini", keys)
	if err != nil {
		return Config{}, false
	}
	cfg := defaultConfig()
	if err := apply(&cfg, settings); err != nil {
		return Config{}, false
	}
	return cfg, true
}

func checkInvariants(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.HTTPScheme != "" && cfg.HTTPScheme != "http" && cfg.HTTPScheme != "https" {
		t.Errorf("http_scheme %q", cfg.HTTPScheme)
	}
	if lvl, err := parseLogLevel(cfg.LogLevel); err != nil || lvl != cfg.LogLevel {
		t.Errorf("log_level %q is not canonical", cfg.LogLevel)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		t.Errorf("port %d", cfg.Port)
	}
	if cfg.HeartbeatInterval <= 0 || cfg.ConnTimeout <= 0 || cfg.LongpollTimeout <= 0 || cfg.LongpollGather < 0 || cfg.ShutdownGrace < 0 {
		t.Errorf("durations %v %v %v %v %v", cfg.HeartbeatInterval, cfg.ConnTimeout, cfg.LongpollTimeout, cfg.LongpollGather, cfg.ShutdownGrace)
	}
	if cfg.MaxBodyBytes <= 0 || cfg.MaxHistory <= 0 || cfg.ConnQueueFrames <= 0 || cfg.ConnQueueBytes <= 0 {
		t.Errorf("sizes %d %d %d %d", cfg.MaxBodyBytes, cfg.MaxHistory, cfg.ConnQueueFrames, cfg.ConnQueueBytes)
	}
	for _, list := range [][]string{cfg.AllowPostingFrom, cfg.AllowCORS, cfg.TrustedProxies} {
		for _, it := range list {
			if it == "" || it != strings.TrimSpace(it) || strings.ContainsAny(it, ",\n") {
				t.Errorf("list item %q", it)
			}
		}
	}
	for _, p := range cfg.TrustedProxies {
		if err := checkAddrOrPrefix(p); err != nil {
			t.Error(err)
		}
	}
}
