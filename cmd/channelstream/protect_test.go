package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// Distinctive secrets that must never be printed.
const (
	apiSecret    = "api-s3cret-never-shown"
	adminSecret  = "admin-s3cret-never-shown"
	cookieSecret = "cookie-s3cret-never-shown"
)

func TestProtectedModeCheck(t *testing.T) {
	def := defaultConfig()
	for _, c := range []struct {
		name                string
		host, secret, admin string
		insecure            bool
		refuse              []string // settings named in the error; nil: starts
	}{
		{"defaults on 0.0.0.0 are refused", "0.0.0.0", def.Secret, def.AdminSecret, false, []string{"secret and admin_secret"}},
		{"default secret on a LAN address is refused", "10.0.0.5", def.Secret, "a", false, []string{"because secret is", "--secret"}},
		{"default admin_secret on :: is refused", "::", "s", def.AdminSecret, false, []string{"because admin_secret is", "--admin_secret"}},
		{"empty secrets count as the defaults", "0.0.0.0", "", "", false, []string{"secret and admin_secret"}},
		{"an empty host (every address) is refused", "", def.Secret, def.AdminSecret, false, []string{"every address"}},
		{"a host name is refused", "example.com", def.Secret, def.AdminSecret, false, []string{"example.com"}},
		{"127.0.0.1 starts", "127.0.0.1", def.Secret, def.AdminSecret, false, nil},
		{"127.1.2.3 starts", "127.1.2.3", def.Secret, def.AdminSecret, false, nil},
		{"::1 starts", "::1", def.Secret, def.AdminSecret, false, nil},
		{"[::1] starts", "[::1]", def.Secret, def.AdminSecret, false, nil},
		{"localhost starts", "LocalHost", def.Secret, def.AdminSecret, false, nil},
		{"own secrets start anywhere", "0.0.0.0", "s", "a", false, nil},
		{"insecure_defaults overrides", "0.0.0.0", def.Secret, def.AdminSecret, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := def
			cfg.Host, cfg.Secret, cfg.AdminSecret, cfg.InsecureDefaults = c.host, c.secret, c.admin, c.insecure
			err := checkProtectedMode(cfg)
			if c.refuse == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("started")
			}
			for _, w := range append(c.refuse, "protected mode", "--host 127.0.0.1", "--insecure-defaults") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestProtectedModeRefusesToStart(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"default host and secrets", nil, nil},
		{"own secret, default admin_secret from the environment", nil, map[string]string{"CHANNELSTREAM_SECRET": apiSecret}},
		{"insecure_defaults off", []string{"--insecure-defaults=false", "--admin_secret", adminSecret}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := realMain(append(c.args, "--port", "0"), envOf(c.env), &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), "protected mode") {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			if strings.Contains(errOut.String(), apiSecret) || strings.Contains(errOut.String(), adminSecret) {
				t.Fatalf("stderr shows a secret: %q", errOut.String())
			}
		})
	}
}

func TestProtectedHelpAndErrorsShowNoSecrets(t *testing.T) {
	ini := writeIniFile(t, "[channelstream]\nadmin_secret = "+adminSecret+"\ncookie_secret = "+cookieSecret+"\n")
	env := map[string]string{"CHANNELSTREAM_INI": ini, "CHANNELSTREAM_SECRET": apiSecret}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-v"}, {"--port", "bad"}, {"--redis_url", "http://u:" + apiSecret + "@h"}} {
		var out, errOut bytes.Buffer
		realMain(args, envOf(env), &out, &errOut)
		all := out.String() + errOut.String()
		for _, secret := range []string{apiSecret, adminSecret, cookieSecret} {
			if strings.Contains(all, secret) {
				t.Errorf("%q prints a secret:\n%s", args, all)
			}
		}
	}
}

func TestGatewayAdminJSONShowsNoSecrets(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.Secret, c.AdminSecret, c.CookieSecret = apiSecret, adminSecret, cookieSecret
	})
	tg.Connect("alice", "news")
	code, b := tg.Call("GET", "/admin/admin.json", nil)
	if code != http.StatusOK || !strings.Contains(string(b), "alice") {
		t.Fatalf("admin.json: %d %s", code, b)
	}
	for _, secret := range []string{apiSecret, adminSecret, cookieSecret} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("admin.json shows a secret: %s", b)
		}
	}
}

// buildBinary builds the binary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "channelstream")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runningBinary is the real binary serving until stop.
type runningBinary struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

