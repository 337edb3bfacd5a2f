package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envOf returns a getenv that reads only m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeIniFile writes text to a fresh file and returns its path.
func writeIniFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "channelstream.ini")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad runs loadConfig and fails the test on error.
func mustLoad(t *testing.T, args []string, env map[string]string) (Config, invocation) {
	t.Helper()
	cfg, inv, err := loadConfig(args, envOf(env))
	if err != nil {
		t.Fatalf("loadConfig(%q): %v", args, err)
	}
	return cfg, inv
}

func keyByName(t *testing.T, name string) key {
	t.Helper()
	for _, k := range configKeys() {
		if k.name == name {
			return k
		}
	}
	t.Fatalf("no key %q", name)
	return key{}
}

// samples gives, for every key, the values put in the ini file, the
// environment and a flag, and what each reads back as.
var samples = map[string]struct{ ini, env, flag, wantIni, wantEnv, wantFlag string }{
	"host":                  {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.3"},
	"port":                  {"8001", " 8002 ", "8003", "8001", "8002", "8003"},
	"secret":                {"ini-s", "env-s", "flag-s", "ini-s", "env-s", "flag-s"},
	"admin_user":            {"ini-u", "env-u", "flag-u", "ini-u", "env-u", "flag-u"},
	"admin_secret":          {"ini-a", "env-a", "flag-a", "ini-a", "env-a", "flag-a"},
	"cookie_secret":         {"ini-c", "env-c", "flag-c", "ini-c", "env-c", "flag-c"},
	"allow_posting_from":    {"10.0.0.1", "10.0.0.2,10.0.0.3", "0.0.0.0", "10.0.0.1", "10.0.0.2, 10.0.0.3", "0.0.0.0"},
	"allow_cors":            {"a.com", "b.com, ,c.com", "d.com", "a.com", "b.com, c.com", "d.com"},
	"validate_requests":     {"no", "on", "0", "false", "true", "false"},
	"enforce_https":         {"yes", "off", "1", "true", "false", "true"},
	"tls_cert_file":         {"ini.pem", "env.pem", "flag.pem", "ini.pem", "env.pem", "flag.pem"},
	"tls_key_file":          {"ini.key", "env.key", "flag.key", "ini.key", "env.key", "flag.key"},
	"http_scheme":           {"http", "https", "HTTP", "http", "https", "http"},
	"log_level":             {"debug", "Warning", "ERROR", "DEBUG", "WARNING", "ERROR"},
	"debug":                 {"t", "f", "y", "true", "false", "true"},
	"demo":                  {"on", "0", "yes", "true", "false", "true"},
	"demo_public":           {"1", "no", "on", "true", "false", "true"},
	"redis_url":             {"redis://a:6379", "redis+cluster://b:7000,c:7001", "rediss://c:6380", "redis://a:6379", "redis+cluster://b:7000,c:7001", "rediss://c:6380"},
	"redis_data_plane":      {"yes", "off", "1", "true", "false", "true"},
	"redis_partitions":      {"4", " 32 ", "1024", "4", "32", "1024"},
	"redis_stream_max_age":  {"90", "2m", "0", "1m30s", "2m0s", "0s"},
	"redis_publish_linger":  {"0", "0.002", "5ms", "0s", "2ms", "5ms"},
	"heartbeat_interval":    {"1", "2s", "3000ms", "1s", "2s", "3s"},
	"conn_timeout":          {"1.5", "2m", "3h", "1.5s", "2m0s", "3h0m0s"},
	"longpoll_timeout":      {"1s", "2", "3s", "1s", "2s", "3s"},
	"longpoll_gather":       {"0", "0.1", "300ms", "0s", "100ms", "300ms"},
	"max_body_bytes":        {"11", "12", "13", "11", "12", "13"},
	"max_history":           {"21", "22", "23", "21", "22", "23"},
	"conn_queue_frames":     {"31", "32", "33", "31", "32", "33"},
	"conn_queue_bytes":      {"41", "42", "43", "41", "42", "43"},
	"shutdown_grace":        {"0", "1", "2s", "0s", "1s", "2s"},
	"trusted_proxies":       {"10.0.0.0/8", "192.168.1.1", "::1, 10.1.0.0/16", "10.0.0.0/8", "192.168.1.1", "::1, 10.1.0.0/16"},
	"max_channels_per_conn": {"51", "52", "53", "51", "52", "53"},
	"max_conns_per_user":    {"61", "62", "63", "61", "62", "63"},
	"max_connections":       {"71", "72", "73", "71", "72", "73"},
	"max_channels":          {"74", "75", "76", "74", "75", "76"},
	"max_message_bytes":     {"81", "82", "83", "81", "82", "83"},
	"max_state_keys":        {"91", "92", "93", "91", "92", "93"},
	"max_state_value_bytes": {"101", "102", "103", "101", "102", "103"},
	"insecure_defaults":     {"yes", "off", "1", "true", "false", "true"},
	"clock_skew":            {"0", "5", "2m", "0s", "5s", "2m0s"},
	"max_client_sockets":    {"0", "200", "300", "0", "200", "300"},
	"header_timeout":        {"1", "2s", "3s", "1s", "2s", "3s"},
	"body_timeout":          {"4", "5s", "6s", "4s", "5s", "6s"},
	"idle_timeout":          {"7", "8s", "9s", "7s", "8s", "9s"},
	"admin_session":         {"60", "2h", "30m", "1m0s", "2h0m0s", "30m0s"},
}

func TestPrecedenceKeyByKey(t *testing.T) {
	def := defaultConfig()
	for _, k := range configKeys() {
		s, ok := samples[k.name]
		if !ok {
			t.Errorf("key %s has no samples: add them", k.name)
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			iniPath := writeIniFile(t, "[channelstream]\n"+k.name+" = "+s.ini+"\n")
			env := map[string]string{k.envName(): s.env}
			flagArg := "--" + k.name + "=" + s.flag
			cases := []struct {
				name string
				args []string
				env  map[string]string
				want string
			}{
				{"default wins alone", nil, nil, k.get(&def)},
				{"ini beats default", []string{"-i", iniPath}, nil, s.wantIni},
				{"env beats ini", []string{"-i", iniPath}, env, s.wantEnv},
				{"flag beats env", []string{"-i", iniPath, flagArg}, env, s.wantFlag},
				{"flag beats ini", []string{"-i", iniPath, flagArg}, nil, s.wantFlag},
				{"env beats default", nil, env, s.wantEnv},
			}
			for _, c := range cases {
				cfg, _ := mustLoad(t, append([]string{"make_config"}, c.args...), c.env)
				if got := k.get(&cfg); got != c.want {
					t.Errorf("%s: %s = %q, want %q", c.name, k.name, got, c.want)
				}
			}
		})
	}
}

