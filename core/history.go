package core

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// In data-plane mode (Hub.dp set) a channel's history lives in the
// DataPlane, not in the Channel: the node that publishes a message puts
// its effect in the publication (historyOp, dataplane_publish.go), and the
// node that answers a call whose response shows history reads it with
// DataPlane.History after applying, off every lock (fillHistory). The
// entries are the same objects a single hub shows: the fields of
// Message.historyEntry, an edit replacing the editable keys.

// historyFetches bounds how many DataPlane.History calls one response
// runs at the same time.
const historyFetches = 8

// fillHistory sets, in data-plane mode, the history of every channel of
// info to what the DataPlane holds (nothing to do in other modes: the
// apply functions filled it). It takes no lock and must be called with
// none held. On error the channels it could not read keep an empty
// history and the error names the first of them.
func (h *Hub) fillHistory(ctx context.Context, info *ChannelsInfo) error {
	if h.dp == nil || len(info.Channels) == 0 {
		return nil
	}
	names := sortedKeys(info.Channels)
	entries := make([][]json.RawMessage, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, historyFetches)
	for i, name := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			list, err := h.dp.History(ctx, name)
			if err != nil {
				errs[i] = fmt.Errorf("history of channel %q: %w", name, err)
				return
			}
			out := make([]json.RawMessage, len(list))
			for j, e := range list {
				out[j] = appendObject(nil, e.Fields)
			}
			entries[i] = out
		})
	}
	wg.Wait()
	for i, name := range names {
		if errs[i] == nil {
			ci := info.Channels[name]
			ci.History = entries[i]
			info.Channels[name] = ci
		}
	}
	for _, err := range errs {
		if err != nil {
			h.stats.BrokerErrors.Add(1)
			return err
		}
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
