package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"

	"github.com/channelstream-go/channelstream-go/core/redisbroker"
)

// Config is every setting of the channelstream binary: the keys of UPSTREAM.md
// §6.2 and the additions of PROTOCOL.md §3.5. Each field names its ini key;
// the environment variable is CHANNELSTREAM_ followed by the key in upper case
// and the flag is --key. loadConfig fills it with flags over environment over
// ini file over defaults, key by key.
type Config struct {
	// Host is the address to listen on (key host). Default "0.0.0.0".
	// While Secret or AdminSecret is the default, only a loopback address
	// starts (see checkProtectedMode and InsecureDefaults).
	Host string
	// Port is the TCP port to listen on (key port); 0 picks a free one.
	// Default 8000.
	Port int
	// Secret signs REST API requests (key secret). Default "secret".
	Secret string
	// AdminUser is the admin login name (key admin_user). Default "admin".
	AdminUser string
	// AdminSecret is the admin password (key admin_secret).
	// Default "admin_secret".
	AdminSecret string
	// CookieSecret signs the admin cookie (key cookie_secret). Default "":
	// loadConfig replaces it with a random uuid4, so a restart logs admins out.
	CookieSecret string
	// AdminSession is how long an admin stays signed in (key
	// admin_session). Default 12 h.
	AdminSession time.Duration
	// AllowPostingFrom lists the client addresses (or CIDR ranges) allowed to
	// call the signed API; "0.0.0.0" allows everyone (key allow_posting_from,
	// comma separated, may span ini lines). Default ["127.0.0.1"].
	AllowPostingFrom []string
	// AllowCORS lists substrings an Origin must contain to be answered with
	// CORS headers; empty allows every origin (key allow_cors, comma
	// separated). Default empty.
	AllowCORS []string
	// ValidateRequests makes signatures expire after 60 s
	// (key validate_requests). Default true.
	ValidateRequests bool
	// ClockSkew is how far in the future a signature's timestamp may be;
	// beyond it the request gets 401 (key clock_skew). Default 60 s.
	ClockSkew time.Duration
	// TLSCertFile is the PEM certificate chain the node serves HTTPS with
	// (key tls_cert_file); with TLSKeyFile set too, every route is served
	// over TLS with HTTP/2 (and HTTP/1.1). Both files are read again on
	// SIGHUP and when either changes. Default "": plain HTTP.
	TLSCertFile string
	// TLSKeyFile is the PEM private key of TLSCertFile (key tls_key_file).
	// Default "".
	TLSKeyFile string
	// EnforceHTTPS answers 406 to requests not made over https
	// (key enforce_https). Default false.
	EnforceHTTPS bool
	// HTTPScheme forces the request scheme used in generated URLs: "http",
	// "https" or "" for the real one; other values become ""
	// (key http_scheme). Default "".
	HTTPScheme string
	// LogLevel is a Python logging level name in upper case: DEBUG, INFO,
	// WARNING, ERROR, CRITICAL or NOTSET (key log_level; WARN and FATAL are
	// read as WARNING and CRITICAL, "" as INFO). Default "INFO".
	LogLevel string
	// Debug switches logs to the human-readable console format (key debug).
	// Default false.
	Debug bool
	// Demo serves the demo chat at /demo, with the gateway acting as its web
	// application (key demo; 0.6.x flag -e). Default false.
	Demo bool
	// DemoPublic lets the demo be served on a non-loopback host (key
	// demo_public, flag --demo-public). Default false: with demo on, the
	// node refuses to listen beyond loopback (see checkDemoPublic).
	DemoPublic bool
	// RedisURL, when set, shares all state between nodes through Redis
	// (redis://, rediss:// or unix:// URL, or redis+cluster://h1:p1,h2:p2
	// (rediss+cluster:// for TLS) for a Redis Cluster; key redis_url).
	// Default "": one node, everything in memory.
	RedisURL string
	// RedisDataPlane carries messages, presence and state frames through
	// the Redis data plane (per-channel and per-user streams; a node then
	// keeps queues only for the connections whose transport it holds)
	// instead of replicating them to every node through the log (key
	// redis_data_plane). Default true; false keeps the log-only mode
	// (every node replicates every queue). Unused without RedisURL.
	RedisDataPlane bool
	// RedisPartitions is how many partitions the data plane spreads its
	// Redis streams over; every node of a cluster must use the same
	// number (key redis_partitions). Default redisbroker's (16).
	RedisPartitions int
	// RedisStreamMaxAge is how long a data-plane Redis stream keeps a
	// frame, which bounds how long a client may stay away and still
	// resume without a gap (key redis_stream_max_age). Default 0: twice
	// conn_timeout, at least a minute (streamMaxAge).
	RedisStreamMaxAge time.Duration
	// RedisPublishLinger is how long a data-plane publish waits for others
	// to go to Redis with it in one round trip when none is on its way
	// (key redis_publish_linger): up to that much latency for less CPU per
	// message on the node, Redis and the receiving nodes. Default 2 ms (a
	// publish waits only when the one before came less than that before).
	RedisPublishLinger time.Duration
	// HeartbeatInterval is the time between heartbeats on an attached
	// transport (key heartbeat_interval). Default 5 s.
	HeartbeatInterval time.Duration
	// ConnTimeout is how long a connection may stay inactive before it is
	// collected (key conn_timeout). Default 15 s.
	ConnTimeout time.Duration
	// LongpollTimeout is the longest a /listen request waits for a frame
	// (key longpoll_timeout). Default 5 s.
	LongpollTimeout time.Duration
	// LongpollGather is the quiet gap after a frame during which /listen
	// keeps collecting more before it answers (key longpoll_gather).
	// Default 250 ms.
	LongpollGather time.Duration
	// MaxBodyBytes bounds request bodies, in bytes; larger ones get 413
	// (key max_body_bytes). Default 1048576 (1 MiB).
	MaxBodyBytes int64
	// MaxHistory caps every channel's history, in messages; history_size 0
	// means this (key max_history). Default 1000.
	MaxHistory int
	// ConnQueueFrames bounds each connection's queue, in frames
	// (key conn_queue_frames). Default 1000.
	ConnQueueFrames int
	// ConnQueueBytes bounds each connection's queue, in encoded bytes
	// (key conn_queue_bytes). Default 1048576 (1 MiB).
	ConnQueueBytes int
	// ShutdownGrace is the window over which open transports are closed on
	// SIGTERM/SIGINT (key shutdown_grace). Default 10 s.
	ShutdownGrace time.Duration
	// TrustedProxies lists the proxy addresses or CIDR ranges whose
	// X-Forwarded-For is believed (key trusted_proxies, comma separated).
	// Default empty: X-Forwarded-For is ignored.
	TrustedProxies []string
	// MaxChannelsPerConn is how many channels one connection may be in;
	// more get 422 (key max_channels_per_conn). Default 1000.
	MaxChannelsPerConn int
	// MaxConnsPerUser is how many connections one user may have at once;
	// more get 429 (key max_conns_per_user). Default 100.
	MaxConnsPerUser int
	// MaxConnections is how many connections this node holds at once; more
	// get 429 (key max_connections). Default 100000.
	MaxConnections int
	// MaxChannels is how many channels this node holds at once; requests
	// that would make more get 429 (key max_channels). Default 100000.
	MaxChannels int
	// MaxMessageBytes bounds one message's encoded payload, in bytes;
	// larger messages get 422 (key max_message_bytes). Default 65536.
	MaxMessageBytes int
	// MaxStateKeys is how many state keys one user may have; more get 422
	// (key max_state_keys). Default 100.
	MaxStateKeys int
	// MaxStateValueBytes bounds each state key and value, in bytes; larger
	// ones get 422 (key max_state_value_bytes). Default 4096.
	MaxStateValueBytes int
	// MaxClientSockets caps the client sockets this node holds open; at
	// the cap a new socket replaces the one that waited longest without a
	// whole request, or gets 503 when every socket is serving one (key
	// max_client_sockets). Default 0: the file limit less 64.
	MaxClientSockets int
	// HeaderTimeout is how long a client may take to send a request's
	// headers (key header_timeout). Default 10 s.
	HeaderTimeout time.Duration
	// BodyTimeout is how long a client may take to send a request's body
	// once its headers arrived (key body_timeout). Default 30 s.
	BodyTimeout time.Duration
	// IdleTimeout is how long a keep-alive socket may wait for its next
	// request (key idle_timeout). Default 120 s.
	IdleTimeout time.Duration
	// InsecureDefaults lets the server listen on a non-loopback address
	// although secret or admin_secret is still the default (key
	// insecure_defaults, flag --insecure-defaults). Default false: protected
	// mode refuses to start.
	InsecureDefaults bool
}

