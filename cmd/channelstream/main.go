// Command channelstream is channelstream-go: a drop-in replacement for the
// Python channelstream real-time server. See PROTOCOL.md for the contract and
// "channelstream -h" for the settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// realMain runs the command line args and returns the exit status: 0 on
// success, 2 for a configuration error, 1 when the server fails.
func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, inv, err := loadConfig(args, getenv)
	if err != nil && inv.tool != cmdRun {
		fmt.Fprintf(stderr, "channelstream %s: %v\nRun 'channelstream %[1]s -h' for its usage.\n", inv.toolName(), err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "channelstream: %v\nRun 'channelstream -h' for the list of settings.\n", err)
		return 2
	}
	switch inv.cmd {
	case cmdVersion:
		fmt.Fprintf(stdout, "channelstream-go %s\n", readBuild())
		return 0
	case cmdHelp:
		if inv.tool != cmdRun {
			writeToolHelp(stdout, inv.tool)
			return 0
		}
		writeHelp(stdout)
		return 0
	case cmdSign, cmdAPI, cmdTail:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runTool(ctx, cfg, inv, os.Stdin, stdout, stderr)
	case cmdMakeConfig:
		if err := writeIni(cfg, inv.output, stdout); err != nil {
			fmt.Fprintf(stderr, "channelstream: %v\n", err)
			return 1
		}
		return 0
	}

	if err := checkProtectedMode(cfg); err != nil {
		fmt.Fprintf(stderr, "channelstream: %v\n", err)
		return 2
	}
	if err := checkDemoPublic(cfg); err != nil {
		fmt.Fprintf(stderr, "channelstream: %v\n", err)
		return 2
	}
	if err := checkTimings(cfg); err != nil {
		fmt.Fprintf(stderr, "channelstream: %v\n", err)
		return 2
	}
	if err := checkTLS(cfg); err != nil {
		fmt.Fprintf(stderr, "channelstream: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(cfg, stderr)
	for _, w := range inv.warnings {
		log.Warn().Msg(w)
	}
	if cfg.Secret == defaultConfig().Secret || cfg.Secret == "" {
		log.Warn().Msg("secret is the default: set secret before exposing the API")
	}
	if cfg.AdminSecret == defaultConfig().AdminSecret || cfg.AdminSecret == "" {
		log.Warn().Msg("admin_secret is the default: set admin_secret before exposing the admin page")
	}
	if probe := cfg; probe.InsecureDefaults {
		if probe.InsecureDefaults = false; checkProtectedMode(probe) != nil {
			log.Warn().Str("host", cfg.Host).Msg("insecure_defaults: protected mode is off and a default secret is exposed beyond loopback")
		}
	}
	if cfg.Demo && cfg.DemoPublic && !isLoopbackHost(cfg.Host) {
		log.Warn().Str("host", cfg.Host).Msg("demo_public: the demo chat is served beyond loopback; anyone who reaches the port may use it")
	}
	b := readBuild()
	log.Info().Str("version", b.Version).Str("revision", b.Revision).Bool("modified", b.Modified).Str("ini", inv.iniPath).Msg("starting channelstream-go")
	if err := run(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("channelstream stopped")
		return 1
	}
	return 0
}

// newLogger builds the process logger: JSON lines on w, or the console
// format when cfg.Debug, at the level of cfg.LogLevel.
func newLogger(cfg Config, w io.Writer) zerolog.Logger {
	out := w
	if cfg.Debug {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(out).Level(zerologLevel(cfg.LogLevel)).With().Timestamp().Logger()
}

// zerologLevel maps a canonical Python level name (see parseLogLevel).
func zerologLevel(python string) zerolog.Level {
	switch python {
	case "NOTSET":
		return zerolog.TraceLevel
	case "DEBUG":
		return zerolog.DebugLevel
	case "WARNING":
		return zerolog.WarnLevel
	case "ERROR":
		return zerolog.ErrorLevel
	case "CRITICAL":
		return zerolog.FatalLevel
	}
	return zerolog.InfoLevel
}

// flagValue feeds one flag name into the ordered list of flag settings, so
// that only flags given on the command line override, the last one winning.
type flagValue struct {
	k    key
	name string
	dst  *[]setting
}

func (f *flagValue) String() string   { return "" }
func (f *flagValue) IsBoolFlag() bool { return f.k.isBool() }
func (f *flagValue) Set(v string) error {
	*f.dst = append(*f.dst, setting{key: f.k, source: "flag " + dashed(f.name), value: v})
	return nil
}

// cmdFlag is a boolean flag that selects a command (-v, -h).
type cmdFlag struct {
	inv *invocation
	cmd command
}

func (f cmdFlag) String() string   { return "" }
func (f cmdFlag) IsBoolFlag() bool { return true }
func (f cmdFlag) Set(v string) error {
	if asBool(v) {
		f.inv.cmd = f.cmd
	}
	return nil
}

// newFlagSet registers --<key> and its 0.6.x names for every key, plus -i,
// -v, -h and, for make_config, -o. The flag package accepts one or two
// dashes alike. Errors are returned, never printed.
func newFlagSet(keys []key, inv *invocation, dst *[]setting) *flag.FlagSet {
	fs := flag.NewFlagSet("channelstream", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, k := range keys {
		for _, name := range append([]string{k.name}, k.flags...) {
			fs.Var(&flagValue{k: k, name: name, dst: dst}, name, k.doc)
		}
	}
	for _, name := range []string{"i", "ini"} {
		fs.StringVar(&inv.iniPath, name, "", "ini file")
	}
	for _, name := range []string{"v", "version"} {
		fs.Var(cmdFlag{inv, cmdVersion}, name, "print the version")
	}
	for _, name := range []string{"h", "help", "?"} {
		fs.Var(cmdFlag{inv, cmdHelp}, name, "print the flags")
	}
	if inv.cmd == cmdMakeConfig {
		for _, name := range []string{"o", "output"} {
			fs.StringVar(&inv.output, name, "", "output file")
		}
	}
	toolFlags(fs, inv)
	return fs
}

// dashed writes a flag name as the user most likely typed it: -p, --port.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func unexpectedArg(arg string) error {
	if arg == "make_config" {
		return errors.New("make_config must come first: channelstream make_config [-o FILE] [flags]")
	}
	return fmt.Errorf("unexpected argument %q (boolean flags take their value as --flag=false)", arg)
}

// writeHelp lists every flag with its default.
func writeHelp(w io.Writer) {
	fmt.Fprint(w, `Usage:
  channelstream [flags]                        run the server
  channelstream make_config [-o FILE] [flags]  print an ini file with every setting
  channelstream sign [VALUE]                   print a signed token (see sign -h)
  channelstream api METHOD PATH [JSON | @FILE] make a signed API call (see api -h)
  channelstream tail --channel C [--user U] [--transport ws|sse|longpoll]
                                               print a channel's frames as they come (see tail -h)
  channelstream -v                             print the version

Every setting KEY comes, by precedence, from the flag --KEY, the environment
variable CHANNELSTREAM_<KEY in upper case>, the key KEY of the [channelstream]
section of the ini file, or its default. Flags take one or two dashes.
Booleans are true for t, true, y, yes, on or 1. Durations are "5s", "250ms"
or a number of seconds. Lists are comma separated.

  -i, --ini FILE
        ini file to read (default: $CHANNELSTREAM_INI, else none)
  -o, --output FILE
        make_config: write FILE instead of standard output
  -v, --version
        print the version and exit
  -h, --help
        print this help and exit
`)
	def := defaultConfig()
	for _, k := range configKeys() {
		names := []string{"--" + k.name}
		for _, a := range k.flags {
			names = append(names, dashed(a))
		}
		arg := " " + k.arg
		if k.isBool() {
			arg = "[=BOOL]"
		}
		fmt.Fprintf(w, "  %s%s\n        %s (default %s)\n", strings.Join(names, ", "), arg, k.doc, orEmpty(k.get(&def)))
	}
}

func orEmpty(s string) string {
	if s == "" {
		return "empty"
	}
	return s
}

// renderIni writes cfg as an ini [channelstream] section with every key,
// each preceded by its description and default.
func renderIni(cfg Config) string {
	var b strings.Builder
	b.WriteString("# channelstream-go settings, written by \"channelstream make_config\".\n")
	b.WriteString("# Precedence: flags > CHANNELSTREAM_<KEY> environment variables > this file > defaults.\n")
	fmt.Fprintf(&b, "[%s]\n", iniSection)
	def := defaultConfig()
	for _, k := range configKeys() {
		fmt.Fprintf(&b, "\n# %s (default %s)\n", k.doc, orEmpty(k.get(&def)))
		// An indented line continues the value, as in Python's configparser.
		v := strings.ReplaceAll(k.get(&cfg), "\n", "\n  ")
		fmt.Fprintf(&b, "%s\n", strings.TrimSpace(k.name+" = "+v))
	}
	fmt.Fprintf(&b, "\n# Accepted for compatibility with channelstream 0.7; only this signer exists.\nsignature_checker = %s\n", defaultSignatureChecker)
	return b.String()
}

// writeIni writes renderIni(cfg) to path, or to stdout when path is "".
func writeIni(cfg Config, path string, stdout io.Writer) error {
	text := renderIni(cfg)
	if path == "" {
		_, err := io.WriteString(stdout, text)
		return err
	}
	// The file holds the secrets: it is 0600 whatever mode an existing
	// file had (os.WriteFile keeps an existing file's mode).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("writing config: make %s private: %w", path, err)
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return fmt.Errorf("writing config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	return nil
}

// checkTimings refuses settings under which the collector would remove
// connections whose transports are alive: an attached transport renews
// its connection at each heartbeat.
func checkTimings(cfg Config) error {
	if cfg.HeartbeatInterval >= cfg.ConnTimeout {
		return fmt.Errorf("heartbeat_interval (%v) must be shorter than conn_timeout (%v): attached connections stay alive through their heartbeats, so every one would be collected; lower heartbeat_interval or raise conn_timeout",
			cfg.HeartbeatInterval, cfg.ConnTimeout)
	}
	return nil
}
