package core

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Info describes channels as upstream's /info does. A clustered hub first
// catches up with the log (see readSync), so every node answers alike.
// It is Describe without the error: in data-plane mode, the channels whose
// history could not be read show none (the failure is logged and counted
// in Stats.BrokerErrors).
func (h *Hub) Info(ctx context.Context, opts InfoOptions) ChannelsInfo {
	info, err := h.Describe(ctx, opts)
	if err != nil {
		h.log.Warn().Err(err).Msg("info shows no history: the data plane could not be read")
	}
	return info
}

// Describe is Info that reports a failure: in data-plane mode (Config.Log
// and Config.DataPlane set) the history comes from the DataPlane, read
// after Hub.mu is released, and an error from it (wrapping ErrUnavailable
// when it cannot be reached) is returned with what could be read.
func (h *Hub) Describe(ctx context.Context, opts InfoOptions) (ChannelsInfo, error) {
	h.readSync(ctx)
	h.mu.RLock()
	info := h.infoLocked(opts)
	h.mu.RUnlock()
	if !opts.IncludeHistory {
		return info, nil
	}
	return info, h.fillHistory(ctx, &info)
}

// infoLocked builds channels_info. opts.Channels nil means every channel.
// In data-plane mode every history is empty: the caller fills it with
// fillHistory after releasing h.mu. Caller holds h.mu.
func (h *Hub) infoLocked(opts InfoOptions) ChannelsInfo {
	names := opts.Channels
	if names == nil {
		names = sortedKeys(h.channels)
	}
	out := ChannelsInfo{Channels: map[string]ChannelInfo{}, Users: []UserInfo{}}
	userSet := map[string]bool{}
	for _, name := range names {
		ch := h.channels[name]
		if ch == nil || slices.Contains(opts.ExcludeChannels, name) {
			continue
		}
		if _, done := out.Channels[name]; done {
			continue
		}
		info := ch.info(opts.IncludeHistory && h.dp == nil)
		if opts.IncludeUsers {
			info.Users = ch.users()
			for _, u := range info.Users {
				userSet[u] = true
			}
		}
		info.TotalUsers = ch.userCount()
		out.Channels[name] = info
	}
	if opts.IncludeUsers {
		for _, name := range sortedKeys(userSet) {
			u := h.users[name]
			if u == nil {
				continue
			}
			st := u.state.clone()
			if opts.ReturnPublicState {
				st = u.publicState()
			}
			out.Users = append(out.Users, UserInfo{User: name, State: st})
		}
	}
	return out
}

// info describes the channel; users are filled by the caller.
func (ch *Channel) info(withHistory bool) ChannelInfo {
	history := []json.RawMessage{}
	if withHistory {
		history = ch.historyEntries()
	}
	ch.mu.Lock()
	last := time.Unix(0, ch.lastActive)
	ch.mu.Unlock()
	return ChannelInfo{
		UUID:             ch.uuid.String(),
		Name:             ch.name,
		Settings:         ch.cfg.Value(),
		History:          history,
		LastActive:       FormatTime(last),
		TotalConnections: len(ch.list),
		Users:            []string{},
	}
}

// AdminUser is one entry of admin.json's users.
type AdminUser struct {
	State       State    `json:"state"`
	User        string   `json:"user"`
	UUID        string   `json:"uuid"`
	Connections []string `json:"connections"`
}

// AdminInfo is upstream's /admin/admin.json without its version.
type AdminInfo struct {
	RememberedUserCount int                    `json:"remembered_user_count"`
	UniqueUserCount     int                    `json:"unique_user_count"`
	TotalConnections    int                    `json:"total_connections"`
	TotalChannels       int                    `json:"total_channels"`
	TotalMessages       int64                  `json:"total_messages"`
	TotalUniqueMessages int64                  `json:"total_unique_messages"`
	Channels            map[string]ChannelInfo `json:"channels"`
	Users               []AdminUser            `json:"users"`
	Uptime              string                 `json:"uptime"`
}

// Admin returns the statistics and full listing admin.json shows. A
// clustered hub first catches up with the log (see readSync). In
// data-plane mode the histories come from the DataPlane (a channel whose
// history cannot be read shows none; the failure is logged) and the
// message totals from Config.StatsBoard.
func (h *Hub) Admin(ctx context.Context) AdminInfo {
	h.readSync(ctx)
	h.mu.RLock()
	out := h.adminLocked()
	h.mu.RUnlock()
	t := h.totals(ctx)
	out.TotalMessages, out.TotalUniqueMessages = t.Messages, t.UniqueMessages
	info := ChannelsInfo{Channels: out.Channels}
	if err := h.fillHistory(ctx, &info); err != nil {
		h.log.Warn().Err(err).Msg("admin.json shows no history: the data plane could not be read")
	}
	return out
}

// adminLocked is Admin's listing. Caller holds h.mu.
func (h *Hub) adminLocked() AdminInfo {
	out := AdminInfo{
		RememberedUserCount: len(h.users),
		TotalChannels:       len(h.channels),
		Channels:            h.infoLocked(DefaultInfoOptions()).Channels,
		Users:               []AdminUser{},
		Uptime:              formatUptime(h.cfg.Now().Sub(h.started)),
	}
	for _, name := range sortedKeys(h.users) {
		u := h.users[name]
		if len(u.conns) == 0 {
			continue
		}
		ids := make([]string, 0, len(u.conns))
		for _, c := range u.conns {
			ids = append(ids, c.ID())
		}
		slices.Sort(ids)
		out.UniqueUserCount++
		out.TotalConnections += len(ids)
		out.Users = append(out.Users, AdminUser{State: u.publicState(), User: name, UUID: u.uuid.String(), Connections: ids})
	}
	return out
}

// readSync lets a clustered hub apply what the log holds before a read
// that should be the same on every node. It waits at most a second: when
// the log cannot be reached, the read shows this node's state.
func (h *Hub) readSync(ctx context.Context) {
	if h.repl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, min(h.cfg.ReplicateTimeout, time.Second))
	defer cancel()
	_ = h.Sync(ctx)
}
