package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// startTLSGateway runs a node serving HTTPS with cert (and enforce_https,
// which must let every https request through).
func startTLSGateway(t *testing.T, cert testCert) *testGateway {
	certFile, keyFile := tlsFiles(t, cert)
	return startGateway(t, func(c *Config) {
		behaviourConfig(c)
		c.TLSCertFile, c.TLSKeyFile = certFile, keyFile
		c.EnforceHTTPS = true
	})
}

func TestTLSServesEveryRouteOverHTTP2(t *testing.T) {
	cert := newTestCert(t, 1)
	tg := startTLSGateway(t, cert)
	hc := tlsClient(t, cert)
	api := client.New(client.Config{BaseURL: tg.URL, Secret: tg.Secret, HTTPClient: hc})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	connect := func(user string) string {
		t.Helper()
		res, err := api.Connect(ctx, client.ConnectRequest{Username: user, Channels: []string{"tls"}})
		if err != nil {
			t.Fatalf("connect over https: %v", err)
		}
		return res.ConnID
	}
	send := func(text string) {
		t.Helper()
		if _, err := api.Send(ctx, client.Message{User: "sys", Channel: "tls", Message: msgText(text)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			t.Fatalf("GET %s: %s over %s, want 200 over HTTP/2", path, resp.Status, resp.Proto)
		}
		return resp
	}

	t.Run("the API answers over HTTP/2 with enforce_https on", func(t *testing.T) {
		get("/healthz").Body.Close()
		if _, err := api.Info(ctx, client.InfoOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an SSE stream delivers over HTTP/2", func(t *testing.T) {
		resp := get("/sse?conn_id=" + connect("sse-user"))
		defer resp.Body.Close()
		send("to sse")
		lines := bufio.NewReader(resp.Body)
		for {
			line, err := lines.ReadString('\n')
			if err != nil {
				t.Fatalf("the stream ended before the message: %v", err)
			}
			if strings.HasPrefix(line, "data:") && strings.Contains(line, "to sse") {
				return
			}
		}
	})
	t.Run("a long-poll answers over HTTP/2", func(t *testing.T) {
		id := connect("longpoll-user")
		send("to longpoll")
		resp := get("/listen?conn_id=" + id)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || !strings.Contains(string(b), "to longpoll") {
			t.Fatalf("long-poll answer %q, %v", b, err)
		}
	})
	t.Run("a WebSocket upgrades on HTTP/1.1 over TLS", func(t *testing.T) {
		id := connect("ws-user")
		d := gws.Dialer{TLSClientConfig: &tls.Config{RootCAs: cert.pool(t)}, HandshakeTimeout: 10 * time.Second}
		ws, resp, err := d.DialContext(ctx, api.AttachURL("ws", id, 0), nil)
		if err != nil {
			t.Fatalf("wss dial: %v", err)
		}
		defer ws.Close()
		if resp.ProtoMajor != 1 || !strings.HasPrefix(api.AttachURL("ws", id, 0), "wss://") {
			t.Fatalf("upgrade over %s to %s", resp.Proto, api.AttachURL("ws", id, 0))
		}
		send("to ws")
		for {
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "to ws") {
				return
			}
		}
	})
	t.Run("the admin cookie is Secure", func(t *testing.T) {
		form := url.Values{"username": {"admin"}, "password": {"admin_secret"}}
		resp, err := hc.PostForm(tg.URL+"/admin/sign_in", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if resp.StatusCode != http.StatusFound || len(cookies) == 0 || !cookies[0].Secure {
			t.Fatalf("sign-in over https: %s, cookies %v, want a Secure session cookie", resp.Status, cookies)
		}
	})
}

func TestTLSReloadsWhenTheFilesChange(t *testing.T) {
	first, second := newTestCert(t, 1), newTestCert(t, 2)
	certFile, keyFile := tlsFiles(t, first)
	tg := startGateway(t, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	addr := strings.TrimPrefix(tg.URL, "https://")
	if got := servedSerial(t, addr); got != 1 {
		t.Fatalf("serves certificate %d, want 1", got)
	}
	// A key that does not match: the node keeps the first pair.
	if err := os.WriteFile(certFile, newTestCert(t, 3).certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tg.g.reloadTLS(); err == nil {
		t.Fatal("a certificate with another key's file loaded")
	}
	if got := servedSerial(t, addr); got != 1 {
		t.Fatalf("after a pair that does not load: certificate %d, want 1 still", got)
	}
	second.write(t, certFile, keyFile)
	awaitSerial(t, addr, 2)
}

func TestTLSSettingsRefused(t *testing.T) {
	cert := newTestCert(t, 1)
	certFile, keyFile := tlsFiles(t, cert)
	for name, args := range map[string][]string{
		"a certificate without its key":  {"--tls_cert_file", certFile},
		"a key without its certificate":  {"--tls_key_file", keyFile},
		"a certificate file that is not": {"--tls_cert_file", keyFile, "--tls_key_file", keyFile},
		"files that do not exist":        {"--tls_cert_file", certFile + ".no", "--tls_key_file", keyFile},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := realMain(append(args, "--host", "127.0.0.1", "--port", "0"), envOf(nil), &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), "tls_") {
				t.Fatalf("exit %d, %q; want 2 naming the tls settings", code, errOut.String())
			}
		})
	}
}

// TestBinaryTLSReloadsOnSIGHUP replaces the files with a pair of the same
// sizes and times, so that only the signal can make the node see it, and
// checks the tools reach an https node from its settings.
func TestBinaryTLSReloadsOnSIGHUP(t *testing.T) {
	bin := buildBinary(t)
	first := newTestCert(t, 1)
	var second testCert
	for i := int64(2); ; i++ {
		second = newTestCert(t, i)
		if len(second.certPEM) == len(first.certPEM) && len(second.keyPEM) == len(first.keyPEM) {
			break
		}
		if i > 200 {
			t.Fatal("no second certificate of the first one's size")
		}
	}
	certFile, keyFile := tlsFiles(t, first)
	env := []string{"CHANNELSTREAM_TLS_CERT_FILE=" + certFile, "CHANNELSTREAM_TLS_KEY_FILE=" + keyFile, "CHANNELSTREAM_SECRET=tls-secret"}
	rb := startBinary(t, bin, env, "--host", "127.0.0.1", "--port", "0")
	if got := servedSerial(t, rb.addr); got != 1 {
		t.Fatalf("serves certificate %d, want 1", got)
	}
	times := map[string]time.Time{}
	for _, f := range []string{certFile, keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		times[f] = fi.ModTime()
	}
	second.write(t, certFile, keyFile)
	for f, mt := range times {
		if err := os.Chtimes(f, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := rb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	awaitSerial(t, rb.addr, second.serial)

	_, port, _ := strings.Cut(rb.addr, ":")
	code, out, errOut := cliRun(t, bin, append(env, "CHANNELSTREAM_PORT="+port), "", "api", "POST", "/info", `{"info": {}}`)
	if code != 0 || !strings.Contains(out, `"channels"`) {
		t.Fatalf("api to the https node: %d %q %q", code, out, errOut)
	}
	if logs := rb.Stop(t); !strings.Contains(logs, `"tls":true`) {
		t.Errorf("the log does not say the node serves TLS:\n%s", logs)
	}
}

// TestSocketCapKeepsAnHTTP2SocketWithALiveStream: an HTTP/2 socket serves
// an SSE stream and, meanwhile, API calls that come and go; it stays
// unevictable while the stream lives, so at max_client_sockets a new
// socket evicts a silent one instead.
func TestSocketCapKeepsAnHTTP2SocketWithALiveStream(t *testing.T) {
	cert := newTestCert(t, 1)
	certFile, keyFile := tlsFiles(t, cert)
	tg := startGateway(t, func(c *Config) {
		behaviourConfig(c)
		c.TLSCertFile, c.TLSKeyFile = certFile, keyFile
		c.MaxClientSockets = 2
	})
	hc := tlsClient(t, cert) // one HTTP/2 socket for everything below
	api := client.New(client.Config{BaseURL: tg.URL, Secret: tg.Secret, HTTPClient: hc})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := api.Connect(ctx, client.ConnectRequest{Username: "u", Channels: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tg.URL+"/sse?conn_id="+conn.ConnID, nil)
	stream, err := hc.Do(req)
	if err != nil || stream.ProtoMajor != 2 {
		t.Fatalf("/sse: %v %v", stream, err)
	}
	defer stream.Body.Close()
	if _, err := api.Info(ctx, client.InfoOptions{}); err != nil { // a call on the same socket ends
		t.Fatal(err)
	}
	pollUntil(t, 5*time.Second, "one socket", func() bool { return tg.g.sockets.Open() == 1 })

	addr := strings.TrimPrefix(tg.URL, "https://")
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	pollUntil(t, 5*time.Second, "two sockets", func() bool { return tg.g.sockets.Open() == 2 })
	newcomer, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer newcomer.Close()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second)) // header_timeout (10 s) would close it later
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the silent socket was not evicted for the newcomer: %v", err)
	}
	if _, err := api.Send(ctx, client.Message{User: "s", Channel: "c", Message: msgText("still here")}); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(stream.Body)
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("the HTTP/2 stream ended: %v", err)
		}
		if strings.Contains(line, "still here") {
			return
		}
	}
}
