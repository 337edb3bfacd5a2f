package core

import (
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// User is one username known to the hub, with its state and connections.
type User struct {
	name string
	uuid uuid16
	// state, publicKeys, conns and lastActive are guarded by Hub.mu.
	// state is nil until a key is set. publicKeys is nil while the list
	// is (a pointer: most users have none, and every node keeps every
	// user; see keys). conns is a slice: a user has at most
	// MaxConnsPerUser, most of them one.
	state      State
	publicKeys *[]string
	conns      []*Conn
	lastActive int64 // unix ns

	// frames (recent global private messages) is guarded by mu; nil
	// while there are none (a pointer: most users never get one, and
	// every node keeps every user).
	mu     sync.Mutex
	frames *[]*Frame
}

// framesLocked returns the recent global private messages. Caller holds
// u.mu.
func (u *User) framesLocked() []*Frame {
	if u.frames == nil {
		return nil
	}
	return *u.frames
}

// setFramesLocked makes list the recent global private messages. Caller
// holds u.mu.
func (u *User) setFramesLocked(list []*Frame) {
	switch {
	case len(list) == 0:
		u.frames = nil
	case u.frames == nil:
		u.frames = &list
	default:
		*u.frames = list
	}
}

func newUser(name string, uuid uuid16, now time.Time) *User {
	return &User{name: name, uuid: uuid, lastActive: now.UnixNano()}
}

// keys returns the public state keys (nil when none were set). Caller
// holds Hub.mu.
func (u *User) keys() []string {
	if u.publicKeys == nil {
		return nil
	}
	return *u.publicKeys
}

// setKeys makes a copy of list the public state keys. Caller holds Hub.mu
// for writing.
func (u *User) setKeys(list []string) {
	if list == nil {
		u.publicKeys = nil
		return
	}
	c := slices.Clone(list)
	u.publicKeys = &c
}

// removeConn forgets c. Caller holds Hub.mu for writing.
func (u *User) removeConn(c *Conn) {
	if i := slices.Index(u.conns, c); i >= 0 {
		u.conns = slices.Delete(u.conns, i, i+1)
	}
}

// publicState returns the state restricted to the public keys.
func (u *User) publicState() State {
	out := State{}
	for _, k := range u.keys() {
		if v, ok := u.state[k]; ok {
			out[k] = v
		}
	}
	return out
}

func (u *User) isPublic(key string) bool { return slices.Contains(u.keys(), key) }

// mergeState applies s the way upstream's state_from_dict does: a key
// changes when its value differs (an absent key equals null); keys are never
// deleted. It returns the changes in sorted key order.
func (u *User) mergeState(s State) []StateChange {
	var changed []StateChange
	for _, k := range sortedKeys(s) {
		v := s[k]
		if old, ok := u.state[k]; stateEqual(old, v) && (ok || v == nil) {
			continue
		}
		if u.state == nil {
			u.state = State{}
		}
		u.state[k] = v
		changed = append(changed, StateChange{Key: k, Value: v})
	}
	return changed
}

// stateEqual compares two state values; numbers compare by value.
func stateEqual(a, b any) bool {
	na, aNum := a.(json.Number)
	nb, bNum := b.(json.Number)
	if aNum && bNum {
		if na == nb {
			return true
		}
		fa, errA := na.Float64()
		fb, errB := nb.Float64()
		return errA == nil && errB == nil && fa == fb
	}
	return a == b
}

func (s State) clone() State {
	out := make(State, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