func TestPrecedenceMixesSourcesPerKey(t *testing.T) {
	iniPath := writeIniFile(t, "[channelstream]\nport = 9001\nsecret = from-ini\nhost = 10.0.0.1\n")
	env := map[string]string{"CHANNELSTREAM_SECRET": "from-env", "CHANNELSTREAM_HOST": "10.0.0.2"}
	cfg, _ := mustLoad(t, []string{"--host", "10.0.0.3", "-i", iniPath}, env)
	if cfg.Port != 9001 || cfg.Secret != "from-env" || cfg.Host != "10.0.0.3" || cfg.AdminUser != "admin" {
		t.Fatalf("got port=%d secret=%q host=%q admin_user=%q", cfg.Port, cfg.Secret, cfg.Host, cfg.AdminUser)
	}
}

func TestLastFlagWins(t *testing.T) {
	cfg, _ := mustLoad(t, []string{"--port", "1", "-p", "2"}, nil)
	if cfg.Port != 2 {
		t.Fatalf("port = %d, want 2", cfg.Port)
	}
}

func TestIniAllowPostingFromSpansLines(t *testing.T) {
	path := writeIniFile(t, "[channelstream]\nallow_posting_from = 127.0.0.1,\n  10.0.0.1,\n\t192.168.0.0/16\nport = 8001\n")
	cfg, _ := mustLoad(t, []string{"-i", path}, nil)
	want := []string{"127.0.0.1", "10.0.0.1", "192.168.0.0/16"}
	if !reflect.DeepEqual(cfg.AllowPostingFrom, want) || cfg.Port != 8001 {
		t.Fatalf("allow_posting_from = %q port = %d, want %q 8001", cfg.AllowPostingFrom, cfg.Port, want)
	}
}