// defaultConfig returns the defaults of every key; the help text and
// make_config read them from here.
func defaultConfig() Config {
	return Config{
		Host:               "0.0.0.0",
		Port:               8000,
		Secret:             "secret",
		AdminUser:          "admin",
		AdminSecret:        "admin_secret",
		AllowPostingFrom:   []string{"127.0.0.1"},
		ValidateRequests:   true,
		ClockSkew:          60 * time.Second,
		AdminSession:       12 * time.Hour,
		LogLevel:           "INFO",
		RedisPartitions:    redisbroker.DefaultPartitions,
		RedisPublishLinger: 2 * time.Millisecond,
		RedisDataPlane:     true,
		HeartbeatInterval:  5 * time.Second,
		ConnTimeout:        15 * time.Second,
		LongpollTimeout:    5 * time.Second,
		LongpollGather:     250 * time.Millisecond,
		MaxBodyBytes:       1 << 20,
		MaxHistory:         1000,
		ConnQueueFrames:    1000,
		ConnQueueBytes:     1 << 20,
		ShutdownGrace:      10 * time.Second,
		MaxChannelsPerConn: 1000,
		MaxConnsPerUser:    100,
		MaxConnections:     100_000,
		MaxChannels:        100_000,
		MaxMessageBytes:    64 << 10,
		MaxStateKeys:       100,
		MaxStateValueBytes: 4 << 10,
		HeaderTimeout:      10 * time.Second,
		BodyTimeout:        30 * time.Second,
		IdleTimeout:        120 * time.Second,
	}
}

