package longpoll

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// followHeadMax bounds the request head the handler reads itself on an
// answered poll's connection; a longer one goes to net/http.
const followHeadMax = 4 << 10

// followKey is the request context key of a followContext.
type followKey struct{}

// followContext is the context a follow-up request starts from (before
// the server's ConnContext): it holds what net/http's holds (the server,
// the local address) and, under followKey, itself, so that takeOver finds
// the answered poll whose connection the request came on and gives the
// request's poll back to the goroutine that read it instead of starting
// one.
type followContext struct {
	context.Context // Background
	srv             *http.Server
	local           net.Addr
	prev            *held         // the answered poll
	w               *followWriter // the request's writer
	next            *held         // the request's poll, set by takeOver
}

func (c *followContext) Value(key any) any {
	switch key {
	case http.ServerContextKey:
		return c.srv
	case http.LocalAddrContextKey:
		return c.local
	case followKey{}:
		return c
	}
	return c.Context.Value(key)
}

// take takes the connection for the request's poll, as a hijack would; it
// reports false when the answer was started or the connection taken.
func (c *followContext) take() bool {
	if c.next != nil || c.w.hijacked || c.w.status != 0 {
		return false
	}
	c.w.hijacked = true
	return true
}

// follow reads the client's next request on the answered, kept-alive
// connection of p itself, as net/http would, with the server's idle and
// header timeouts. A plain follow-up poll (GET /listen, HTTP/1.1, no body,
// no Upgrade, Expect or Connection other than keep-alive, a head of at
// most followHeadMax bytes) goes through the server's own handler (its
// whole middleware chain) on a request built here, without a new net/http
// connection, goroutine or buffers; its poll is returned, to wait on this
// goroutine. Anything else, and the connection itself once Shutdown was
// called, goes back to the server with the bytes already read (handBack).
// It returns nil when the connection was handed back or closed.
func (p *held) follow() *held {
	h, srv := p.h, p.srv
	raw := p.rawConn()
	if raw == nil || srv.Handler == nil || srv.BaseContext != nil {
		h.handBack(srv, p.conn, p.early)
		return nil
	}
	early := p.early
	p.early = nil
	for {
		f := followRead{max: followHeadMax}
		if m := srv.MaxHeaderBytes; m > 0 && m < f.max {
			f.max = m
		}
		if len(early) > 0 {
			f.bp = bufPool.Get().(*[]byte)
			f.buf = append((*f.bp)[:0], early...)
		}
		status := p.readHead(raw, &f)
		switch status {
		case headClosed:
			f.release()
			_ = p.conn.Close()
			return nil
		case headBack:
			early = bytes.Clone(f.buf)
			f.release()
			h.handBack(srv, p.conn, early)
			return nil
		}
		r, n := parseFollowUp(f.buf)
		if r == nil {
			early = bytes.Clone(f.buf)
			f.release()
			h.handBack(srv, p.conn, early)
			return nil
		}
		early = nil
		if n < len(f.buf) {
			early = bytes.Clone(f.buf[n:])
		}
		f.release()
		// The read deadline stays until the poll's wait sets its own (or
		// the next readHead does): the handler does not read the socket.
		h.followed.Add(1)
		next, keep := p.serveFollowUp(r, &early)
		if next != nil || !keep {
			return next
		}
	}
}

// rawConn is the socket of p's connection when the poll can read it
// through syscall.RawConn (a plain socket on unix; not TLS), else nil.
func (p *held) rawConn() syscall.RawConn {
	if p.raw == nil && rawWatch {
		if sc, ok := p.conn.(syscall.Conn); ok {
			p.raw, _ = sc.SyscallConn() // nil on error
		}
	}
	return p.raw
}

// headStatus is how readHead ended.
type headStatus int

const (
	headRead   headStatus = iota // f.buf holds a whole request head
	headBack                     // hand the connection back with f.buf (too long, or Shutdown)
	headClosed                   // close it: the client left, or a timeout passed
)