func TestIniIsReadLikePython(t *testing.T) {
	path := writeIniFile(t, "[DEFAULT]\nadmin_user = from-default\nhere = /x\n"+
		"[channelstream]\nSECRET = a#b;c\nadmin_secret = \"quoted\"\ndemo = true\nsignature_checker = channelstream.utils.DefaultSigner\n")
	cfg, inv := mustLoad(t, []string{"-i", path}, nil)
	if cfg.Secret != "a#b;c" || cfg.AdminSecret != `"quoted"` || cfg.AdminUser != "from-default" || !cfg.Demo {
		t.Fatalf("secret=%q admin_secret=%q admin_user=%q demo=%v", cfg.Secret, cfg.AdminSecret, cfg.AdminUser, cfg.Demo)
	}
	if len(inv.warnings) != 0 {
		t.Fatalf("warnings for upstream keys: %q", inv.warnings)
	}
}

func TestIniUnknownKeysAreIgnoredWithWarning(t *testing.T) {
	path := writeIniFile(t, "[channelstream]\nheartbeat_intreval = 1s\nsignature_checker = my.Signer\n")
	cfg, inv := mustLoad(t, []string{"-i", path}, nil)
	if cfg.HeartbeatInterval != 5*time.Second {
		t.Fatalf("heartbeat_interval = %v", cfg.HeartbeatInterval)
	}
	all := strings.Join(inv.warnings, "\n")
	if !strings.Contains(all, `"heartbeat_intreval"`) || !strings.Contains(all, "my.Signer") {
		t.Fatalf("warnings = %q", inv.warnings)
	}
}

func TestChannelstreamIniVariable(t *testing.T) {
	fromEnv := writeIniFile(t, "[channelstream]\nport = 8101\n")
	fromFlag := writeIniFile(t, "[channelstream]\nport = 8102\n")
	t.Run("names the ini file", func(t *testing.T) {
		cfg, inv := mustLoad(t, nil, map[string]string{"CHANNELSTREAM_INI": fromEnv})
		if cfg.Port != 8101 || inv.iniPath != fromEnv {
			t.Fatalf("port = %d ini = %q", cfg.Port, inv.iniPath)
		}
	})
	t.Run("loses to -i", func(t *testing.T) {
		cfg, _ := mustLoad(t, []string{"--ini", fromFlag}, map[string]string{"CHANNELSTREAM_INI": fromEnv})
		if cfg.Port != 8102 {
			t.Fatalf("port = %d", cfg.Port)
		}
	})
}

