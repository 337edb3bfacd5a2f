package longpoll

import (
	"math/rand/v2"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

// maxGatherRounds caps the gathering after the first frame at this many
// Gather periods: upstream restarts its quiet-gap wait with every frame, so
// above one frame per Gather it would answer only at Timeout.
const maxGatherRounds = 4

// spreadShare: each poll's quiet gap is Gather plus a random part of up
// to Gather/spreadShare (31 ms of the default 250 ms).
const spreadShare = 8

// spread draws a poll's share of the quiet gap's spread, so that the
// answers to one message to many connections, and the re-polls that follow
// them, do not all come due in the same instant.
func (h *Handler) spread() time.Duration {
	if g := h.cfg.Gather; g >= spreadShare {
		return rand.N(g / spreadShare)
	}
	return 0
}

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

// wait blocks until the poll should answer: up to Timeout for the first
// frame, then until Gather passes with no new frame, the gathering itself
// capped at maxGatherRounds × Gather (and at Timeout), so that a steady
// stream of frames cannot hold every answer back for the whole Timeout;
// both the gap and the cap are longer by the poll's spread (see spread).
// The hub ending the session, Shutdown and the client going away (gone
// closed) end the wait at once.
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
	if h.cfg.Gather < 0 {
		return endFrames
	}
	spread := h.spread()
	gatherEnd := time.Now().Add(min(h.cfg.Timeout, maxGatherRounds*h.cfg.Gather) + spread)
	for {
		d := min(h.cfg.Gather+spread, time.Until(gatherEnd))
		if d <= 0 {
			return endFrames
		}
		t.Reset(d)
		select {
		case <-s.Ready():
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
