package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/channelstream-go/channelstream-go/httpapi/client"
)

// Exit statuses of the command-line tools (sign, api, tail).
const (
	exitOK      = 0 // done
	exitRefused = 1 // the API refused, or the node could not be reached
	exitUsage   = 2 // bad arguments or settings
)

// cliTimeout bounds one API call of the command-line tools.
const cliTimeout = 30 * time.Second

// toolCommands names the command-line tools, each a first argument.
var toolCommands = map[string]command{"sign": cmdSign, "api": cmdAPI, "tail": cmdTail}

// toolFlags registers the flags of the tool inv.cmd (and -h's tool).
func toolFlags(fs *flag.FlagSet, inv *invocation) {
	switch inv.cmd {
	case cmdAPI, cmdTail:
		fs.StringVar(&inv.url, "url", "", "the node's URL (default: from host and port)")
	}
	if inv.cmd == cmdTail {
		fs.Func("channel", "a channel to subscribe to (repeat, or comma separated)", func(v string) error {
			inv.channels = append(inv.channels, parseList(v)...)
			return nil
		})
		fs.StringVar(&inv.user, "user", "channelstream-tail", "the user to connect as")
		fs.StringVar(&inv.transport, "transport", "ws", "ws, sse or longpoll")
	}
}

// parseInterspersed parses flags and positional arguments in any order,
// as "channelstream api POST /info --secret s" reads naturally; after "--"
// everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// runTool runs the command-line tool inv.cmd and returns its exit status.
func runTool(ctx context.Context, cfg Config, inv invocation, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "channelstream %s: %s\n", inv.toolName(), fmt.Sprintf(format, a...))
		if code == exitUsage {
			fmt.Fprintf(stderr, "Run 'channelstream %s -h' for its usage.\n", inv.toolName())
		}
		return code
	}
	if inv.cmd == cmdSign {
		if len(inv.args) > 1 {
			return fail(exitUsage, "takes at most one VALUE, got %d arguments", len(inv.args))
		}
		value := client.SignedValue
		if len(inv.args) == 1 {
			value = inv.args[0]
		}
		fmt.Fprintln(stdout, client.Sign(cfg.Secret, value, time.Now()))
		return exitOK
	}
	hc := toolHTTP(cfg)
	api, err := toolClient(cfg, inv.url, hc)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if inv.cmd == cmdTail {
		t, err := newTail(api, hc, inv, stdout, stderr)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		if err := t.run(ctx); err != nil {
			return fail(exitRefused, "%v", err)
		}
		return exitOK
	}
	method, path, body, err := apiArgs(inv.args, stdin)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	status, answer, err := api.Call(ctx, method, path, body)
	if err != nil {
		return fail(exitRefused, "%v", err)
	}
	stdout.Write(answer)
	if len(answer) > 0 && answer[len(answer)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	if status < 200 || status > 299 {
		return fail(exitRefused, "%s %s: %d %s", method, path, status, http.StatusText(status))
	}
	return exitOK
}

// apiArgs reads "METHOD PATH [JSON | @FILE | @-]".
func apiArgs(args []string, stdin io.Reader) (method, path string, body []byte, err error) {
	if len(args) < 2 || len(args) > 3 {
		return "", "", nil, fmt.Errorf("wants METHOD PATH [JSON | @FILE], got %d arguments", len(args))
	}
	method, path = strings.ToUpper(args[0]), args[1]
	if !strings.HasPrefix(path, "/") {
		return "", "", nil, fmt.Errorf("PATH %q must start with /", path)
	}
	if len(args) == 2 {
		return method, path, nil, nil
	}
	src := args[2]
	switch {
	case src == "@-":
		body, err = io.ReadAll(stdin)
	case strings.HasPrefix(src, "@"):
		body, err = os.ReadFile(src[1:])
	default:
		body = []byte(src)
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("reading the body: %w", err)
	}
	if !json.Valid(body) {
		return "", "", nil, errors.New("the body is not valid JSON")
	}
	return method, path, body, nil
}

// toolHTTP returns the HTTP client of the tools. With tls_cert_file set
// it trusts that certificate besides the system's roots (a node's own
// self-signed certificate).
func toolHTTP(cfg Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLSCertFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if pem, err := os.ReadFile(cfg.TLSCertFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

// toolClient returns a client of the node the settings describe: url when
// given, else the node's own host and port (a wildcard host means this
// machine), over https when tls_cert_file is set, calling through hc.
func toolClient(cfg Config, url string, hc *http.Client) (*client.Client, error) {
	if url == "" {
		host := cfg.Host
		switch host {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		scheme := "http://"
		if cfg.TLSCertFile != "" {
			scheme = "https://"
		}
		url = scheme + net.JoinHostPort(host, strconv.Itoa(cfg.Port))
	} else if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("--url %q must start with http:// or https://", url)
	}
	return client.New(client.Config{BaseURL: url, Secret: cfg.Secret, HTTPClient: hc}), nil
}

// writeToolHelp prints the usage of the tool inv.cmd.
func writeToolHelp(w io.Writer, cmd command) {
	switch cmd {
	case cmdSign:
		fmt.Fprint(w, `Usage: channelstream sign [flags] [VALUE]

Prints an itsdangerous token of VALUE (default "channelstream") signed now
with the setting secret, for the header X-Channelstream-Secret.
`)
	case cmdAPI:
		fmt.Fprint(w, `Usage: channelstream api [flags] METHOD PATH [JSON | @FILE | @-]

Makes a signed call to the node's REST API and prints the answer. The body
is the JSON argument, the file FILE, or standard input (@-).
Exit status: 0 for a 2xx answer, 1 for a refusal (its JSON body is printed)
or a node that cannot be reached, 2 for bad arguments.

  --url URL
        the node's URL (default: http://HOST:PORT from the settings, https
        when tls_cert_file is set, trusting that certificate; a wildcard
        host means 127.0.0.1)
`)
	case cmdTail:
		fmt.Fprint(w, `Usage: channelstream tail --channel C [--user U] [--transport ws|sse|longpoll] [flags]

Connects as user U, subscribes to the channels and prints every frame
(each object of a delivered list) as a line of JSON as it arrives, until
interrupted. After a dropped transport it attaches again from the last seq
it printed, so nothing is lost or repeated; if the node forgot the
connection it connects again (and says so on standard error).
Exit status: 0 when interrupted, 1 when the node refuses, 2 for bad arguments.

  --channel C
        a channel to subscribe to (repeat, or comma separated; required)
  --user U
        the user to connect as (default channelstream-tail)
  --transport T
        ws, sse or longpoll (default ws)
  --url URL
        the node's URL (default: from host and port)
`)
	}
	fmt.Fprint(w, `
Settings come from flags, CHANNELSTREAM_<KEY> variables and the ini file
(-i FILE or CHANNELSTREAM_INI) as for the server: --secret SECRET signs,
--host and --port name the node, --tls_cert_file makes it https; see
'channelstream -h' for every setting.
`)
}