// command is what an invocation asks the binary to do.
type command int

const (
	cmdRun        command = iota // serve (the default)
	cmdVersion                   // -v: print the version
	cmdHelp                      // -h: print the flags
	cmdMakeConfig                // make_config: print or write an ini file
	cmdSign                      // sign: print a token
	cmdAPI                       // api: make a signed call
	cmdTail                      // tail: print a connection's frames
)

// invocation is what the command line asks for besides the settings.
type invocation struct {
	cmd      command
	output   string   // make_config -o FILE; "" means standard output
	iniPath  string   // the ini file read; "" when none
	warnings []string // settings that were accepted but ignored
	tool     command  // the tool the first argument chose (cmdRun: none); kept when -h makes cmd cmdHelp

	// The command-line tools' arguments (see toolFlags).
	args      []string // positional arguments
	url       string   // api, tail: --url
	channels  []string // tail: --channel
	user      string   // tail: --user
	transport string   // tail: --transport
}

// toolName returns the first argument that selected inv's tool.
func (inv invocation) toolName() string {
	for name, cmd := range toolCommands {
		if cmd == inv.tool {
			return name
		}
	}
	return ""
}

// setting is one raw value for a key, with where it came from for errors.
type setting struct {
	key    key
	source string // e.g. `flag --port`, `environment variable CHANNELSTREAM_PORT`
	value  string
}

