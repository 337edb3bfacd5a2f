package longpoll

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

const (
	// answerWait bounds the write of an answer on a taken-over connection.
	answerWait = 10 * time.Second
	// maxEarlyBytes bounds what a client may send while its poll waits (a
	// pipelined request); more ends the poll as if the client had left.
	maxEarlyBytes = 16 << 10
)

// pastDeadline, as a read deadline, ends a waiting read at once.
var pastDeadline = time.Unix(1, 0)

// held is a poll whose HTTP/1.x connection was taken over from net/http
// while it waits: net/http's goroutine, its buffers and its per-request
// state go away, and the poll holds only the connection, its session and
// one goroutine parked in a read of the socket, as an idle socket does.
// That read notices a client that leaves; everything else that ends the
// wait moves the socket's read deadline, which cuts the read short: the
// Timeout is the first deadline, a frame (Session.Notify) moves it to the
// end of the gathering, and the session's end or Shutdown to the past.
// Once answered, the connection goes back to the http.Server that served
// the request (see handBack), which reads the client's next request as on
// any kept-alive connection.
type held struct {
	h    *Handler
	sess *core.Session
	req  pollRequest
	conn net.Conn
	hdr  http.Header // what middleware set (CORS): it goes out too
	srv  *http.Server
	keep bool // the connection may serve another request (set once)
	// raw is conn's socket (see rawConn), remote its peer's address as
	// net/http gives it (Request.RemoteAddr): the polls that follow on
	// the connection take them over.
	raw    syscall.RawConn
	remote string
	wakeFn func() // p.wake, made by the first wait
	// The writer and context of the follow-up requests read on the
	// connection (serveFollowUp).
	fw followWriter
	fc followContext

	// early holds the bytes read past the request: by net/http before
	// the take-over, then by the poll's own reads.
	early []byte
	left  bool // the client left or sent too much

	mu sync.Mutex
	// Guarded by mu (wake runs on the publisher's goroutine):
	due       time.Time // the read deadline: when the wait ends
	gathering bool      // a frame came; due is the end of the gathering
	gatherEnd time.Time // the gathering's cap
	g         gather    // this poll's gathering rule
	cut       ending    // endSession or endShutdown once one happened; else endFrames
	decided   bool      // the wait is over: deadlines are the answer's
	wakes     int       // wake calls so far
}

// takeOver hijacks the poll's connection and hands the wait to a held
// poll. It reports false, with nothing done, when the connection cannot
// be taken over (HTTP/2, a ResponseWriter without Hijack).
func (h *Handler) takeOver(w http.ResponseWriter, r *http.Request, s *core.Session, req pollRequest) bool {
	if fc, ok := r.Context().Value(followKey{}).(*followContext); ok && fc.prev.h == h && fc.take() {
		// A follow-up read by the handler (see follow): the connection is
		// the answered poll's, and the poll waits on its goroutine, in
		// its struct. The request's writer goes away with the request:
		// its header map is the poll's own, not a copy.
		fc.prev.reuse(s, req, w.Header(), !r.Close, fc.w.early)
		fc.next = fc.prev
		fc.w.early = nil
		h.polls.Add() // before the request's own count drops
		return true
	}
	hdr := w.Header().Clone()
	conn, brw, err := http.NewResponseController(w).Hijack()
	switch {
	case errors.Is(err, http.ErrNotSupported):
		return false
	case err != nil:
		h.pending.Add(-1)
		h.clientGone(s)
		return true
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	p := &held{
		h: h, sess: s, req: req, conn: conn, hdr: hdr, srv: srv,
		keep: srv != nil && !r.Close, remote: r.RemoteAddr,
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		p.early = bytes.Clone(b)
	}
	h.polls.Add() // before the request's own count drops
	go p.run()
	return true
}

// reuse makes p, an answered poll whose wait is over (its session no
// longer calls wake, Shutdown's stop may still), the poll of the
// follow-up request read on its connection, as a new held would be on the
// same connection.
func (p *held) reuse(s *core.Session, req pollRequest, hdr http.Header, keep bool, early []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sess, p.req, p.hdr, p.keep = s, req, hdr, keep
	p.early, p.left = early, false
	p.due, p.gathering, p.gatherEnd, p.g = time.Time{}, false, time.Time{}, gather{}
	p.cut, p.decided, p.wakes = endFrames, false, 0
}

// run serves p and the follow-up polls on its connection (see follow).
func (p *held) run() {
	for p != nil {
		p = p.serve()
	}
}

// serve waits as a poll does and answers on the connection; then it reads
// the client's next request (follow), and returns its poll when it is one
// (nil once the connection was handed back or closed).
func (p *held) serve() *held {
	h := p.h
	defer h.polls.Done()
	end := p.wait()
	h.pending.Add(-1)
	if end == endClientGone {
		h.clientGone(p.sess)
		_ = p.conn.Close()
		return nil
	}
	a := h.take(p.sess, p.req)
	err := p.write(a.body)
	h.finish(p.sess, p.req, end, a, err)
	if err != nil || !p.keep {
		_ = p.conn.Close()
		return nil
	}
	// The deadlines stay as they are: the read of the next request sets
	// the read deadline, every write sets the write deadline, and whoever
	// else takes the connection gets it with none (handBack, Hijack).
	return p.follow()
}

// wait blocks in a read of the socket until the poll should answer (see
// Handler.wait for when) and says why. On return no wake runs any more.
func (p *held) wait() ending {
	h := p.h
	p.mu.Lock()
	p.due = time.Now().Add(h.cfg.Timeout)
	p.cut = endFrames
	p.g = h.gathering()
	err := p.conn.SetReadDeadline(p.due)
	p.mu.Unlock()
	if err != nil {
		return endClientGone
	}
	if !h.hold(p) {
		p.stop(endShutdown)
	}
	if p.wakeFn == nil {
		p.wakeFn = p.wake // once per connection, not per poll
	}
	p.sess.Notify(p.wakeFn)
	select {
	case <-p.sess.Done(): // ended before Notify
		p.stop(endSession)
	default:
	}
	p.since()
	end := endClientGone
	for p.read() {
		if e, over := p.over(); over {
			end = e
			break
		}
	}
	p.mu.Lock()
	p.decided = true
	p.mu.Unlock()
	p.sess.Notify(nil) // after it, wake is not called again
	h.release(p)
	return end
}

// over reports, after the read deadline passed, whether the wait is over
// and why: a wake may have moved the deadline on since.
func (p *held) over() (ending, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.cut != endFrames:
		return p.cut, true
	case time.Now().Before(p.due):
		return 0, false
	case p.gathering:
		return endFrames, true
	default:
		return endTimeout, true
	}
}

