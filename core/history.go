package core

import (
	"context"
	"encoding/json"
	"fmt"
)

// In data-plane mode (Hub.dp set) a channel's history lives in the
// DataPlane, not in the Channel: the node that publishes a message puts
// its effect in the publication (historyOp, dataplane_publish.go), and the
// node that answers a call whose response shows history reads it with
// DataPlane.Histories after applying, off every lock (fillHistory). The
// entries are the same objects a single hub shows: the fields of
// Message.historyEntry, an edit replacing the editable keys.

// fillHistory sets, in data-plane mode, the history of every channel of
// info to what the DataPlane holds (nothing to do in other modes: the
// apply functions filled it), with one DataPlane.Histories call. It takes
// no lock and must be called with none held. On error every channel keeps
// an empty history.
func (h *Hub) fillHistory(ctx context.Context, info *ChannelsInfo) error {
	if h.dp == nil || len(info.Channels) == 0 {
		return nil
	}
	names := sortedKeys(info.Channels)
	lists, err := h.dp.Histories(ctx, names)
	if err != nil {
		h.stats.BrokerErrors.Add(1)
		return fmt.Errorf("histories of %d channels: %w", len(names), err)
	}
	for i, name := range names {
		out := make([]json.RawMessage, len(lists[i]))
		for j, e := range lists[i] {
			out[j] = appendObject(nil, e.Fields)
		}
		ci := info.Channels[name]
		ci.History = out
		info.Channels[name] = ci
	}
	return nil
}

// addHistory is fillHistory for the response of a change that was applied
// already (connect, subscribe, unsubscribe): failing the call would
// misreport the change, so a history that cannot be read is logged,
// counted in Stats.BrokerErrors and shown empty.
func (h *Hub) addHistory(ctx context.Context, info *ChannelsInfo, opts InfoOptions) {
	if !opts.IncludeHistory {
		return
	}
	if err := h.fillHistory(ctx, info); err != nil {
		h.log.Warn().Err(err).Msg("a response shows no history: the data plane could not be read")
	}
}