// readHead reads the next request's head into f: first up to the server's
// idle timeout for its first byte, then up to its header timeout for the
// rest. Shutdown cuts the wait (p.stop), and the connection goes back.
func (p *held) readHead(raw syscall.RawConn, f *followRead) headStatus {
	srv := p.srv
	idle, header := srv.IdleTimeout, srv.ReadHeaderTimeout
	if idle == 0 {
		idle = srv.ReadTimeout
	}
	if header == 0 {
		header = srv.ReadTimeout
	}
	deadline := func(d time.Duration) time.Time {
		if d <= 0 {
			return time.Time{}
		}
		return time.Now().Add(d)
	}
	timed := len(f.buf) > 0 // the header timeout runs
	d := deadline(idle)
	if timed {
		d = deadline(header)
	}
	if !p.listen(d) {
		return headBack
	}
	defer p.unlisten()
	for {
		if headEnd(f.buf) >= 0 {
			return headRead
		}
		if len(f.buf) >= f.max {
			return headBack
		}
		err := raw.Read(f.readSome)
		switch {
		case f.left:
			return headClosed
		case errors.Is(err, os.ErrDeadlineExceeded):
			if p.cutShort() {
				return headBack
			}
			return headClosed
		case err != nil:
			return headClosed
		}
		if !timed && len(f.buf) > 0 {
			timed = true
			if !p.moveDeadline(deadline(header)) {
				return headBack
			}
		}
	}
}

// listen lets Shutdown cut the read of a follow-up request short (see
// stop); it reports false when Shutdown was called already.
func (p *held) listen(deadline time.Time) bool {
	p.mu.Lock()
	p.decided, p.cut = false, endFrames
	err := p.conn.SetReadDeadline(deadline)
	p.mu.Unlock()
	return err == nil && p.h.hold(p)
}

// unlisten ends what listen started.
func (p *held) unlisten() {
	p.mu.Lock()
	p.decided = true
	p.mu.Unlock()
	p.h.release(p)
}

// cutShort reports whether Shutdown cut the read short.
func (p *held) cutShort() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut != endFrames
}

// moveDeadline moves the read deadline unless Shutdown cut the read short
// (it reports false then).
func (p *held) moveDeadline(d time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut != endFrames {
		return false
	}
	return p.conn.SetReadDeadline(d) == nil
}

// followRead is a request head being read by follow.
type followRead struct {
	bp   *[]byte // pooled buffer of buf, taken at the first byte
	buf  []byte
	max  int  // most bytes read
	left bool // the client closed the connection, or it failed
}

func (f *followRead) release() {
	if f.bp != nil {
		putBuf(f.bp, f.buf)
		f.bp, f.buf = nil, nil
	}
}

// headEnd is the length of the request head at the start of b (through
// its empty line), or -1 while it is incomplete. A bare "\n" line end
// counts, so that such a head ends the read (parseFollowUp refuses it).
func headEnd(b []byte) int {
	i := bytes.Index(b, []byte("\n\r\n"))
	if j := bytes.Index(b, []byte("\n\n")); j >= 0 && (i < 0 || j < i) {
		return j + 2
	}
	if i < 0 {
		return -1
	}
	return i + 3
}