// wake is the session's Notify function: frames may be waiting, or the
// session ended. It runs on the publisher's goroutine under the
// connection's lock, so it only moves the read deadline.
func (p *held) wake() {
	if p.sess.Ended() {
		p.stop(endSession)
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.decided || p.cut != endFrames {
		return
	}
	p.wakes++
	g := p.g
	if !p.gathering {
		p.gathering = true
		p.gatherEnd = g.end(now)
	}
	p.setDue(g.due(now, p.gatherEnd))
}

// since measures the gathering from the frames that already wait, which
// may have come before the poll (between the previous answer and this
// poll): the cap counts from the oldest of them, the quiet gap from the
// newest (see gather). Notify's wake counted both from now.
func (p *held) since() {
	p.mu.Lock()
	w := p.wakes
	p.mu.Unlock()
	oldest, newest, ok := p.sess.Pending()
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.decided || p.cut != endFrames || !p.gathering {
		return
	}
	g := p.g
	if end := g.end(oldest); end.Before(p.gatherEnd) {
		p.gatherEnd = end
	}
	due := p.due
	if p.wakes == w { // no frame came since Pending: newest is the newest
		due = g.due(newest, p.gatherEnd)
	}
	if due.After(p.gatherEnd) {
		due = p.gatherEnd
	}
	p.setDue(due)
}

// setDue moves the read deadline to due. Caller holds p.mu.
func (p *held) setDue(due time.Time) {
	if due.Equal(p.due) {
		return
	}
	p.due = due
	_ = p.conn.SetReadDeadline(due)
}

// stop ends the wait at once, for why (the session ended, Shutdown).
func (p *held) stop(why ending) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.decided || p.cut != endFrames {
		return
	}
	p.cut = why
	_ = p.conn.SetReadDeadline(pastDeadline)
}

// read reads the socket until its read deadline passes, and reports true
// then; it reports false when the client left or sent too much. On a
// socket it waits in the poller's read (syscall.RawConn, see readSome),
// which keeps its parked stack the smallest. Bytes the client sends
// meanwhile (a pipelined request) are kept for the server.
func (p *held) read() bool {
	if raw := p.rawConn(); raw != nil {
		err := raw.Read(p.readSome)
		p.left = p.left || !errors.Is(err, os.ErrDeadlineExceeded)
		return !p.left
	}
	var b [64]byte
	for {
		n, err := p.conn.Read(b[:])
		p.early = append(p.early, b[:n]...)
		switch {
		case len(p.early) > maxEarlyBytes:
			p.left = true
			return false
		case errors.Is(err, os.ErrDeadlineExceeded):
			return true
		case err != nil:
			p.left = true
			return false
		}
	}
}

// write writes the answer: the response head (with the middleware's
// headers) and body, in one write.
func (p *held) write(body []byte) error {
	if err := p.conn.SetWriteDeadline(time.Now().Add(answerWait)); err != nil {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	b := appendHead((*bp)[:0], p.req, len(body), p.keep, p.hdr)
	b = append(b, body...)
	_, err := p.conn.Write(b)
	putBuf(bp, b)
	return err
}

// ownHeaders are the headers an answer sets itself (setAnswerHeaders,
// appendHead): the middleware's values of them do not go out.
var ownHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Cache-Control": true,
	"X-Content-Type-Options": true, "Date": true, "Transfer-Encoding": true,
	"Connection": true,
}

// appendHead appends the head of an answer of n body bytes written on a
// taken-over connection: the headers setAnswerHeaders sets, Date, and
// those of extra (what the middleware set: CORS) but ownHeaders, cleaned
// as http.Header.Write does, in no particular order. Appending them by
// hand spares each of the answers that follow a message to many
// connections a header map to fill and sort.
func appendHead(b []byte, req pollRequest, n int, keep bool, extra http.Header) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nContent-Type: "...)
	if req.callback != "" {
		b = append(b, "application/javascript"...)
	} else {
		b = append(b, "application/json"...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	for k, vs := range extra {
		if ownHeaders[k] || !validFieldName(k) {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			if strings.ContainsAny(v, "\r\n") {
				v = strings.Map(newlineToSpace, v)
			}
			b = append(b, textproto.TrimString(v)...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

// validFieldName reports whether k may name a header field (an RFC 9110
// token); http.Header.Write drops the others too.
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// newlineToSpace turns the line breaks of a header value into spaces, as
// http.Header.Write does.
func newlineToSpace(r rune) rune {
	if r == '\r' || r == '\n' {
		return ' '
	}
	return r
}

// earlyConn is a connection handed back with bytes already read from it:
// they are read first.
type earlyConn struct {
	net.Conn
	early []byte
}

func (c *earlyConn) Read(b []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(b, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
