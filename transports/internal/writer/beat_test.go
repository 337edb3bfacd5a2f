package writer

import (
	"testing"
	"time"
)

func TestBeatsFallOnTheirGrid(t *testing.T) {
	const interval = 5 * time.Second
	for _, c := range []struct {
		name  string
		until func(time.Duration, time.Time) time.Duration
		slots int64
	}{{"UntilBeat", UntilBeat, HeartbeatSlots}, {"UntilPing", UntilPing, PingSlots}} {
		slot := int64(interval) / c.slots
		for _, now := range []time.Time{time.Unix(0, 0), time.Unix(1700000000, 123456789), time.Unix(1700000000, slot)} {
			d := c.until(interval, now)
			if d < interval || d >= interval+time.Duration(slot) {
				t.Errorf("%s at %v: %v, want within [%v, %v)", c.name, now, d, interval, interval+time.Duration(slot))
			}
			if at := now.Add(d).UnixNano(); at%slot != 0 {
				t.Errorf("%s at %v: next beat at %d is not on the grid of %d ns", c.name, now, at, slot)
			}
		}
	}
}

func TestSpreadTakesEverySubMomentOfAMoment(t *testing.T) {
	const interval = 5 * time.Second
	slot := interval / HeartbeatSlots
	sub := slot / SpreadSlots
	seen := map[time.Duration]bool{}
	for range 2000 {
		s := Spread(interval)
		if s < 0 || s >= slot || s%sub != 0 {
			t.Fatalf("Spread = %v, want a multiple of %v below %v", s, sub, slot)
		}
		seen[s] = true
	}
	if len(seen) != SpreadSlots {
		t.Errorf("Spread took %d distinct offsets in 2000 draws, want all %d", len(seen), SpreadSlots)
	}
}
