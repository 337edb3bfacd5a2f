package core

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Publishing in data-plane mode. Messages never enter the log: the node
// that takes a Publish (the origin, any node) validates them, encodes each
// frame once and publishes it to its stream (the channel's, or each listed
// user's for a private message without a channel), with the message's
// effect on the channel's history. Presence and state frames are made by
// every node while applying the change that causes them, but only the
// change's origin publishes them, once its applying returned them
// (Hub.result); if the origin dies in between they are lost (best effort,
// as a frame in flight to a dying node is).

// publishDP is Publish in data-plane mode. A message to a channel that does
// not exist is dropped (as on one node); a failure of the DataPlane fails
// the call with ErrUnavailable (messages of other partitions may have gone
// out: the error says the outcome is not all-or-nothing).
func (h *Hub) publishDP(ctx context.Context, msgs []Message) error {
	born := h.cfg.Now().UnixNano()
	pubs, missing := h.publications(msgs, born)
	if missing {
		// A channel or user made an instant ago through another node
		// may not be applied here yet: catch up once (shared with other
		// such calls, see lookupRoundGap) before dropping anything.
		wctx, cancel := context.WithTimeout(ctx, h.cfg.ReplicateTimeout)
		err := h.repl.lookups.wait(wctx, h)
		cancel()
		if err == nil {
			pubs, _ = h.publications(msgs, born)
		}
	}
	if len(pubs) > 0 {
		ctx, cancel := context.WithTimeout(ctx, h.cfg.ReplicateTimeout)
		defer cancel()
		if _, err := h.dp.Publish(ctx, pubs); err != nil {
			h.stats.BrokerErrors.Add(1)
			return fmt.Errorf("publish %d entries: %w", len(pubs), asUnavailable(err))
		}
	}
	unique := 0
	for i := range msgs {
		if msgs[i].Kind == KindSend {
			unique++
		}
	}
	h.stats.TotalUniqueMessages.Add(int64(unique))
	return nil
}

// publications encodes msgs for their streams; missing reports that a
// channel or a listed user is unknown here (its message, or its copy, is
// left out).
func (h *Hub) publications(msgs []Message, born int64) (pubs []Publication, missing bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for i := range msgs {
		m := &msgs[i]
		// One nanosecond apart: a catch-up orders the entries of several
		// streams by it (finishCatchupLocked).
		born := born + int64(i)
		if m.Channel == "" {
			data := encodeEntry(m.payload(), messageFlags(m), born, nil, nil)
			for _, name := range slices.Compact(slices.Sorted(slices.Values(m.PMUsers))) {
				if h.users[name] == nil {
					missing = true
					continue
				}
				pubs = append(pubs, Publication{Stream: Stream{Kind: UserStream, Name: name}, Data: data})
			}
			continue
		}
		ch := h.channels[m.Channel]
		if ch == nil {
			missing = true
			continue
		}
		pubs = append(pubs, Publication{
			Stream:  Stream{Kind: ChannelStream, Name: m.Channel},
			Data:    encodeEntry(m.payload(), messageFlags(m), born, m.PMUsers, m.ExcludeUsers),
			History: historyOp(ch, m, h.cfg.MaxHistory),
		})
	}
	return pubs, missing
}

// messageFlags are the entry flags of a published message.
func messageFlags(m *Message) byte {
	if m.Kind == KindSend {
		return entryCounted | entryLiveCatchup
	}
	return entryCounted
}

// historyOp is m's effect on ch's history. Caller holds h.mu (read).
func historyOp(ch *Channel, m *Message, maxHistory int) HistoryOp {
	switch m.Kind {
	case KindSend:
		if !ch.cfg.Value().StoreHistory || m.NoHistory {
			return HistoryOp{}
		}
		return HistoryOp{Kind: HistoryAppend, ID: m.UUID, Fields: m.historyFields(), Limit: ch.historyLimit(maxHistory)}
	case KindEdit:
		fields := map[string]json.RawMessage{}
		for _, k := range editableKeys {
			if v, ok := m.Fields[k]; ok {
				fields[k] = v
			}
		}
		return HistoryOp{Kind: HistoryEdit, ID: m.UUID, Fields: fields}
	case KindDelete:
		return HistoryOp{Kind: HistoryDelete, ID: m.UUID}
	}
	return HistoryOp{}
}

// result returns what applying a change returned, after publishing (in
// data-plane mode) the presence and state frames it made.
func (h *Hub) result(ctx context.Context, a applied) (any, error) {
	if len(a.events) > 0 {
		h.publishEvents(ctx, a.events)
	}
	return a.res, a.err
}

// publishEvents publishes hub-made frames to their channels' streams. A
// failure is counted and logged: the change they belong to is done.
func (h *Hub) publishEvents(ctx context.Context, events []routed) {
	pubs := make([]Publication, len(events))
	born := h.cfg.Now().UnixNano()
	for i, ev := range events {
		var flags byte
		if ev.frame.liveCatchup {
			flags = entryLiveCatchup
		}
		pubs[i] = Publication{
			Stream: Stream{Kind: ChannelStream, Name: ev.channel},
			Data:   encodeEntry(ev.frame.Body(), flags, born+int64(i), ev.pm, ev.exclude),
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.ReplicateTimeout)
	defer cancel()
	if _, err := h.dp.Publish(ctx, pubs); err != nil {
		h.stats.BrokerErrors.Add(1)
		h.log.Warn().Err(err).Int("frames", len(pubs)).Msg("publishing presence or state frames failed")
	}
}

// joinsFor returns the join points of streams (dp.Heads), for a connect or
// subscribe op in data-plane mode; nil otherwise.
func (h *Hub) joinsFor(ctx context.Context, channels []string, user string) ([]streamJoin, error) {
	if h.dp == nil {
		return nil, nil
	}
	streams := make([]Stream, 0, len(channels)+1)
	for _, name := range channels {
		streams = append(streams, Stream{Kind: ChannelStream, Name: name})
	}
	if user != "" {
		streams = append(streams, Stream{Kind: UserStream, Name: user})
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ReplicateTimeout)
	defer cancel()
	heads, err := h.dp.Heads(ctx, streams)
	if err != nil {
		h.stats.BrokerErrors.Add(1)
		return nil, fmt.Errorf("join points: %w", asUnavailable(err))
	}
	out := make([]streamJoin, len(streams))
	for i, s := range streams {
		out[i] = streamJoin{Kind: s.Kind, Name: s.Name, P: heads[i].Partition, N: heads[i].N, E: heads[i].Epoch}
	}
	return out, nil
}