// iniSection is the section of the ini file that holds the settings.
const iniSection = "channelstream"

// ignoredIniKeys are upstream keys that channelstream-go reads without effect.
var ignoredIniKeys = map[string]bool{
	"signature_checker": true, "gc_conns_after": true,
	"gc_channels_after": true, "wake_connections_after": true,
}

// defaultSignatureChecker is the only signer channelstream-go implements.
const defaultSignatureChecker = "channelstream.utils.DefaultSigner"

// loadConfig reads the command line args (without the program name) and the
// environment through getenv, and returns the settings with, key by key,
// flags over CHANNELSTREAM_<KEY> variables over the ini file named by -i or
// CHANNELSTREAM_INI over defaults. An empty variable counts as unset. For -v
// and -h no source is read and the defaults are returned. Unless make_config
// is asked for, an empty cookie_secret is replaced by a random uuid4.
func loadConfig(args []string, getenv func(string) string) (Config, invocation, error) {
	var inv invocation
	if len(args) > 0 && args[0] == "make_config" {
		inv.cmd, args = cmdMakeConfig, args[1:]
	}
	if len(args) > 0 && toolCommands[args[0]] != 0 {
		inv.cmd, args = toolCommands[args[0]], args[1:]
		inv.tool = inv.cmd
	}
	keys := configKeys()
	var fromFlags []setting
	fs := newFlagSet(keys, &inv, &fromFlags)
	if inv.tool != cmdRun {
		var err error
		if inv.args, err = parseInterspersed(fs, args); err != nil {
			return Config{}, inv, err
		}
	} else if err := fs.Parse(args); err != nil {
		return Config{}, inv, err
	} else if fs.NArg() > 0 {
		return Config{}, inv, unexpectedArg(fs.Arg(0))
	}
	cfg := defaultConfig()
	if inv.cmd == cmdHelp || inv.cmd == cmdVersion {
		return cfg, inv, nil
	}
	if inv.iniPath == "" {
		inv.iniPath = getenv("CHANNELSTREAM_INI")
	}
	var fromIni []setting
	if inv.iniPath != "" {
		data, err := os.ReadFile(inv.iniPath)
		if err != nil {
			return Config{}, inv, fmt.Errorf("reading ini file: %w", err)
		}
		var warns []string
		fromIni, warns, err = parseIni(data, inv.iniPath, keys)
		if err != nil {
			return Config{}, inv, err
		}
		inv.warnings = append(inv.warnings, warns...)
	}
	for _, src := range [][]setting{fromIni, envSettings(keys, getenv), fromFlags} {
		if err := apply(&cfg, src); err != nil {
			return Config{}, inv, err
		}
	}
	if inv.cmd == cmdRun && cfg.CookieSecret == "" {
		cfg.CookieSecret = newUUID4()
	}
	return cfg, inv, nil
}

// apply sets each setting in order; later ones win.
func apply(cfg *Config, settings []setting) error {
	for _, s := range settings {
		if err := s.key.set(cfg, s.value); err != nil {
			if s.key.secret {
				return fmt.Errorf("invalid %s from %s: %w", s.key.name, s.source, err)
			}
			return fmt.Errorf("invalid %s %q from %s: %w", s.key.name, strings.TrimSpace(s.value), s.source, err)
		}
	}
	return nil
}

// envSettings reads CHANNELSTREAM_<KEY> for every key; empty means unset.
func envSettings(keys []key, getenv func(string) string) []setting {
	var out []setting
	for _, k := range keys {
		if v := getenv(k.envName()); v != "" {
			out = append(out, setting{key: k, source: "environment variable " + k.envName(), value: v})
		}
	}
	return out
}