// parseFollowUp parses a request head that follow serves itself: a GET of
// /listen over HTTP/1.1, CRLF line ends, exactly one valid Host, header
// names that are tokens and values without control characters, no
// Content-Length, Transfer-Encoding, Upgrade, Expect or HTTP2-Settings,
// and no Connection but keep-alive. It returns the request (without its
// context, remote address or body) and the head's length, or nil for
// anything else, which net/http is to read.
func parseFollowUp(b []byte) (*http.Request, int) {
	n := headEnd(b)
	if n < 0 {
		return nil, 0
	}
	if !bytes.HasSuffix(b[:n], []byte("\r\n\r\n")) {
		return nil, 0
	}
	head := string(b[:n-4]) // without the last CRLF CRLF
	line, rest, _ := strings.Cut(head, "\r\n")
	target, ok := strings.CutPrefix(line, "GET ")
	if !ok {
		return nil, 0
	}
	target, ok = strings.CutSuffix(target, " HTTP/1.1")
	if !ok || strings.ContainsAny(target, " \t") {
		return nil, 0
	}
	if target != "/listen" && !strings.HasPrefix(target, "/listen?") {
		return nil, 0
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, 0
	}
	hdr := http.Header{} // its table comes with the first header kept
	var host string
	hosts := 0
	for rest != "" {
		var l string
		l, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) || strings.Contains(l, "\n") {
			return nil, 0
		}
		value = strings.Trim(value, " \t")
		if !plainValue(value) {
			return nil, 0
		}
		key := http.CanonicalHeaderKey(name)
		switch key {
		case "Host":
			host = value
			hosts++
			continue
		case "Content-Length", "Transfer-Encoding", "Upgrade", "Expect", "Http2-Settings", "Trailer":
			return nil, 0
		case "Connection":
			if !strings.EqualFold(value, "keep-alive") {
				return nil, 0
			}
		}
		hdr[key] = append(hdr[key], value)
	}
	if hosts != 1 || !plainHost(host) {
		return nil, 0
	}
	return &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Body:       http.NoBody,
		Host:       host,
		RequestURI: target,
	}, n
}

// isToken reports whether s is an HTTP token (a header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// plainValue reports whether a header value has visible ASCII, spaces and
// tabs only.
func plainValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// plainHost reports whether a Host header is a plain host[:port]: letters,
// digits, dots, dashes, colons and brackets.
func plainHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// serveFollowUp serves a follow-up request through the server's handler,
// as net/http serves a request: its context holds the server, the local
// address and what the server's ConnContext adds; a panic is logged and
// closes the connection. When the request's poll took the connection over
// it returns that poll; otherwise it writes the handler's answer and
// reports whether the connection stays open for the next request. early
// is what was read past the request: the hijacker's, or left for the next
// request.
//
// The writer, the context and the header map are p's, reused by each
// request on the connection: p's poll was answered, so its header map is
// free, and a handler is done with them once it returned.
func (p *held) serveFollowUp(r *http.Request, early *[]byte) (next *held, keep bool) {
	srv := p.srv
	hdr := p.hdr
	if hdr == nil {
		hdr = make(http.Header, 8)
	} else {
		clear(hdr)
	}
	p.hdr = nil
	p.fw = followWriter{conn: p.conn, hdr: hdr, early: *early}
	w := &p.fw
	*early = nil
	p.fc = followContext{Context: context.Background(), srv: srv, local: p.conn.LocalAddr(), prev: p, w: w}
	fc := &p.fc
	var ctx context.Context = fc
	if cc := srv.ConnContext; cc != nil {
		ctx = cc(ctx, p.conn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r = r.WithContext(ctx)
	if p.remote == "" {
		p.remote = p.conn.RemoteAddr().String()
	}
	r.RemoteAddr = p.remote
	if !p.handle(w, r) {
		if !w.hijacked {
			_ = p.conn.Close()
		}
		return nil, false
	}
	if w.hijacked {
		return fc.next, false
	}
	if err := w.finish(); err != nil || w.close {
		_ = p.conn.Close()
		return nil, false
	}
	*early = w.early
	return nil, true
}

// handle runs the server's handler; it reports false when the handler
// panicked (logged unless it was http.ErrAbortHandler, as net/http does).
func (p *held) handle(w *followWriter, r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				p.h.log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("follow-up poll's handler panicked")
			}
			ok = false
		}
	}()
	p.srv.Handler.ServeHTTP(w, r)
	return true
}

