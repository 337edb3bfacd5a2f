package core

import (
	"encoding/json"
	"errors"
)

// ChannelConfig holds the six per-channel settings of channelstream.
// The zero value is not the default: use DefaultChannelConfig.
type ChannelConfig struct {
	// NotifyPresence emits presence joined/parted frames. Default false.
	NotifyPresence bool `json:"notify_presence"`
	// StoreHistory keeps "message" frames in the channel history. Default false.
	StoreHistory bool `json:"store_history"`
	// HistorySize is how many history entries are kept; 0 means Config.MaxHistory. Default 10.
	HistorySize int `json:"history_size"`
	// BroadcastPresenceWithUserLists puts every member in presence frames. Default false.
	BroadcastPresenceWithUserLists bool `json:"broadcast_presence_with_user_lists"`
	// NotifyState emits user_state_change frames. Default false.
	NotifyState bool `json:"notify_state"`
	// StoreFrames keeps the last frames of the channel so edits reach queued copies. Default true.
	StoreFrames bool `json:"store_frames"`
}

// DefaultChannelConfig returns the settings a channel gets when nothing is said.
func DefaultChannelConfig() ChannelConfig {
	return ChannelConfig{HistorySize: 10, StoreFrames: true}
}

// InfoOptions select what a ChannelsInfo contains (upstream "info" resolution).
type InfoOptions struct {
	// Channels lists the channels to describe; nil means every channel.
	Channels []string
	// ExcludeChannels removes channels from the result.
	ExcludeChannels []string
	// IncludeHistory fills each channel's history. Upstream default true.
	IncludeHistory bool
	// IncludeUsers fills user lists. Upstream default true.
	IncludeUsers bool
	// ReturnPublicState shows only public state keys in the top-level users.
	ReturnPublicState bool
}

// DefaultInfoOptions returns the upstream defaults: history and users included, full state.
func DefaultInfoOptions() InfoOptions {
	return InfoOptions{IncludeHistory: true, IncludeUsers: true}
}

// State is a user's state: values are string, json.Number, bool or nil.
type State map[string]any

// StateChange is one changed key of a user's state.
type StateChange struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// ChannelInfo describes one channel as upstream's channels_info does.
type ChannelInfo struct {
	UUID             string            `json:"uuid"`
	Name             string            `json:"name"`
	LongName         *string           `json:"long_name"`
	Settings         ChannelConfig     `json:"settings"`
	History          []json.RawMessage `json:"history"`
	LastActive       string            `json:"last_active"`
	TotalConnections int               `json:"total_connections"`
	TotalUsers       int               `json:"total_users"`
	Users            []string          `json:"users"`
}

// UserInfo is one entry of channels_info.users.
type UserInfo struct {
	User  string `json:"user"`
	State State  `json:"state"`
}

// ChannelsInfo is upstream's channels_info structure.
type ChannelsInfo struct {
	Channels map[string]ChannelInfo `json:"channels"`
	Users    []UserInfo             `json:"users"`
}

// MessageKind says what a Message does.
type MessageKind int

// Message kinds: a new message, an edit of one, a deletion of one.
const (
	KindSend MessageKind = iota
	KindEdit
	KindDelete
)

// Message is one validated element of POST, PATCH or DELETE /message.
//
// Routing keys are typed fields; everything else a client sees is in Fields,
// already JSON-encoded by the caller (user, timestamp, message, edited and any
// extra keys; timestamps in their client form). The hub adds "uuid",
// "channel", "type" and "catchup" itself.
type Message struct {
	Kind MessageKind
	// UUID is the canonical dashed lowercase id of the message.
	UUID string
	// Channel is the target channel; "" means a global private message to PMUsers.
	Channel      string
	PMUsers      []string
	ExcludeUsers []string
	NoHistory    bool
	// Fields are the payload keys delivered to clients (see above).
	Fields map[string]json.RawMessage
}

// Sentinel errors that callers branch on.
var (
	// ErrUnknownConn means the connection id is not known to the hub.
	ErrUnknownConn = errors.New("unknown connection")
	// ErrUnknownUser means the user is not known to the hub.
	ErrUnknownUser = errors.New("unknown user")
	// ErrConnOwned means the connection id belongs to another user.
	ErrConnOwned = errors.New("connection id belongs to another user")
	// ErrDraining means the hub refuses new attachments because it shuts down.
	ErrDraining = errors.New("hub is draining")
)