// parseIni reads the [channelstream] section (after the [DEFAULT] one, as
// Python's configparser does) with Python's rules: keys are case-insensitive,
// indented lines continue a value, no inline comments, quotes are kept.
// Unknown keys are ignored with a warning, except upstream ones and those
// of [DEFAULT].
func parseIni(data []byte, path string, keys []key) ([]setting, []string, error) {
	f, err := ini.LoadSources(ini.LoadOptions{
		InsensitiveKeys:            true,
		AllowPythonMultilineValues: true,
		IgnoreContinuation:         true,
		IgnoreInlineComment:        true,
		PreserveSurroundedQuote:    true,
	}, data)
	if err != nil {
		return nil, nil, fmt.Errorf("reading ini file %q: %w", path, err)
	}
	sec, err := f.GetSection(iniSection)
	if err != nil {
		return nil, nil, fmt.Errorf("ini file %q has no [%s] section", path, iniSection)
	}
	byName := make(map[string]key, len(keys))
	for _, k := range keys {
		byName[k.name] = k
	}
	source := fmt.Sprintf("ini file %q [%s]", path, iniSection)
	var out []setting
	var warns []string
	for _, s := range []*ini.Section{f.Section(ini.DefaultSection), sec} {
		for _, ik := range s.Keys() {
			name, v := ik.Name(), trimLines(ik.Value())
			if k, ok := byName[name]; ok {
				out = append(out, setting{key: k, source: source, value: v})
				continue
			}
			if s != sec {
				continue
			}
			switch {
			case name == "signature_checker" && strings.TrimSpace(v) != defaultSignatureChecker:
				warns = append(warns, fmt.Sprintf("%s: signature_checker %q is not supported; the itsdangerous signer is used", source, v))
			case !ignoredIniKeys[name]:
				warns = append(warns, fmt.Sprintf("%s: unknown key %q ignored", source, name))
			}
		}
	}
	return out, warns, nil
}

// trimLines trims every line of a value that spans lines, as Python's
// configparser does with continuation lines.
func trimLines(v string) string {
	if !strings.Contains(v, "\n") {
		return v
	}
	lines := strings.Split(v, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "\n")
}

// key describes one setting: its ini name, its other flag names, and how to
// read it from text and write it back.
type key struct {
	name   string   // ini key; the flag is --name, the variable CHANNELSTREAM_NAME
	flags  []string // 0.6.x flag names, without dashes
	arg    string   // placeholder for the value in -h; "" for booleans
	doc    string   // one line for -h and make_config
	secret bool     // never echo the value in an error
	set    func(c *Config, v string) error
	get    func(c *Config) string
}

func (k key) alias(names ...string) key { k.flags = append(k.flags, names...); return k }

func (k key) isBool() bool { return k.arg == "" }

// envName is the environment variable that sets k.
func (k key) envName() string { return "CHANNELSTREAM_" + strings.ToUpper(k.name) }