// followWriter is the ResponseWriter of a follow-up request. A poll
// hijacks the connection (takeOver); any other answer (a refusal) is kept
// and written, when the handler returns, as net/http writes a small
// answer of a finished handler: the headers as they were at WriteHeader,
// Date, Content-Type sniffed when there is none, Content-Length up to
// net/http's 2 KiB buffer and chunked beyond it.
type followWriter struct {
	conn     net.Conn
	hdr      http.Header
	sent     http.Header // hdr at WriteHeader
	status   int
	body     []byte
	early    []byte // read past the request
	hijacked bool
	close    bool // the answer says Connection: close
}

// chunkingSize is net/http's bufferBeforeChunkingSize: a finished
// handler's answer up to this long gets a Content-Length.
const chunkingSize = 2048

func (w *followWriter) Header() http.Header { return w.hdr }

func (w *followWriter) WriteHeader(code int) {
	if w.hijacked || w.status != 0 {
		return
	}
	w.status = code
	w.sent = w.hdr.Clone()
}

func (w *followWriter) Write(b []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	w.WriteHeader(http.StatusOK)
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// Hijack hands the connection to the handler, with what was read past
// the request.
func (w *followWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if err := w.conn.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	brw := newEarlyReadWriter(w.conn, w.early)
	w.early = nil
	return w.conn, brw, nil
}

// newEarlyReadWriter is a hijacked connection's reader and writer, the
// reader holding early, the bytes read past the request, as buffered.
func newEarlyReadWriter(c net.Conn, early []byte) *bufio.ReadWriter {
	var rd io.Reader = c
	size := 16 // bufio's least
	if len(early) > 0 {
		rd = io.MultiReader(bytes.NewReader(early), c)
		size = max(size, len(early))
	}
	br := bufio.NewReaderSize(rd, size)
	if len(early) > 0 {
		_, _ = br.Peek(len(early)) // from early alone
	}
	return bufio.NewReadWriter(br, bufio.NewWriterSize(c, 16))
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// finish writes the answer of a handler that returned without hijacking.
func (w *followWriter) finish() error {
	w.WriteHeader(http.StatusOK)
	hdr, body := w.sent, w.body
	if bodyAllowed(w.status) {
		if _, ok := hdr["Content-Type"]; !ok && len(body) > 0 && hdr.Get("Content-Encoding") == "" {
			hdr.Set("Content-Type", http.DetectContentType(body))
		}
	}
	if _, ok := hdr["Date"]; !ok {
		hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	chunked := false
	if bodyAllowed(w.status) && hdr.Get("Content-Length") == "" {
		if len(body) <= chunkingSize {
			hdr.Set("Content-Length", strconv.Itoa(len(body)))
		} else {
			hdr.Set("Transfer-Encoding", "chunked")
			chunked = true
		}
	}
	for _, v := range hdr.Values("Connection") {
		if strings.EqualFold(strings.TrimSpace(v), "close") {
			w.close = true
		}
	}
	var b bytes.Buffer
	b.Grow(256 + len(body))
	writeHead(&b, w.status, hdr)
	if chunked {
		b.WriteString(strconv.FormatInt(int64(len(body)), 16))
		b.WriteString("\r\n")
		b.Write(body)
		b.WriteString("\r\n0\r\n\r\n")
	} else {
		b.Write(body)
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(answerWait)); err != nil {
		return err
	}
	_, err := w.conn.Write(b.Bytes())
	if err == nil {
		err = w.conn.SetWriteDeadline(time.Time{})
	}
	return err
}

// writeHead writes a response's status line and header block, as net/http
// writes them (the header lines in key order).
func writeHead(b *bytes.Buffer, status int, hdr http.Header) {
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	if text := http.StatusText(status); text != "" {
		b.WriteString(text)
	} else {
		b.WriteString("status code ")
		b.WriteString(strconv.Itoa(status))
	}
	b.WriteString("\r\n")
	_ = hdr.Write(b) // a bytes.Buffer does not fail
	b.WriteString("\r\n")
}