func TestAsBool(t *testing.T) {
	for in, want := range map[string]bool{
		"t": true, "true": true, "y": true, "yes": true, "on": true, "1": true,
		" TRUE ": true, "Yes": true, "ON\n": true,
		"f": false, "false": false, "no": false, "off": false, "0": false, "": false,
		"2": false, "enabled": false, "truee": false,
	} {
		if got := asBool(in); got != want {
			t.Errorf("asBool(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5s": 5 * time.Second, "250ms": 250 * time.Millisecond, "1m30s": 90 * time.Second,
		"5": 5 * time.Second, "0.25": 250 * time.Millisecond, " 15 ": 15 * time.Second, "0": 0, "1e-3": time.Millisecond,
	} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "five", "5 s", "NaN", "inf", "1e300", "5x"} {
		if d, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestDurationBounds(t *testing.T) {
	if _, _, err := loadConfig([]string{"--heartbeat_interval=0"}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "positive") {
		t.Errorf("heartbeat_interval=0: err = %v", err)
	}
	if _, _, err := loadConfig([]string{"--shutdown_grace=-1s"}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("shutdown_grace=-1s: err = %v", err)
	}
	cfg, _ := mustLoad(t, []string{"--longpoll_gather=0"}, nil)
	if cfg.LongpollGather != 0 {
		t.Errorf("longpoll_gather = %v", cfg.LongpollGather)
	}
}

func TestHTTPSchemeKeepsOnlyHTTPAndHTTPS(t *testing.T) {
	for in, want := range map[string]string{
		"http": "http", "https": "https", " HTTPS ": "https", "": "", "ftp": "", "https://": "", "wss": "",
	} {
		cfg, _ := mustLoad(t, []string{"--http_scheme=" + in}, nil)
		if cfg.HTTPScheme != want {
			t.Errorf("http_scheme %q = %q, want %q", in, cfg.HTTPScheme, want)
		}
	}
}

func TestLogLevel(t *testing.T) {
	for in, want := range map[string]string{
		"debug": "DEBUG", "INFO": "INFO", "Warning": "WARNING", "warn": "WARNING", "error": "ERROR",
		"critical": "CRITICAL", "FATAL": "CRITICAL", "notset": "NOTSET", "": "INFO",
	} {
		got, err := parseLogLevel(in)
		if err != nil || got != want {
			t.Errorf("parseLogLevel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseLogLevel("verbose"); err == nil {
		t.Error("parseLogLevel(verbose) succeeded")
	}
}

var uuid4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestEmptyCookieSecretBecomesRandomUUID(t *testing.T) {
	a, _ := mustLoad(t, nil, nil)
	b, _ := mustLoad(t, []string{"--cookie_secret="}, nil)
	if !uuid4.MatchString(a.CookieSecret) || !uuid4.MatchString(b.CookieSecret) || a.CookieSecret == b.CookieSecret {
		t.Fatalf("cookie secrets %q and %q: want two different uuid4", a.CookieSecret, b.CookieSecret)
	}
	c, _ := mustLoad(t, []string{"--cookie-secret", "kept"}, nil)
	if c.CookieSecret != "kept" {
		t.Fatalf("cookie_secret = %q", c.CookieSecret)
	}
	m, _ := mustLoad(t, []string{"make_config"}, nil)
	if m.CookieSecret != "" {
		t.Fatalf("make_config cookie_secret = %q, want empty", m.CookieSecret)
	}
}

func TestMakeConfigRoundTrip(t *testing.T) {
	t.Run("defaults parse back to the defaults", func(t *testing.T) {
		path := writeIniFile(t, renderIni(defaultConfig()))
		cfg, inv := mustLoad(t, []string{"make_config", "-i", path}, nil)
		if !reflect.DeepEqual(cfg, defaultConfig()) {
			t.Fatalf("got %+v\nwant %+v", cfg, defaultConfig())
		}
		if len(inv.warnings) != 0 {
			t.Fatalf("warnings: %q", inv.warnings)
		}
	})
	t.Run("every key is written", func(t *testing.T) {
		text := renderIni(defaultConfig())
		for _, k := range append(configKeys(), key{name: "signature_checker"}) {
			if !regexp.MustCompile(`(?m)^` + k.name + ` =`).MatchString(text) {
				t.Errorf("make_config lacks %s", k.name)
			}
		}
	})
	t.Run("flag values parse back", func(t *testing.T) {
		args := []string{"make_config"}
		for name, s := range samples {
			args = append(args, "--"+name+"="+s.flag)
		}
		want, _ := mustLoad(t, args, nil)
		path := writeIniFile(t, renderIni(want))
		got, _ := mustLoad(t, []string{"make_config", "-i", path}, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("values spanning lines parse back", func(t *testing.T) {
		want := defaultConfig()
		want.Secret = "line one\nline two"
		path := writeIniFile(t, renderIni(want))
		got, _ := mustLoad(t, []string{"make_config", "-i", path}, nil)
		if got.Secret != want.Secret {
			t.Fatalf("secret = %q, want %q", got.Secret, want.Secret)
		}
	})
}

func TestOldFlagNames(t *testing.T) {
	cfg, inv := mustLoad(t, []string{
		"-s", "S", "-u", "U", "-a", "A", "-host", "10.1.1.1", "-p", "9000", "-d",
		"-x", "10.0.0.1,10.0.0.2", "-c", "example.com", "-l", "debug", "--validate-requests=false",
		"--enforce-https", "--http-scheme", "https", "--cookie-secret", "C", "-e",
	}, nil)
	want := defaultConfig()
	want.Secret, want.AdminUser, want.AdminSecret, want.Host, want.Port, want.Debug = "S", "U", "A", "10.1.1.1", 9000, true
	want.AllowPostingFrom, want.AllowCORS, want.LogLevel = []string{"10.0.0.1", "10.0.0.2"}, []string{"example.com"}, "DEBUG"
	want.ValidateRequests, want.EnforceHTTPS, want.HTTPScheme, want.CookieSecret = false, true, "https", "C"
	want.Demo = true
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
	if len(inv.warnings) != 0 {
		t.Fatalf("warnings = %q, want none", inv.warnings)
	}
	cfg, _ = mustLoad(t, []string{"--admin_username", "U2", "--allowed_post_ip", "0.0.0.0", "--log-level", "error", "--demo"}, nil)
	if cfg.AdminUser != "U2" || !reflect.DeepEqual(cfg.AllowPostingFrom, []string{"0.0.0.0"}) || cfg.LogLevel != "ERROR" || !cfg.Demo {
		t.Fatalf("got admin_user=%q allow_posting_from=%q log_level=%q demo=%v", cfg.AdminUser, cfg.AllowPostingFrom, cfg.LogLevel, cfg.Demo)
	}
}

func TestErrorsNameKeyAndSource(t *testing.T) {
	iniPath := writeIniFile(t, "[channelstream]\nport = eighty\n")
	noSection := writeIniFile(t, "[app:main]\nport = 8000\n")
	missing := filepath.Join(t.TempDir(), "absent.ini")
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"bad int in ini", []string{"-i", iniPath}, nil, []string{"port", `"eighty"`, "ini file", iniPath}},
		{"bad int in env", nil, map[string]string{"CHANNELSTREAM_MAX_HISTORY": "many"}, []string{"max_history", "CHANNELSTREAM_MAX_HISTORY"}},
		{"bad int in flag", []string{"-p", "x"}, nil, []string{"port", "flag -p"}},
		{"port out of range", []string{"--port=70000"}, nil, []string{"port", "flag --port", "65535"}},
		{"bad duration in flag", []string{"--conn_timeout", "soon"}, nil, []string{"conn_timeout", `"soon"`, "flag --conn_timeout"}},
		{"bad duration in env", nil, map[string]string{"CHANNELSTREAM_HEARTBEAT_INTERVAL": "5q"}, []string{"heartbeat_interval", "CHANNELSTREAM_HEARTBEAT_INTERVAL"}},
		{"bad log level", []string{"-l", "loud"}, nil, []string{"log_level", "flag -l"}},
		{"too many partitions", []string{"--redis_partitions", "1025"}, nil, []string{"redis_partitions", "1024"}},
		{"negative stream age", nil, map[string]string{"CHANNELSTREAM_REDIS_STREAM_MAX_AGE": "-1s"}, []string{"redis_stream_max_age", "must not be negative"}},
		{"bad trusted proxy", nil, map[string]string{"CHANNELSTREAM_TRUSTED_PROXIES": "10.0.0.1, proxy.local"}, []string{"trusted_proxies", "proxy.local"}},
		{"missing ini file", []string{"-i", missing}, nil, []string{"ini file", missing}},
		{"ini without section", []string{"-i", noSection}, nil, []string{noSection, "[channelstream]"}},
		{"unknown flag", []string{"--prot", "1"}, nil, []string{"prot"}},
		{"stray argument", []string{"serve"}, nil, []string{`"serve"`}},
		{"make_config not first", []string{"-p", "1", "make_config"}, nil, []string{"make_config must come first"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := loadConfig(c.args, envOf(c.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRedisURLErrorHidesTheValue(t *testing.T) {
	_, _, err := loadConfig(nil, envOf(map[string]string{"CHANNELSTREAM_REDIS_URL": "http://user:hunter2@host"}))
	if err == nil || !strings.Contains(err.Error(), "redis_url") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestRedisClusterURLAccepted(t *testing.T) {
	for _, u := range []string{"redis+cluster://127.0.0.1:7000,127.0.0.1:7001", "rediss+cluster://u:p@h1:7000,h2:7000"} {
		cfg, _, err := loadConfig([]string{"--redis_url", u}, envOf(nil))
		if err != nil || cfg.RedisURL != u {
			t.Errorf("redis_url %q: %q, %v", u, cfg.RedisURL, err)
		}
	}
}

func TestStreamMaxAgeDefaultsToTwiceConnTimeout(t *testing.T) {
	for _, c := range []struct {
		conn, set, want time.Duration
	}{
		{15 * time.Second, 0, time.Minute},
		{45 * time.Second, 0, 90 * time.Second},
		{45 * time.Second, 30 * time.Second, 30 * time.Second},
	} {
		if got := streamMaxAge(Config{ConnTimeout: c.conn, RedisStreamMaxAge: c.set}); got != c.want {
			t.Errorf("conn_timeout %v, redis_stream_max_age %v: %v, want %v", c.conn, c.set, got, c.want)
		}
	}
}

func TestVersionAndHelpReadNoSource(t *testing.T) {
	env := map[string]string{"CHANNELSTREAM_INI": "/nonexistent.ini", "CHANNELSTREAM_PORT": "bad"}
	for _, args := range [][]string{{"-v"}, {"--version"}, {"-h"}, {"--help"}, {"-?"}} {
		var out, errOut bytes.Buffer
		if code := realMain(args, envOf(env), &out, &errOut); code != 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}

func TestHelpListsEveryFlagWithItsDefault(t *testing.T) {
	var out bytes.Buffer
	writeHelp(&out)
	help := out.String()
	def := defaultConfig()
	for _, k := range configKeys() {
		names := append([]string{k.name}, k.flags...)
		for _, n := range names {
			if !strings.Contains(help, dashed(n)) {
				t.Errorf("help lacks %s", dashed(n))
			}
		}
		if !strings.Contains(help, "(default "+orEmpty(k.get(&def))+")") {
			t.Errorf("help lacks the default of %s", k.name)
		}
	}
	for _, f := range []string{"--ini", "--version", "--help", "--output", "--demo"} {
		if !strings.Contains(help, f) {
			t.Errorf("help lacks %s", f)
		}
	}
}

func TestMakeConfigWritesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ini")
	var out, errOut bytes.Buffer
	if code := realMain([]string{"make_config", "-o", path, "--port", "8123"}, envOf(nil), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	cfg, _ := mustLoad(t, []string{"-i", path}, nil)
	if cfg.Port != 8123 || out.Len() != 0 {
		t.Fatalf("port = %d, stdout %q", cfg.Port, out.String())
	}
}

func TestConfigErrorExitsTwo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := realMain([]string{"--port", "x"}, envOf(nil), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "port") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestHeartbeatNotShorterThanConnTimeoutIsRefused(t *testing.T) {
	var out, errOut bytes.Buffer
	code := realMain([]string{"--host", "127.0.0.1", "--port", "0", "--heartbeat_interval", "25s", "--conn_timeout", "15s"}, envOf(nil), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "heartbeat_interval (25s) must be shorter than conn_timeout (15s)") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

// TestBinary builds the real binary and runs it as a user would.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "channelstream")
	// -buildvcs=auto overrides a GOFLAGS=-buildvcs=false: inside a git
	// checkout the binary carries its revision (not in a linked worktree,
	// whose .git is a file: the go command does not see it).
	if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cleanEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = cleanEnv
		return cmd
	}

	t.Run("-v prints the version and the revision of the work tree", func(t *testing.T) {
		out, err := command("-v").Output()
		if err != nil || !regexp.MustCompile(`^channelstream-go \S+( \([0-9a-f]{12}(, modified)?\))?\n$`).Match(out) {
			t.Fatalf("output %q, err %v", out, err)
		}
		meta, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatalf("go version -m: %v", err)
		}
		want := "\n"
		if m := regexp.MustCompile(`(?m)^\s*build\s+vcs\.revision=([0-9a-f]{12})`).FindSubmatch(meta); m != nil {
			want = " (" + string(m[1]) + ")\n"
			if bytes.Contains(meta, []byte("vcs.modified=true")) {
				want = " (" + string(m[1]) + ", modified)\n"
			}
		}
		if !strings.HasSuffix(string(out), want) {
			t.Fatalf("-v printed %q, want it to end with %q as the build info says:\n%s", out, want, meta)
		}
	})
	t.Run("make_config prints every key", func(t *testing.T) {
		out, err := command("make_config").Output()
		if err != nil || string(out) != renderIni(defaultConfig()) {
			t.Fatalf("err %v, output:\n%s", err, out)
		}
	})
	t.Run("make_config -o writes a file the binary reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cs.ini")
		cmd := command("make_config", "-o", path)
		cmd.Env = append(cmd.Env, "CHANNELSTREAM_PORT=8124")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("err %v: %s", err, out)
		}
		cfg, _ := mustLoad(t, []string{"-i", path}, nil)
		if cfg.Port != 8124 {
			t.Fatalf("port = %d", cfg.Port)
		}
	})
	t.Run("bad config exits 2 naming the key", func(t *testing.T) {
		out, err := command("--heartbeat_interval", "often").CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "heartbeat_interval") {
			t.Fatalf("err %v, output %q", err, out)
		}
	})
	t.Run("SIGTERM stops the server cleanly", func(t *testing.T) {
		cmd := command("--host", "127.0.0.1", "--port", "0", "--shutdown_grace", "1s")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		lines := bufio.NewScanner(stderr)
		for !strings.Contains(lines.Text(), "starting channelstream-go") {
			if !lines.Scan() {
				t.Fatalf("no start line; wait: %v", cmd.Wait())
			}
		}
		go func() {
			for lines.Scan() {
			}
		}()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("still running 20 s after SIGTERM")
		}
	})
}

func TestDemoKey(t *testing.T) {
	if defaultConfig().Demo {
		t.Fatal("demo is on by default")
	}
	iniPath := writeIniFile(t, "[channelstream]\ndemo = true\n")
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"off by default", nil, nil, false},
		{"--demo turns it on", []string{"--demo"}, nil, true},
		{"-e (0.6.x) turns it on", []string{"-e"}, nil, true},
		{"--demo=false turns it off", []string{"--demo=false"}, map[string]string{"CHANNELSTREAM_DEMO": "true"}, false},
		{"environment turns it on", nil, map[string]string{"CHANNELSTREAM_DEMO": "yes"}, true},
		{"ini turns it on", []string{"-i", iniPath}, nil, true},
		{"environment beats ini", []string{"-i", iniPath}, map[string]string{"CHANNELSTREAM_DEMO": "off"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, inv := mustLoad(t, c.args, c.env)
			if cfg.Demo != c.want || len(inv.warnings) != 0 {
				t.Fatalf("demo = %v (want %v), warnings %q", cfg.Demo, c.want, inv.warnings)
			}
		})
	}
}

// A cluster's defaults are the data plane and a 2 ms publish linger (the
// README's configuration table; issue 13's figures are measured with them).
func TestClusterDefaults(t *testing.T) {
	cfg, _ := mustLoad(t, nil, nil)
	if !cfg.RedisDataPlane {
		t.Fatal("redis_data_plane defaults to false, want true")
	}
	if cfg.RedisPublishLinger != 2*time.Millisecond {
		t.Fatalf("redis_publish_linger defaults to %v, want 2ms", cfg.RedisPublishLinger)
	}
}