// configKeys lists every key in the order of -h and make_config.
func configKeys() []key {
	return []key{
		stringKey("host", "ADDR", "address to listen on; while secret or admin_secret is the default, only loopback (protected mode)", func(c *Config) *string { return &c.Host }),
		intKey("port", "PORT", "TCP port to listen on; 0 picks a free one", 0, 65535, func(c *Config) *int { return &c.Port }).alias("p"),
		stringKey("secret", "SECRET", "secret that signs REST API requests", func(c *Config) *string { return &c.Secret }).alias("s"),
		stringKey("admin_user", "NAME", "admin login name", func(c *Config) *string { return &c.AdminUser }).alias("u", "admin_username"),
		stringKey("admin_secret", "SECRET", "admin password", func(c *Config) *string { return &c.AdminSecret }).alias("a"),
		stringKey("cookie_secret", "SECRET", "admin cookie secret; empty: a random uuid at every start", func(c *Config) *string { return &c.CookieSecret }).alias("cookie-secret"),
		durationKey("admin_session", "how long an admin stays signed in", 1, func(c *Config) *time.Duration { return &c.AdminSession }),
		listKey("allow_posting_from", "client addresses or CIDR ranges allowed to call the API; 0.0.0.0 = everyone", nil, func(c *Config) *[]string { return &c.AllowPostingFrom }).alias("x", "allowed_post_ip"),
		listKey("allow_cors", "substrings an Origin must contain to get CORS headers; empty = every origin", nil, func(c *Config) *[]string { return &c.AllowCORS }).alias("c"),
		boolKey("validate_requests", "signatures expire after 60 s", func(c *Config) *bool { return &c.ValidateRequests }).alias("validate-requests"),
		durationKey("clock_skew", "how far in the future a signature's timestamp may be; beyond it 401", 0, func(c *Config) *time.Duration { return &c.ClockSkew }),
		stringKey("tls_cert_file", "FILE", "PEM certificate chain; with tls_key_file the node serves HTTPS and HTTP/2, reloaded on SIGHUP or change", func(c *Config) *string { return &c.TLSCertFile }),
		stringKey("tls_key_file", "FILE", "PEM private key of tls_cert_file", func(c *Config) *string { return &c.TLSKeyFile }),
		boolKey("enforce_https", "answer 406 to requests not made over https", func(c *Config) *bool { return &c.EnforceHTTPS }).alias("enforce-https"),
		{name: "http_scheme", arg: "SCHEME", doc: "force the scheme of generated URLs: http, https or empty",
			set: func(c *Config, v string) error { c.HTTPScheme = parseScheme(v); return nil },
			get: func(c *Config) string { return c.HTTPScheme }, flags: []string{"http-scheme"}},
		{name: "log_level", arg: "LEVEL", doc: "DEBUG, INFO, WARNING, ERROR or CRITICAL",
			set: func(c *Config, v string) (err error) { c.LogLevel, err = parseLogLevel(v); return err },
			get: func(c *Config) string { return c.LogLevel }, flags: []string{"l", "log-level"}},
		boolKey("debug", "human-readable console logs instead of JSON", func(c *Config) *bool { return &c.Debug }).alias("d"),
		boolKey("demo", "serve the demo chat at /demo (only on a loopback host unless demo_public)", func(c *Config) *bool { return &c.Demo }).alias("e"),
		boolKey("demo_public", "serve the demo chat beyond loopback: anyone who reaches the port may use it", func(c *Config) *bool { return &c.DemoPublic }).alias("demo-public"),
		{name: "redis_url", arg: "URL", doc: "Redis URL (redis://, rediss://, unix://, or redis+cluster://host:port,host:port for a Redis Cluster) to share state between nodes; empty = one node in memory", secret: true,
			set: func(c *Config, v string) (err error) { c.RedisURL, err = parseRedisURL(v); return err },
			get: func(c *Config) string { return c.RedisURL }},
		boolKey("redis_data_plane", "with redis_url: messages through the Redis data plane (per-channel streams) instead of every node replicating every queue through the log (false: log-only mode)", func(c *Config) *bool { return &c.RedisDataPlane }),
		intKey("redis_partitions", "N", "partitions of the Redis data plane's streams; the same on every node", 1, redisbroker.MaxPartitions, func(c *Config) *int { return &c.RedisPartitions }),
		durationKey("redis_publish_linger", "how long a Redis data-plane publish waits for others to share its round trip; 0 = none", 0, func(c *Config) *time.Duration { return &c.RedisPublishLinger }),
		durationKey("redis_stream_max_age", "how long the Redis data plane keeps a frame for clients that resume; 0 = 2 × conn_timeout, at least 1m", 0, func(c *Config) *time.Duration { return &c.RedisStreamMaxAge }),
		durationKey("heartbeat_interval", "time between heartbeats on an attached transport", 1, func(c *Config) *time.Duration { return &c.HeartbeatInterval }),
		durationKey("conn_timeout", "an inactive connection is collected after this", 1, func(c *Config) *time.Duration { return &c.ConnTimeout }),
		durationKey("longpoll_timeout", "longest wait of a /listen request", 1, func(c *Config) *time.Duration { return &c.LongpollTimeout }),
		durationKey("longpoll_gather", "quiet gap during which /listen gathers more frames", 0, func(c *Config) *time.Duration { return &c.LongpollGather }),
		intKey("max_body_bytes", "BYTES", "largest request body; larger ones get 413", 1, math.MaxInt64, func(c *Config) *int64 { return &c.MaxBodyBytes }),
		intKey("max_history", "N", "cap of every channel's history, in messages", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxHistory }),
		intKey("conn_queue_frames", "N", "bound of each connection's queue, in frames", 1, math.MaxInt32, func(c *Config) *int { return &c.ConnQueueFrames }),
		intKey("conn_queue_bytes", "BYTES", "bound of each connection's queue, in bytes", 1, math.MaxInt32, func(c *Config) *int { return &c.ConnQueueBytes }),
		durationKey("shutdown_grace", "window over which open transports are closed at shutdown", 0, func(c *Config) *time.Duration { return &c.ShutdownGrace }),
		listKey("trusted_proxies", "proxy addresses or CIDR ranges whose X-Forwarded-For is believed", checkAddrOrPrefix, func(c *Config) *[]string { return &c.TrustedProxies }),
		intKey("max_channels_per_conn", "N", "channels one connection may be in; more get 422", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxChannelsPerConn }),
		intKey("max_conns_per_user", "N", "connections one user may have at once; more get 429", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxConnsPerUser }),
		intKey("max_connections", "N", "connections this node holds at once; more get 429", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxConnections }),
		intKey("max_channels", "N", "channels this node holds at once; requests that would make more get 429 (empty channels without history are collected after conn_timeout)", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxChannels }),
		intKey("max_message_bytes", "BYTES", "largest encoded message; larger ones get 422", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxMessageBytes }),
		intKey("max_state_keys", "N", "state keys one user may have; more get 422", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxStateKeys }),
		intKey("max_state_value_bytes", "BYTES", "largest state key or value; larger ones get 422", 1, math.MaxInt32, func(c *Config) *int { return &c.MaxStateValueBytes }),
		intKey("max_client_sockets", "N", "client sockets this node holds open; 0 = the file limit less 64", 0, math.MaxInt32, func(c *Config) *int { return &c.MaxClientSockets }),
		durationKey("header_timeout", "longest a client may take to send a request's headers", 1, func(c *Config) *time.Duration { return &c.HeaderTimeout }),
		durationKey("body_timeout", "longest a client may take to send a request's body", 1, func(c *Config) *time.Duration { return &c.BodyTimeout }),
		durationKey("idle_timeout", "longest a keep-alive socket may wait for its next request", 1, func(c *Config) *time.Duration { return &c.IdleTimeout }),
		boolKey("insecure_defaults", "listen beyond loopback even with the default secret or admin_secret", func(c *Config) *bool { return &c.InsecureDefaults }).alias("insecure-defaults"),
	}
}

