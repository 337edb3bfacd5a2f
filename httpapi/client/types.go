package client

import "encoding/json"

// State is a user's state: keys to strings, numbers, booleans or null.
type State map[string]any

// ChannelConfig is a channel's settings. The server fills every key a
// request leaves out with its default and applies them all, so start from
// DefaultChannelConfig to change one setting.
type ChannelConfig struct {
	NotifyPresence                 bool `json:"notify_presence"`
	StoreHistory                   bool `json:"store_history"`
	HistorySize                    int  `json:"history_size"`
	BroadcastPresenceWithUserLists bool `json:"broadcast_presence_with_user_lists"`
	NotifyState                    bool `json:"notify_state"`
	StoreFrames                    bool `json:"store_frames"`
}

// DefaultChannelConfig returns the settings a channel gets when nothing is
// said: history_size 10, store_frames true, everything else off.
func DefaultChannelConfig() ChannelConfig {
	return ChannelConfig{HistorySize: 10, StoreFrames: true}
}

// InfoOptions chooses what a channels_info holds. The zero value is the
// server's default: history, users and full states of every channel asked.
type InfoOptions struct {
	// Channels limits /info to these channels (nil: all). Ignored by
	// /connect and /subscribe, which answer for their own channels.
	Channels []string
	// ExcludeChannels leaves these channels out.
	ExcludeChannels []string
	// NoHistory leaves the channels' history out (include_history false).
	NoHistory bool
	// NoUsers leaves the user lists out (include_users false).
	NoUsers bool
	// PublicState shows only the users' public state keys.
	PublicState bool
}

// MarshalJSON writes the options in the wire form: include_history,
// include_users and return_public_state, only where they differ from the
// server's default.
func (o InfoOptions) MarshalJSON() ([]byte, error) {
	var w struct {
		Channels          []string `json:"channels,omitzero"`
		ExcludeChannels   []string `json:"exclude_channels,omitzero"`
		IncludeHistory    *bool    `json:"include_history,omitempty"`
		IncludeUsers      *bool    `json:"include_users,omitempty"`
		ReturnPublicState bool     `json:"return_public_state,omitzero"`
	}
	no := false
	w.Channels, w.ExcludeChannels, w.ReturnPublicState = o.Channels, o.ExcludeChannels, o.PublicState
	if o.NoHistory {
		w.IncludeHistory = &no
	}
	if o.NoUsers {
		w.IncludeUsers = &no
	}
	return json.Marshal(w)
}

// ChannelsInfo describes channels and their users (the channels_info of
// /connect and /subscribe, the answer of /info and /channel_config).
type ChannelsInfo struct {
	Channels map[string]ChannelInfo `json:"channels"`
	Users    []UserInfo             `json:"users"`
}

// ChannelInfo is one channel in a ChannelsInfo.
type ChannelInfo struct {
	UUID     string        `json:"uuid"`
	Name     string        `json:"name"`
	Settings ChannelConfig `json:"settings"`
	// History holds the stored messages as clients receive them.
	History          []json.RawMessage `json:"history"`
	LastActive       string            `json:"last_active"`
	TotalConnections int               `json:"total_connections"`
	TotalUsers       int               `json:"total_users"`
	Users            []string          `json:"users"`
}

// UserInfo is a user and its state (full, or public only when asked).
type UserInfo struct {
	User  string `json:"user"`
	State State  `json:"state"`
}

// ConnectRequest is the body of POST /connect. Only Username is required.
type ConnectRequest struct {
	Username string `json:"username"`
	// ConnID reuses or chooses the connection's id (default: a new one).
	ConnID         string                   `json:"conn_id,omitzero"`
	Channels       []string                 `json:"channels,omitzero"`
	ChannelConfigs map[string]ChannelConfig `json:"channel_configs,omitzero"`
	// FreshUserState applies only to a user the server does not know yet.
	FreshUserState State `json:"fresh_user_state,omitzero"`
	// UserState is merged into the user's state every time.
	UserState State `json:"user_state,omitzero"`
	// StatePublicKeys always replaces the user's public keys.
	StatePublicKeys []string    `json:"state_public_keys,omitzero"`
	Info            InfoOptions `json:"info"`
}

// ConnectAnswer is the answer of POST /connect.
type ConnectAnswer struct {
	ConnID       string       `json:"conn_id"`
	Username     string       `json:"username"`
	State        State        `json:"state"`
	PublicState  State        `json:"public_state"`
	Channels     []string     `json:"channels"`
	ChannelsInfo ChannelsInfo `json:"channels_info"`
}

// SubscribeRequest is the body of POST /subscribe and /unsubscribe
// (ChannelConfigs and Info apply to /subscribe only).
type SubscribeRequest struct {
	ConnID         string                   `json:"conn_id"`
	Channels       []string                 `json:"channels"`
	ChannelConfigs map[string]ChannelConfig `json:"channel_configs,omitzero"`
	Info           InfoOptions              `json:"info"`
}

// SubscribeAnswer is the answer of POST /subscribe: every channel of the
// connection, and those this call added.
type SubscribeAnswer struct {
	Channels     []string     `json:"channels"`
	ChannelsInfo ChannelsInfo `json:"channels_info"`
	SubscribedTo []string     `json:"subscribed_to"`
}

// UnsubscribeAnswer is the answer of POST /unsubscribe: the channels left,
// and those this call removed.
type UnsubscribeAnswer struct {
	Channels         []string     `json:"channels"`
	ChannelsInfo     ChannelsInfo `json:"channels_info"`
	UnsubscribedFrom []string     `json:"unsubscribed_from"`
}

// UserStateRequest is the body of POST /user_state.
type UserStateRequest struct {
	User      string `json:"user"`
	UserState State  `json:"user_state,omitzero"`
	// StatePublicKeys replaces the public keys; nil keeps them, an empty
	// list clears them.
	StatePublicKeys []string `json:"state_public_keys,omitzero"`
}

// StateChange is one changed state key.
type StateChange struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// UserStateAnswer is the answer of POST /user_state.
type UserStateAnswer struct {
	UserState    State         `json:"user_state"`
	ChangedState []StateChange `json:"changed_state"`
	PublicKeys   []string      `json:"public_keys"`
}

// Message is one element of the list POST, PATCH and DELETE /message take
// and answer. Fields left empty are not sent, so the same type serves the
// three: a send needs User and Channel or PMUsers; an edit and a delete
// need UUID and the channel or PMUsers of the original (a delete takes no
// User, Timestamp, Message or Edited).
type Message struct {
	User         string   `json:"user,omitzero"`
	Channel      string   `json:"channel,omitzero"`
	PMUsers      []string `json:"pm_users,omitzero"`
	ExcludeUsers []string `json:"exclude_users,omitzero"`
	NoHistory    bool     `json:"no_history,omitzero"`
	// UUID identifies the message (a send without one gets a new one).
	UUID string `json:"uuid,omitzero"`
	// Timestamp is ISO 8601 (a send without one is stamped now).
	Timestamp string `json:"timestamp,omitzero"`
	// Message is the payload, a JSON object (a map, a struct or a
	// json.RawMessage).
	Message any `json:"message,omitzero"`
	// Edited is the edit's time, ISO 8601 (an edit without one gets now).
	Edited string `json:"edited,omitzero"`
}
