package longpoll

import (
	"math/rand/v2"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// maxGatherRounds caps the gathering after the first frame at this many
// Gather periods: upstream restarts its quiet-gap wait with every frame, so
// above one frame per Gather it would answer only at Timeout. Three, not
// four: under a steady stream to many connections every answer ends at
// its cap, and answering 10 000 of them on one core adds about 250 ms to
// the cap (csbench, 10 msg/s to 10 000 long-polls: p99 1.30 s at 4, 0.99 s
// at 3, for about +20 % server CPU from the polls that come more often);
// a frame then arrives within 4 × Gather plus what WebSocket takes.
const maxGatherRounds = 3

// spreadShare: each poll's quiet gap is Gather plus a random part of up
// to Gather/spreadShare (31 ms of the default 250 ms).
const spreadShare = 8

// ending says why a poll stopped waiting.
type ending int

const (
	endFrames     ending = iota // frames came, then a quiet Gather (or the cap)
	endTimeout                  // nothing came within Timeout
	endSession                  // the hub ended the session (replaced, gone, shutdown, slow)
	endShutdown                 // Handler.Shutdown
	endClientGone               // the request's context ended: write nothing
)

func (e ending) String() string {
	switch e {
	case endFrames:
		return "frames"
	case endTimeout:
		return "timeout"
	case endSession:
		return "session ended"
	case endShutdown:
		return "shutdown"
	default:
		return "client gone"
	}
}

// gather is one poll's gathering rule (see Handler.wait): its cap and
// its quiet gap.
type gather struct{ cap, gap time.Duration }

// gathering draws the rule of one poll. Its quiet gap is Gather plus a
// random share of up to Gather/spreadShare; its cap, maxGatherRounds ×
// Gather (at most Timeout), is shorter by a random share of up to half a
// Gather. So the answers to one message to many connections, and the
// re-polls that follow, do not all come due in the same instant; and
// under a steady stream, where the cap ends every gathering, the
// connections' polls drift apart instead of answering together after
// every cap, while the cap stays a bound. With NoGather both are zero:
// the first frame ends the wait.
func (h *Handler) gathering() gather {
	g := h.cfg.Gather
	if g < 0 {
		return gather{}
	}
	c := min(h.cfg.Timeout, maxGatherRounds*g)
	if g >= 2 {
		c -= rand.N(g / 2)
	}
	gap := g
	if g >= spreadShare {
		gap += rand.N(g / spreadShare)
	}
	return gather{cap: c, gap: gap}
}

// end is when the gathering ends at the latest, the oldest frame waiting
// having been born at oldest.
func (g gather) end(oldest time.Time) time.Time { return oldest.Add(g.cap) }

// due is when the wait ends, the newest frame waiting having been born at
// newest: a quiet gap later, or at end.
func (g gather) due(newest, end time.Time) time.Time {
	if d := newest.Add(g.gap); d.Before(end) {
		return d
	}
	return end
}

// wait blocks until the poll should answer: up to Timeout for the first
// frame, then until Gather passes with no new frame, the gathering itself
// capped at maxGatherRounds × Gather (and at Timeout), so that a steady
// stream of frames cannot hold every answer back for the whole Timeout;
// both drawn per poll (see gathering).
// Both count from when the frames were born (Session.Pending), not from
// when the poll came: frames that came between the previous answer and
// this poll have waited already. The hub ending the session, Shutdown and
// the client going away (gone closed) end the wait at once.
func (h *Handler) wait(gone <-chan struct{}, s *core.Session) ending {
	t := time.NewTimer(h.cfg.Timeout)
	defer t.Stop()
	select {
	case <-s.Ready():
	case <-t.C:
		return endTimeout
	case <-s.Done():
		return endSession
	case <-h.stop:
		return endShutdown
	case <-gone:
		return endClientGone
	}
	g := h.gathering()
	now := time.Now()
	oldest, newest, ok := s.Pending()
	if !ok {
		oldest, newest = now, now
	}
	end := g.end(oldest)
	for {
		d := g.due(newest, end).Sub(now)
		if d <= 0 {
			return endFrames
		}
		t.Reset(d)
		select {
		case <-s.Ready():
			now = time.Now()
			if _, n, ok := s.Pending(); ok {
				newest = n
			} else {
				newest = now
			}
		case <-t.C:
			return endFrames
		case <-s.Done():
			return endSession
		case <-h.stop:
			return endShutdown
		case <-gone:
			return endClientGone
		}
	}
}