func stringKey(name, arg, doc string, field func(*Config) *string) key {
	return key{name: name, arg: arg, doc: doc,
		set: func(c *Config, v string) error { *field(c) = strings.TrimSpace(v); return nil },
		get: func(c *Config) string { return *field(c) }}
}

func boolKey(name, doc string, field func(*Config) *bool) key {
	return key{name: name, doc: doc,
		set: func(c *Config, v string) error { *field(c) = asBool(v); return nil },
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) }}
}

func intKey[T int | int64](name, arg, doc string, lo, hi int64, field func(*Config) *T) key {
	return key{name: name, arg: arg, doc: doc,
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return errors.New("not an integer")
			}
			if n < lo || n > hi {
				return fmt.Errorf("must be between %d and %d", lo, hi)
			}
			*field(c) = T(n)
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(int64(*field(c)), 10) }}
}

// durationKey makes a duration key whose value must be at least lo.
func durationKey(name, doc string, lo time.Duration, field func(*Config) *time.Duration) key {
	return key{name: name, arg: "DURATION", doc: doc,
		set: func(c *Config, v string) error {
			d, err := parseDuration(v)
			if err != nil {
				return err
			}
			if d < lo {
				if lo > 0 {
					return errors.New("must be positive")
				}
				return errors.New("must not be negative")
			}
			*field(c) = d
			return nil
		},
		get: func(c *Config) string { return field(c).String() }}
}

