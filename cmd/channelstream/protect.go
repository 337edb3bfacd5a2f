package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// checkProtectedMode refuses, in the spirit of Redis's protected mode, to
// serve beyond loopback while secret or admin_secret is still its
// well-known default (an empty one counts as the default, since the API
// falls back to it): anyone who reached the port could sign API calls or
// sign in as admin. insecure_defaults overrides it for throwaway setups.
// The error names the settings to change and never shows a secret.
func checkProtectedMode(cfg Config) error {
	if cfg.InsecureDefaults || isLoopbackHost(cfg.Host) {
		return nil
	}
	def := defaultConfig()
	var keys []string
	if cfg.Secret == def.Secret || cfg.Secret == "" {
		keys = append(keys, "secret")
	}
	if cfg.AdminSecret == def.AdminSecret || cfg.AdminSecret == "" {
		keys = append(keys, "admin_secret")
	}
	if len(keys) == 0 {
		return nil
	}
	where := fmt.Sprintf("host %s", cfg.Host)
	if strings.TrimSpace(cfg.Host) == "" {
		where = "every address (empty host)"
	}
	var flags, vars []string
	for _, k := range keys {
		flags = append(flags, "--"+k)
		vars = append(vars, "CHANNELSTREAM_"+strings.ToUpper(k))
	}
	state := "is still the default"
	if len(keys) > 1 {
		state = "are still the defaults"
	}
	return fmt.Errorf("protected mode: refusing to listen on %s because %s %s, "+
		"which anyone who reaches the port could use to call the API or sign in as admin.\n"+
		"Do one of:\n"+
		"  - set %s (flags %s; environment %s; or the [%s] section of the ini file);\n"+
		"  - listen on loopback only: --host 127.0.0.1;\n"+
		"  - for a throwaway setup only, pass --insecure-defaults (insecure_defaults = true).",
		where, strings.Join(keys, " and "), state,
		strings.Join(keys, " and "), strings.Join(flags, ", "), strings.Join(vars, ", "), iniSection)
}

// checkDemoPublic refuses to serve the demo chat beyond loopback unless
// demo_public says so: the demo lets anyone who reaches it create users
// and channels (of its own, bounded hub) and chat.
func checkDemoPublic(cfg Config) error {
	if !cfg.Demo || cfg.DemoPublic || isLoopbackHost(cfg.Host) {
		return nil
	}
	return fmt.Errorf("demo: refusing to serve the demo chat on host %s: anyone who reaches the port could use it.\n"+
		"Do one of:\n"+
		"  - turn the demo off (demo = false);\n"+
		"  - listen on loopback only: --host 127.0.0.1;\n"+
		"  - serve it publicly on purpose: --demo-public (demo_public = true in the [%s] section).",
		cfg.Host, iniSection)
}

// isLoopbackHost reports whether host (the host setting) is a loopback
// address (127.0.0.0/8, ::1) or "localhost". Any other name, and the empty
// host (every address), is not.
func isLoopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	return err == nil && a.Unmap().IsLoopback()
}
