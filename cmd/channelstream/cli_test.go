package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi"
)

// cliRun runs the binary with args and env (the tools read no other
// environment) and returns its exit status, stdout and stderr.
func cliRun(t *testing.T, bin string, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// nodeEnv names tg's node through the settings the tools read: the port
// from the environment, the secret from an ini file.
func nodeEnv(t *testing.T, tg *testGateway) []string {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(tg.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ini := writeIniFile(t, "[channelstream]\nsecret = "+tg.Secret+"\n")
	return []string{"CHANNELSTREAM_PORT=" + port, "CHANNELSTREAM_INI=" + ini}
}

func TestCLISignAndAPI(t *testing.T) {
	bin := buildBinary(t)
	tg := startGateway(t, nil)
	env := nodeEnv(t, tg)

	t.Run("sign prints a token of the secret from the ini file", func(t *testing.T) {
		code, out, errOut := cliRun(t, bin, env, "", "sign")
		v := httpapi.NewVerifier(tg.Secret, time.Minute, nil)
		if code != 0 || v.Verify(strings.TrimSpace(out)) != nil || !strings.HasPrefix(out, "channelstream.") {
			t.Fatalf("sign: %d %q %q", code, out, errOut)
		}
		code, out, _ = cliRun(t, bin, append(env, "CHANNELSTREAM_SECRET=other"), "", "sign", "hello")
		if code != 0 || !strings.HasPrefix(out, "hello.") || httpapi.NewVerifier("other", time.Minute, nil).Verify(strings.TrimSpace(out)) != nil {
			t.Fatalf("sign hello with the environment's secret: %d %q", code, out)
		}
	})
	t.Run("api makes a signed call and prints the answer", func(t *testing.T) {
		code, out, errOut := cliRun(t, bin, env, "", "api", "post", "/connect", `{"username": "alice", "channels": ["news"]}`)
		var res struct {
			ConnID   string   `json:"conn_id"`
			Channels []string `json:"channels"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.ConnID) != 36 || errOut != "" {
			t.Fatalf("api /connect: %d %q %q", code, out, errOut)
		}
		body := filepath.Join(t.TempDir(), "msg.json")
		if err := os.WriteFile(body, []byte(`[{"user": "sys", "channel": "news", "message": {"text": "from a file"}}]`), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := cliRun(t, bin, env, "", "api", "POST", "/message", "@"+body); code != 0 || !strings.Contains(out, "from a file") {
			t.Fatalf("api /message @file: %d %q %q", code, out, errOut)
		}
		// Flags after the arguments, the body from standard input.
		if code, out, errOut := cliRun(t, bin, env, `{"info": {"channels": ["news"]}}`, "api", "POST", "/info", "@-", "--secret", tg.Secret); code != 0 || !strings.Contains(out, `"users":["alice"]`) {
			t.Fatalf("api /info @-: %d %q %q", code, out, errOut)
		}
		if code, out, errOut := cliRun(t, bin, []string{"CHANNELSTREAM_SECRET=" + tg.Secret}, "", "api", "GET", "/healthz", "--url", tg.URL); code != 0 || !strings.Contains(out, `"ok"`) {
			t.Fatalf("api --url: %d %q %q", code, out, errOut)
		}
	})
	t.Run("a refusal exits 1 and prints the JSON error", func(t *testing.T) {
		code, out, errOut := cliRun(t, bin, env, "", "api", "POST", "/connect", `{}`)
		if code != 1 || strings.TrimSpace(out) != `{"username":["Missing data for required field."]}` || !strings.Contains(errOut, "422") {
			t.Fatalf("api refused: %d %q %q", code, out, errOut)
		}
		code, out, errOut = cliRun(t, bin, append(env, "CHANNELSTREAM_SECRET=wrong"), "", "api", "POST", "/info")
		if code != 1 || !strings.Contains(out, "Bad Signature") || !strings.Contains(errOut, "401") {
			t.Fatalf("api with a wrong secret: %d %q %q", code, out, errOut)
		}
		code, _, errOut = cliRun(t, bin, nil, "", "api", "GET", "/healthz", "--url", "http://127.0.0.1:1")
		if code != 1 || !strings.Contains(errOut, "GET /healthz") {
			t.Fatalf("api to a closed port: %d %q", code, errOut)
		}
	})
	t.Run("bad usage exits 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"api"}, {"api", "POST"}, {"api", "POST", "connect"}, {"api", "POST", "/connect", "{"},
			{"api", "POST", "/connect", "@/nonexistent"}, {"api", "POST", "/a", "{}", "extra"},
			{"api", "--nope", "GET", "/info"}, {"api", "GET", "/info", "--url", "ftp://x"},
			{"sign", "a", "b"}, {"tail"}, {"tail", "--channel", "a", "--transport", "carrier-pigeon"},
		} {
			code, out, errOut := cliRun(t, bin, env, "", args...)
			if code != 2 || out != "" || !strings.Contains(errOut, "-h' for its usage") {
				t.Errorf("%q: %d %q %q, want 2 and the usage hint", args, code, out, errOut)
			}
		}
	})
	t.Run("-h of each tool lists its flags", func(t *testing.T) {
		for tool, flags := range map[string][]string{
			"sign": {"VALUE", "--secret"},
			"api":  {"METHOD PATH", "--url", "@FILE", "--secret"},
			"tail": {"--channel", "--user", "--transport", "--url", "--secret"},
		} {
			code, out, _ := cliRun(t, bin, nil, "", tool, "-h")
			for _, f := range flags {
				if code != 0 || !strings.Contains(out, f) {
					t.Errorf("%s -h: %d, lacks %q:\n%s", tool, code, f, out)
				}
			}
		}
		if _, out, _ := cliRun(t, bin, nil, "", "-h"); !strings.Contains(out, "channelstream tail --channel") {
			t.Errorf("-h does not list the tools:\n%s", out)
		}
	})
}

// tailProc is a running "channelstream tail" whose stdout lines and
// stderr notes are read as they come.
type tailProc struct {
	cmd   *exec.Cmd
	lines chan string
	notes chan string
	done  chan struct{}
}

func startTail(t *testing.T, bin string, env []string, args ...string) *tailProc {
	t.Helper()
	p := &tailProc{cmd: exec.Command(bin, append([]string{"tail"}, args...)...),
		lines: make(chan string, 100), notes: make(chan string, 100), done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := func(r *bufio.Scanner, into chan string, done func()) {
		defer done()
		for r.Scan() {
			into <- r.Text()
		}
	}
	outDone := make(chan struct{})
	go read(bufio.NewScanner(stdout), p.lines, func() { close(outDone) })
	go read(bufio.NewScanner(stderr), p.notes, func() { <-outDone; close(p.done) })
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done; _ = p.cmd.Wait() })
	return p
}

// note waits for a line on stderr that contains want.
func (p *tailProc) note(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case n := <-p.notes:
			if strings.Contains(n, want) {
				return n
			}
		case <-deadline:
			t.Fatalf("tail said nothing with %q in 20 s", want)
		}
	}
}

// texts reads n frames and returns their message texts.
func (p *tailProc) texts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	deadline := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case l := <-p.lines:
			var f struct {
				Type    string            `json:"type"`
				Message map[string]string `json:"message"`
			}
			if err := json.Unmarshal([]byte(l), &f); err != nil {
				t.Fatalf("tail printed %q, not a JSON object: %v", l, err)
			}
			if f.Type == "message" {
				out = append(out, f.Message["text"])
			}
		case <-deadline:
			t.Fatalf("tail printed %v in 20 s, want %d messages", out, n)
		}
	}
	return out
}

func TestCLITailResumesAfterADrop(t *testing.T) {
	bin := buildBinary(t)
	for _, transport := range []string{"ws", "sse", "longpoll"} {
		t.Run(transport, func(t *testing.T) {
			tg := startGateway(t, behaviourConfig)
			proxy := newBrowserProxy(t, strings.TrimPrefix(tg.URL, "http://"))
			p := startTail(t, bin, []string{"CHANNELSTREAM_SECRET=" + tg.Secret},
				"--url", proxy.URL, "--channel", "news,other", "--user", "ops", "--transport", transport)
			p.note(t, "connected as \"ops\"")
			send := func(from, to int) {
				for i := from; i <= to; i++ {
					tg.mustSend(t, "news", fmt.Sprint("m", i))
				}
			}
			send(1, 3)
			if got := p.texts(t, 3); strings.Join(got, " ") != "m1 m2 m3" {
				t.Fatalf("before the drop: %v", got)
			}
			if killed, _ := proxy.kill(); killed == 0 && transport != "longpoll" {
				t.Fatal("the proxy cut no connection")
			}
			send(4, 6)
			if transport != "longpoll" { // a poll may find its connection cut only when it is next made, and a GET is retried
				p.note(t, "attaching again from seq 3")
			}
			if got := p.texts(t, 3); strings.Join(got, " ") != "m4 m5 m6" {
				t.Fatalf("after the drop: %v, want m4 m5 m6 once each", got)
			}
			send(7, 7)
			if got := p.texts(t, 1); got[0] != "m7" {
				t.Fatalf("then: %v", got)
			}
			if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			<-p.done
			if err := p.cmd.Wait(); err != nil {
				t.Fatalf("tail ended with %v after SIGINT, want exit 0", err)
			}
		})
	}
}

// TestCLITailOverTLS: with tls_cert_file the tools trust the node's own
// certificate; tail receives over wss and over SSE on HTTP/2.
func TestCLITailOverTLS(t *testing.T) {
	bin := buildBinary(t)
	cert := newTestCert(t, 1)
	tg := startTLSGateway(t, cert)
	certFile, _ := tlsFiles(t, cert) // the tools read only the certificate
	for _, transport := range []string{"ws", "sse"} {
		t.Run(transport, func(t *testing.T) {
			p := startTail(t, bin, []string{"CHANNELSTREAM_SECRET=" + tg.Secret, "CHANNELSTREAM_TLS_CERT_FILE=" + certFile},
				"--url", tg.URL, "--channel", "tls-"+transport, "--transport", transport)
			p.note(t, "connected as")
			tg.mustSend(t, "tls-"+transport, "over tls")
			if got := p.texts(t, 1); got[0] != "over tls" {
				t.Fatalf("tail over %s with TLS: %v", transport, got)
			}
		})
	}
}

func TestCLITailConnectsAgainWhenForgotten(t *testing.T) {
	bin := buildBinary(t)
	tg := startGateway(t, behaviourConfig)
	p := startTail(t, bin, []string{"CHANNELSTREAM_SECRET=" + tg.Secret}, "--url", tg.URL, "--channel", "news")
	note := p.note(t, "conn_id ")
	id := strings.Fields(note[strings.Index(note, "conn_id ")+len("conn_id "):])[0]
	id = strings.TrimSuffix(id, ",")
	if code, b := tg.Call("POST", "/disconnect", map[string]string{"conn_id": id}); code != 200 || string(b) != "true" {
		t.Fatalf("disconnect %s: %d %s", id, code, b)
	}
	p.note(t, "connecting again")
	p.note(t, "conn_id "+id)
	tg.mustSend(t, "news", "after")
	if got := p.texts(t, 1); got[0] != "after" {
		t.Fatalf("after the reconnect: %v", got)
	}
}

func TestCLITailRefusedExits1(t *testing.T) {
	bin := buildBinary(t)
	tg := startGateway(t, nil)
	code, _, errOut := cliRun(t, bin, []string{"CHANNELSTREAM_SECRET=wrong"}, "", "tail", "--url", tg.URL, "--channel", "news")
	if code != 1 || !strings.Contains(errOut, "Bad Signature") {
		t.Fatalf("tail with a wrong secret: %d %q", code, errOut)
	}
}