// listKey makes a comma-separated list key; check, if not nil, vets each item.
func listKey(name, doc string, check func(string) error, field func(*Config) *[]string) key {
	return key{name: name, arg: "LIST", doc: doc,
		set: func(c *Config, v string) error {
			items := parseList(v)
			if check != nil {
				for _, it := range items {
					if err := check(it); err != nil {
						return err
					}
				}
			}
			*field(c) = items
			return nil
		},
		get: func(c *Config) string { return strings.Join(*field(c), ", ") }}
}

// asBool is Pyramid's asbool: after trimming and lowercasing, t, true, y,
// yes, on and 1 are true; everything else is false.
func asBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "true", "y", "yes", "on", "1":
		return true
	}
	return false
}

// parseList splits on commas (and line breaks, which an ini value spanning
// lines contains), trims each item and drops empty ones; nothing left gives
// nil.
func parseList(s string) []string {
	var items []string
	for _, it := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	return items
}

// parseDuration reads Go duration syntax ("5s", "1m30s") or a plain number of
// seconds ("5", "0.25").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		secs := f * float64(time.Second)
		if math.IsNaN(f) || math.IsInf(f, 0) || secs >= math.MaxInt64 || secs <= math.MinInt64 {
			return 0, errors.New("not a usable number of seconds")
		}
		return time.Duration(secs), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`not a duration (use "5s", "250ms" or a number of seconds)`)
	}
	return d, nil
}

// parseScheme keeps "http" and "https" (case-insensitively) and turns
// anything else into "".
func parseScheme(s string) string {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "http", "https":
		return s
	}
	return ""
}

// parseLogLevel accepts a Python logging level name in any case and returns
// its canonical upper-case form; "" means INFO.
func parseLogLevel(s string) (string, error) {
	switch s = strings.ToUpper(strings.TrimSpace(s)); s {
	case "":
		return "INFO", nil
	case "NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL":
		return s, nil
	case "WARN":
		return "WARNING", nil
	case "FATAL":
		return "CRITICAL", nil
	}
	return "", errors.New("not a level (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
}

// streamMaxAge is the retention of the data plane's streams: the
// redis_stream_max_age setting, or by default twice conn_timeout and at
// least a minute. A client resumes up to conn_timeout after its transport
// went away, and may need frames published up to conn_timeout before that
// (what its transport had not yet taken, or a dead node's lease still
// covered); a stream that outlives neither would answer it with a gap.
func streamMaxAge(cfg Config) time.Duration {
	if cfg.RedisStreamMaxAge > 0 {
		return cfg.RedisStreamMaxAge
	}
	return max(2*cfg.ConnTimeout, time.Minute)
}

// parseRedisURL accepts "" or a redis://, rediss://, unix://,
// redis+cluster:// or rediss+cluster:// URL.
func parseRedisURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	switch u.Scheme {
	case "redis", "rediss", "unix", "redis+cluster", "rediss+cluster":
		return s, nil
	}
	return "", errors.New("scheme must be redis, rediss, unix, redis+cluster or rediss+cluster")
}

// checkAddrOrPrefix accepts an IP address or a CIDR range.
func checkAddrOrPrefix(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return nil
	}
	return fmt.Errorf("%q is neither an IP address nor a CIDR range", s)
}

// newUUID4 returns a random version 4 UUID in canonical form.
func newUUID4() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
