package sse

import (
	"context"

	"github.com/channelstream-go/channelstream-go/core"
)

// streamStarted counts a stream in. Call it before the stream's goroutine
// starts, so that Wait cannot miss it.
func (h *Handler) streamStarted() { h.streams.Add() }

// streamEnded counts a stream out.
func (h *Handler) streamEnded() { h.streams.Done() }

// Open reports how many streams the handler is writing now.
func (h *Handler) Open() int { return h.streams.Len() }

// Active reports how many streams the handler is writing now (as Open).
func (h *Handler) Active() int { return h.Open() }

// Wait blocks until the handler writes no stream, or ctx is done. Streams
// taken over from net/http are invisible to http.Server.Shutdown: after
// ending the hub's sessions on shutdown, wait for them here so that each
// client gets its reconnection hint before the process exits.
func (h *Handler) Wait(ctx context.Context) error { return h.streams.Wait(ctx) }

// Shutdown refuses new streams (503 with Retry-After, as a draining hub
// does), ends every attached SSE session with core.DisconnectShutdown, so
// that each stream writes its jittered "retry:" and ends, and waits until
// the handler writes no stream, or ctx is done (returning ctx's error).
// It may be called more than once.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.stopping.Store(true)
	h.hub.EndSessions(core.DisconnectShutdown, "sse")
	return h.Wait(ctx)
}
