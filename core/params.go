package core

// ConnectParams is a validated POST /connect.
type ConnectParams struct {
	Username string
	// ConnID is the canonical connection id the client chose; "" makes a new one.
	ConnID         string
	Channels       []string
	ChannelConfigs map[string]ChannelConfig
	FreshUserState State
	UserState      State
	// StatePublicKeys always replaces the user's public keys (nil resets them to none).
	StatePublicKeys []string
	Info            InfoOptions
}

// ConnectResult is the answer to POST /connect.
type ConnectResult struct {
	ConnID       string       `json:"conn_id"`
	State        State        `json:"state"`
	Username     string       `json:"username"`
	PublicState  State        `json:"public_state"`
	Channels     []string     `json:"channels"`
	ChannelsInfo ChannelsInfo `json:"channels_info"`
}

// SubscribeParams is a validated POST /subscribe or /unsubscribe.
type SubscribeParams struct {
	ConnID         string
	Channels       []string
	ChannelConfigs map[string]ChannelConfig
	Info           InfoOptions
}

// SubscribeResult is the answer to POST /subscribe.
type SubscribeResult struct {
	Channels     []string     `json:"channels"`
	ChannelsInfo ChannelsInfo `json:"channels_info"`
	SubscribedTo []string     `json:"subscribed_to"`
}

// UnsubscribeResult is the answer to POST /unsubscribe.
type UnsubscribeResult struct {
	Channels         []string     `json:"channels"`
	ChannelsInfo     ChannelsInfo `json:"channels_info"`
	UnsubscribedFrom []string     `json:"unsubscribed_from"`
}

// UserStateParams is a validated POST /user_state.
type UserStateParams struct {
	User  string
	State State
	// PublicKeys replaces the public keys when SetPublicKeys is true.
	PublicKeys    []string
	SetPublicKeys bool
}

// UserStateResult is the answer to POST /user_state.
type UserStateResult struct {
	UserState    State         `json:"user_state"`
	ChangedState []StateChange `json:"changed_state"`
	PublicKeys   []string      `json:"public_keys"`
}