// startBinary runs the binary with args and env and waits for its
// "listening" line.
func startBinary(t *testing.T, bin string, env []string, args ...string) *runningBinary {
	t.Helper()
	rb := &runningBinary{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	rb.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stderr, err := rb.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.cmd.Process.Kill(); <-rb.done })
	addrc := make(chan string, 1)
	go func() {
		defer close(rb.done)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			rb.mu.Lock()
			rb.logs.Write(append(lines.Bytes(), '\n'))
			rb.mu.Unlock()
			var entry struct{ Message, Addr string }
			if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Message == "listening" {
				addrc <- entry.Addr
			}
		}
	}()
	select {
	case rb.addr = <-addrc:
	case <-rb.done:
		t.Fatalf("exited before listening: %s", rb.Logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("not listening after 20 s: %s", rb.Logs())
	}
	return rb
}

// Logs returns what the binary wrote on stderr so far.
func (rb *runningBinary) Logs() string {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return rb.logs.String()
}

// Stop sends SIGTERM, waits for the exit and returns every log line.
func (rb *runningBinary) Stop(t *testing.T) string {
	t.Helper()
	if err := rb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rb.done:
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGTERM")
	}
	if err := rb.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, rb.Logs())
	}
	return rb.Logs()
}

func TestBinaryProtectedMode(t *testing.T) {
	bin := buildBinary(t)
	t.Run("refuses 0.0.0.0 with the default secrets and says what to change", func(t *testing.T) {
		cmd := exec.Command(bin, "--port", "0")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("err %v, output %s", err, out)
		}
		for _, w := range []string{"protected mode", "--secret", "--admin_secret", "--host 127.0.0.1", "--insecure-defaults"} {
			if !strings.Contains(string(out), w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("--insecure-defaults starts on 0.0.0.0 with a warning", func(t *testing.T) {
		rb := startBinary(t, bin, nil, "--insecure-defaults", "--port", "0", "--shutdown_grace", "0")
		if !strings.HasPrefix(rb.addr, "[::]:") && !strings.HasPrefix(rb.addr, "0.0.0.0:") {
			t.Errorf("listening on %s", rb.addr)
		}
		if logs := rb.Stop(t); !strings.Contains(logs, "protected mode is off") {
			t.Errorf("no warning:\n%s", logs)
		}
	})
	t.Run("own secrets start on 0.0.0.0", func(t *testing.T) {
		rb := startBinary(t, bin, []string{"CHANNELSTREAM_SECRET=" + apiSecret, "CHANNELSTREAM_ADMIN_SECRET=" + adminSecret},
			"--port", "0", "--shutdown_grace", "0")
		rb.Stop(t)
	})
	t.Run("the logs show no secrets", func(t *testing.T) { testLogsShowNoSecrets(t, bin) })
}

// testLogsShowNoSecrets runs the binary at DEBUG with secrets from every
// source, exercises the paths that log (bad signatures, refused sign-ins,
// the sign-in block), and searches every log line for them.
func testLogsShowNoSecrets(t *testing.T, bin string) {
	ini := writeIniFile(t, "[channelstream]\ncookie_secret = "+cookieSecret+"\n")
	rb := startBinary(t, bin, []string{"CHANNELSTREAM_SECRET=" + apiSecret, "CHANNELSTREAM_INI=" + ini},
		"--admin_secret", adminSecret, "--host", "127.0.0.1", "--port", "0", "--log_level", "DEBUG",
		"--shutdown_grace", "0", "--redis_url", "")
	base := "http://" + rb.addr
	do := func(req *http.Request) {
		t.Helper()
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	req, _ := http.NewRequest("POST", base+"/connect", strings.NewReader(`{"username":"alice"}`))
	req.Header.Set("X-Channelstream-Secret", "not.a.token")
	do(req)
	req, _ = http.NewRequest("POST", base+"/connect", strings.NewReader(`{"username":"alice"}`))
	req.Header.Set("X-Channelstream-Secret", client.Sign(apiSecret, "channelstream", time.Now()))
	do(req)
	for _, pass := range []string{"wrong", "wrong", "wrong", "wrong", "wrong", "wrong", adminSecret} {
		form := url.Values{"username": {"admin"}, "password": {pass}}.Encode()
		req, _ = http.NewRequest("POST", base+"/admin/sign_in", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		do(req)
	}
	logs := rb.Stop(t)
	if !strings.Contains(logs, "admin sign-in blocked") {
		t.Errorf("the sign-in block was not logged:\n%s", logs)
	}
	for _, secret := range []string{apiSecret, adminSecret, cookieSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs show %q:\n%s", secret, logs)
		}
	}
}
