package core

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestChannelMembershipAcrossTheIndexThreshold: a channel that grows past
// smallChannel (and gets its index) and shrinks again (and drops it)
// answers every add, remove and lookup as a plain model of its members
// does, and its connections' channel lists follow.
func TestChannelMembershipAcrossTheIndexThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1, 0)
	ch := newChannel("c", uuid16{}, DefaultChannelConfig(), now)
	var users []*User
	for i := range 7 {
		users = append(users, newUser(fmt.Sprint("u", i), uuid16{}, now))
	}
	var conns []*Conn
	for i := range 3 * smallChannel {
		conns = append(conns, newConn(uuid16{byte(i)}, users[i%len(users)], queueLimits{frames: 1, bytes: 1}, true, now))
	}
	in := map[*Conn]bool{}
	perUser := func(name string) int {
		n := 0
		for c := range in {
			if c.user.name == name {
				n++
			}
		}
		return n
	}
	sawIndex := false
	for step := range 4000 {
		c := conns[rng.IntN(len(conns))]
		// Grow for a while, then shrink, then grow again.
		grow := (step/500)%2 == 0
		if (rng.IntN(4) != 0) == grow { // add (again, if c is in)
			wantAdded, wantFirst := !in[c], perUser(c.user.name) == 0
			added, first := ch.add(c)
			if added != wantAdded || first != wantFirst {
				t.Fatalf("step %d: add = %v, %v; want %v, %v", step, added, first, wantAdded, wantFirst)
			}
			in[c] = true
		} else {
			removed, last := ch.remove(c, now)
			want := in[c]
			delete(in, c)
			if removed != want || (want && last != (perUser(c.user.name) == 0)) {
				t.Fatalf("step %d: remove = %v, %v", step, removed, last)
			}
		}
		sawIndex = sawIndex || ch.idx != nil
		if len(ch.list) != len(in) {
			t.Fatalf("step %d: %d listed, want %d", step, len(ch.list), len(in))
		}
		var names []string
		for _, u := range users {
			if perUser(u.name) > 0 {
				names = append(names, u.name)
			}
			if got := ch.userConns(u.name); got != perUser(u.name) {
				t.Fatalf("step %d: %s has %d conns, want %d", step, u.name, got, perUser(u.name))
			}
		}
		if got := ch.users(); !slices.Equal(got, names) || ch.userCount() != len(names) {
			t.Fatalf("step %d: users %v (%d), want %v", step, got, ch.userCount(), names)
		}
		for _, c := range conns {
			if i := ch.indexOf(c); (i >= 0) != in[c] || (i >= 0 && ch.list[i] != c) {
				t.Fatalf("step %d: indexOf(%s) = %d, member %v", step, c.ID(), i, in[c])
			}
			if slices.Contains(c.channels, ch) != in[c] {
				t.Fatalf("step %d: %s lists the channel: %v, member %v", step, c.ID(), !in[c], in[c])
			}
		}
	}
	if !sawIndex {
		t.Fatal("the channel never grew past smallChannel")
	}
}
