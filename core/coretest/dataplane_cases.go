package coretest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/channelstream-go/channelstream-go/core"
)

func testDPPartition(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	if d.Partitions() < 1 {
		t.Fatalf("Partitions() = %d", d.Partitions())
	}
	for _, st := range []core.Stream{channel("a"), user("a"), channel("ü"), user("")} {
		if got, want := d.Partition(st), core.PartitionOf(st, d.Partitions()); got != want {
			t.Errorf("Partition(%+v) = %d, want PartitionOf's %d", st, got, want)
		}
	}
}

func testDPPublishOrder(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	same := samePartition(d, 3)
	other := otherPartitions(d, min(3, d.Partitions()))
	pubs := append(append([]core.Stream{}, same...), other...)
	pubs = append(pubs, user("bob"), same[0])
	pos := publish(t, d, "1", pubs...)
	last := map[int]core.Pos{}
	for i, p := range pos {
		st := pubs[i]
		if p.Partition != d.Partition(st) || p.N == 0 || p.Epoch == 0 {
			t.Fatalf("publication %d to %q: Pos %+v, want partition %d, N and epoch not 0", i, st.Name, p, d.Partition(st))
		}
		if l, ok := last[p.Partition]; ok && (p.N <= l.N || p.Epoch != l.Epoch) {
			t.Fatalf("publication %d to %q: Pos %+v after %+v in the same call", i, st.Name, p, l)
		}
		last[p.Partition] = p
	}
	again := publish(t, d, "2", same[1])
	if again[0].N <= last[again[0].Partition].N {
		t.Fatalf("a later Publish got %+v, not after %+v", again[0], last[again[0].Partition])
	}
}

func testDPPublishRefuses(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	ch := channel("refuse")
	before, err := d.Heads(ctxFor(t), []core.Stream{ch, user("u")})
	if err != nil {
		t.Fatalf("Heads: %v", err)
	}
	good := core.Publication{Stream: ch, Data: []byte("ok")}
	for name, bad := range map[string]core.Publication{
		"history on a user stream": {Stream: user("u"), History: core.HistoryOp{Kind: core.HistoryDelete, ID: "x"}},
		"append without an id":     {Stream: ch, History: core.HistoryOp{Kind: core.HistoryAppend, Limit: 3}},
		"append with limit 0":      {Stream: ch, History: core.HistoryOp{Kind: core.HistoryAppend, ID: "x"}},
	} {
		if _, err := d.Publish(ctxFor(t), []core.Publication{good, bad}); err == nil {
			t.Errorf("Publish with %s: no error", name)
		} else if errors.Is(err, core.ErrUnavailable) {
			t.Errorf("Publish with %s: %v, an outage", name, err)
		}
	}
	after, err := d.Heads(ctxFor(t), []core.Stream{ch, user("u")})
	if err != nil {
		t.Fatalf("Heads: %v", err)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("refused publications moved the heads from %+v to %+v", before, after)
	}
	if res := read(t, d, ch, core.Pos{}); len(res.Entries) != 0 {
		t.Fatalf("refused publications stored %s", shorten(datas(res.Entries)))
	}
}

func testDPHeads(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	same := samePartition(d, 2)
	heads, err := d.Heads(ctxFor(t), []core.Stream{same[0], same[1]})
	if err != nil {
		t.Fatalf("Heads: %v", err)
	}
	if heads[0].N != 0 || heads[0].Epoch == 0 || heads[0] != heads[1] {
		t.Fatalf("Heads of an empty partition = %+v, want N 0 with an epoch, the same for both streams", heads)
	}
	pos := publish(t, d, "1", same[0], same[0])
	heads, err = d.Heads(ctxFor(t), []core.Stream{same[1]})
	if err != nil {
		t.Fatalf("Heads: %v", err)
	}
	if heads[0] != pos[1] {
		t.Fatalf("Heads after publishing %+v = %+v", pos[1], heads[0])
	}
	publish(t, d, "2", same[1])
	res := read(t, d, same[1], heads[0])
	if got := datas(res.Entries); !slices.Equal(got, []string{same[1].Name + "#2"}) {
		t.Fatalf("Read after the join point = %s, want the later entry", shorten(got))
	}
}

func testDPRead(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	same := samePartition(d, 2)
	a, b := same[0], same[1]
	var posA []core.Pos
	for i := range 5 {
		pos := publish(t, d, strconv.Itoa(i), a, b)
		posA = append(posA, pos[0])
	}
	res := read(t, d, a, core.Pos{})
	var want []string
	for i := range 5 {
		want = append(want, a.Name+"#"+strconv.Itoa(i))
	}
	if got := datas(res.Entries); !slices.Equal(got, want) {
		t.Fatalf("Read from the start = %s, want %s", shorten(got), shorten(want))
	}
	for i, e := range res.Entries {
		if e.Pos != posA[i] || e.Stream != a || e.Time.IsZero() {
			t.Fatalf("entry %d = %+v, want Pos %+v of stream %q with a time", i, e, posA[i], a.Name)
		}
	}
	if res.Trimmed || res.Reset || res.More || res.Head.N < posA[4].N {
		t.Fatalf("Read from the start: trimmed %v reset %v more %v head %+v", res.Trimmed, res.Reset, res.More, res.Head)
	}
	res = read(t, d, a, posA[2])
	if got := datas(res.Entries); !slices.Equal(got, want[3:]) {
		t.Fatalf("Read after %+v = %s, want %s", posA[2], shorten(got), shorten(want[3:]))
	}
	if res := read(t, d, channel("never"), core.Pos{}); len(res.Entries) != 0 || res.Trimmed {
		t.Fatalf("Read of a stream never published: %+v", res)
	}
}

func testDPReadLimit(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	ch := channel("paged")
	for i := range 7 {
		publish(t, d, strconv.Itoa(i), ch)
	}
	var got []string
	after := core.Pos{}
	for page := 0; ; page++ {
		res, err := d.Read(ctxFor(t), ch, after, 3)
		if err != nil {
			t.Fatalf("Read page %d: %v", page, err)
		}
		if len(res.Entries) > 3 || page > 3 {
			t.Fatalf("page %d: %d entries with limit 3", page, len(res.Entries))
		}
		got = append(got, datas(res.Entries)...)
		if !res.More {
			break
		}
		after = res.Entries[len(res.Entries)-1].Pos
	}
	if len(got) != 7 || got[0] != "paged#0" || got[6] != "paged#6" {
		t.Fatalf("pages gave %s", shorten(got))
	}
}

func testDPTrimCount(t *testing.T, s DataPlaneSuite) {
	const maxLen = 10
	d := s.New(t, DataPlaneOptions{MaxLen: maxLen})
	ch := channel("trimmed")
	var pos []core.Pos
	for i := range 5 * maxLen {
		pos = append(pos, publish(t, d, strconv.Itoa(i), ch)...)
	}
	res := read(t, d, ch, core.Pos{})
	n := len(res.Entries)
	if n < maxLen || n > 2*maxLen || !res.Trimmed {
		t.Fatalf("after %d publications with MaxLen %d: %d entries kept, trimmed %v", len(pos), maxLen, n, res.Trimmed)
	}
	if last := res.Entries[n-1].Pos; last != pos[len(pos)-1] {
		t.Fatalf("the newest entry kept is %+v, want %+v", last, pos[len(pos)-1])
	}
	// From the entry just before the oldest kept one, nothing is missing.
	first := len(pos) - n
	res = read(t, d, ch, pos[first-1])
	if res.Trimmed || len(res.Entries) != n {
		t.Fatalf("Read after the last trimmed entry: trimmed %v, %d entries, want false, %d", res.Trimmed, len(res.Entries), n)
	}
	if res = read(t, d, ch, pos[first-2]); !res.Trimmed {
		t.Fatalf("Read after an entry before the last trimmed one: not trimmed")
	}
}

// testDPTrimInterleaved trims a stream whose entries alternate with
// another stream's in the partition: a read after the newest entry
// trimmed, whose N is not just before the oldest kept one, lost nothing.
func testDPTrimInterleaved(t *testing.T, s DataPlaneSuite) {
	const maxLen = 4
	d := s.New(t, DataPlaneOptions{MaxLen: maxLen})
	same := samePartition(d, 2)
	a, b := same[0], same[1]
	var pos []core.Pos // a's
	for i := range 4 * maxLen {
		pos = append(pos, publish(t, d, strconv.Itoa(i), a)...)
		publish(t, d, strconv.Itoa(i), b)
	}
	res := read(t, d, a, core.Pos{})
	kept := len(res.Entries)
	if !res.Trimmed || kept >= len(pos) {
		t.Fatalf("after %d publications with MaxLen %d: %d entries kept, trimmed %v", len(pos), maxLen, kept, res.Trimmed)
	}
	last := pos[len(pos)-kept-1] // the newest trimmed
	if res = read(t, d, a, last); res.Trimmed || len(res.Entries) != kept {
		t.Fatalf("Read after the newest trimmed entry (N %d, the oldest kept is N %d): trimmed %v, %d entries, want false, %d",
			last.N, pos[len(pos)-kept].N, res.Trimmed, len(res.Entries), kept)
	}
	before := last
	before.N--
	if res = read(t, d, a, before); !res.Trimmed {
		t.Fatalf("Read after N %d, before the newest trimmed entry N %d: not trimmed", before.N, last.N)
	}
}

func testDPTrimAge(t *testing.T, s DataPlaneSuite) {
	const maxAge = 200 * time.Millisecond
	d := s.New(t, DataPlaneOptions{MaxAge: maxAge})
	ch := channel("aged")
	old := publish(t, d, "old", ch)[0]
	start := time.Now()
	deadline := start.Add(waitTimeout)
	for i := 0; ; i++ {
		publish(t, d, strconv.Itoa(i), ch)
		res := read(t, d, ch, core.Pos{})
		if res.Trimmed && res.Entries[0].Pos.N > old.N {
			if time.Since(start) < maxAge {
				t.Fatalf("the entry was trimmed after %v, before MaxAge %v", time.Since(start), maxAge)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an entry older than MaxAge %v still kept after %v: %s", maxAge, waitTimeout, shorten(datas(res.Entries)))
		}
		time.Sleep(maxAge / 4)
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(strconv.Quote(s)) }

func testDPHistory(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	ch := channel("chat")
	send := func(id, text string, limit int) core.Publication {
		return core.Publication{Stream: ch, Data: []byte("send " + id), History: core.HistoryOp{
			Kind: core.HistoryAppend, ID: id, Limit: limit,
			Fields: map[string]json.RawMessage{"message": raw(text), "user": raw("ann"), "n": json.RawMessage(`[1, {"a": null}]`)},
		}}
	}
	edit := core.Publication{Stream: ch, Data: []byte("edit"), History: core.HistoryOp{
		Kind: core.HistoryEdit, ID: "m2", Fields: map[string]json.RawMessage{"message": raw("TWO"), "edited": raw("now")},
	}}
	del := core.Publication{Stream: ch, Data: []byte("delete"), History: core.HistoryOp{Kind: core.HistoryDelete, ID: "m3"}}
	ghost := core.Publication{Stream: ch, Data: []byte("edit ghost"), History: core.HistoryOp{
		Kind: core.HistoryEdit, ID: "nope", Fields: map[string]json.RawMessage{"message": raw("x")},
	}}
	plain := core.Publication{Stream: ch, Data: []byte("no history")}
	const rest = ` n=[1, {"a": null}] user="ann"`
	for i, step := range []struct {
		pubs []core.Publication
		want []string
	}{
		{[]core.Publication{send("m1", "one", 2), send("m2", "two", 2), send("m3", "three", 2)},
			[]string{`m2 message="two"` + rest, `m3 message="three"` + rest}},
		{[]core.Publication{edit, del, ghost, plain, send("m4", "four", 3)},
			[]string{`m2 edited="now" message="TWO"` + rest, `m4 message="four"` + rest}},
		{[]core.Publication{send("m5", "five", 2), send("m6", "six", 2)},
			[]string{`m5 message="five"` + rest, `m6 message="six"` + rest}},
	} {
		if _, err := d.Publish(ctxFor(t), step.pubs); err != nil {
			t.Fatalf("Publish step %d: %v", i, err)
		}
		h, err := d.History(ctxFor(t), ch.Name)
		if err != nil {
			t.Fatalf("History step %d: %v", i, err)
		}
		if got := describeHistory(h); !slices.Equal(got, step.want) {
			t.Fatalf("History after step %d =\n%s\nwant\n%s", i, shorten(got), shorten(step.want))
		}
	}
	if h, err := d.History(ctxFor(t), "empty"); err != nil || h != nil {
		t.Fatalf("History of a channel without messages = %v, %v; want nil, nil", h, err)
	}
	if err := d.DeleteHistory(ctxFor(t), ch.Name); err != nil {
		t.Fatalf("DeleteHistory: %v", err)
	}
	if h, err := d.History(ctxFor(t), ch.Name); err != nil || h != nil {
		t.Fatalf("History after DeleteHistory = %v, %v; want nil, nil", describeHistory(h), err)
	}
	if res := read(t, d, ch, core.Pos{}); len(res.Entries) != 10 {
		t.Fatalf("DeleteHistory left %d entries in the stream, want the 10 published", len(res.Entries))
	}
}

func testDPHistories(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	if got, err := d.Histories(ctxFor(t), nil); err != nil || len(got) != 0 {
		t.Fatalf("Histories of no channel = %v, %v; want none, nil", got, err)
	}
	// Channels of every partition (all masters of a cluster), some of them
	// sharing one, each with its own number of messages; one left empty.
	chans := append(otherPartitions(d, d.Partitions()), samePartition(d, 4)...)
	var pubs []core.Publication
	for i, ch := range chans[1:] {
		for j := range i%3 + 1 {
			id := fmt.Sprintf("%s-m%d", ch.Name, j)
			pubs = append(pubs, core.Publication{Stream: ch, Data: []byte(id), History: core.HistoryOp{
				Kind: core.HistoryAppend, ID: id, Limit: 2,
				Fields: map[string]json.RawMessage{"message": raw(id)},
			}})
		}
	}
	if _, err := d.Publish(ctxFor(t), pubs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	names := []string{"nobody-wrote-here"}
	for _, ch := range chans {
		names = append(names, ch.Name)
	}
	names = append(names, chans[3].Name) // twice
	got, err := d.Histories(ctxFor(t), names)
	if err != nil {
		t.Fatalf("Histories: %v", err)
	}
	if len(got) != len(names) {
		t.Fatalf("Histories of %d channels returned %d", len(names), len(got))
	}
	for i, name := range names {
		want, err := d.History(ctxFor(t), name)
		if err != nil {
			t.Fatalf("History of %q: %v", name, err)
		}
		if g, w := describeHistory(got[i]), describeHistory(want); !slices.Equal(g, w) || (got[i] == nil) != (want == nil) {
			t.Errorf("Histories[%d] (%q) = %v, History = %v", i, name, shorten(g), shorten(w))
		}
	}
	if n := len(got[len(got)-1]); n != 2 {
		t.Errorf("a channel sent 3 messages with a limit of 2 shows %d", n)
	}
}

func describeHistory(h []core.HistoryEntry) []string {
	out := make([]string, len(h))
	for i, e := range h {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		s := e.ID
		for _, k := range keys {
			s += " " + k + "=" + string(e.Fields[k])
		}
		out[i] = s
	}
	return out
}

func testDPSubscribe(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	same := samePartition(d, 3)
	other := otherPartitions(d, 1)[0]
	_, c := subscribe(t, d, same[0], same[1], user("bob"))
	publish(t, d, "1", same[0], same[2], other, user("bob"), user("ann"), same[1], same[0])
	c.waitData(t, same[0].Name+"#1", "bob#1", same[1].Name+"#1", same[0].Name+"#1")
	checkOrder(t, c.got())
}

func testDPRefcount(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	ch, mark := channel("counted"), channel("marker")
	sub, c := subscribe(t, d, ch, ch, mark)
	sub.Remove(ch)
	publish(t, d, "1", ch)
	publish(t, d, "1", mark)
	c.waitData(t, "counted#1", "marker#1")
	sub.Remove(ch)
	sub.Remove(ch) // one too many does nothing
	publish(t, d, "2", ch)
	publish(t, d, "2", mark)
	c.waitData(t, "counted#1", "marker#1", "marker#2")
	if err := sub.Add(ctxFor(t), ch); err != nil {
		t.Fatalf("Add again: %v", err)
	}
	publish(t, d, "3", ch)
	c.waitData(t, "counted#1", "marker#1", "marker#2", "counted#3")
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	publish(t, d, "4", ch)
	if err := sub.Add(ctxFor(t), ch); err == nil {
		t.Fatal("Add after Close: no error")
	}
	// Close waited for fn: nothing may arrive after it.
	if got := datas(c.got()); len(got) != 4 {
		t.Fatalf("after Close the subscriber got %s", shorten(got))
	}
}

func testDPConcurrent(t *testing.T, s DataPlaneSuite) {
	const writers, each = 4, 50
	d := s.New(t, DataPlaneOptions{})
	streams := append(samePartition(d, 3), otherPartitions(d, min(4, d.Partitions()))...)
	_, c := subscribe(t, d, streams...)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				st := streams[(w+i)%len(streams)]
				pub := core.Publication{Stream: st, Data: []byte(fmt.Sprintf("w%d-%d", w, i))}
				if _, err := d.Publish(ctxFor(t), []core.Publication{pub, pub}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	deadline := time.Now().Add(waitTimeout)
	for len(c.got()) < writers*each*2 && time.Now().Before(deadline) {
		time.Sleep(pollEvery)
	}
	got := c.got()
	if len(got) != writers*each*2 {
		t.Fatalf("subscriber got %d entries, want %d", len(got), writers*each*2)
	}
	checkOrder(t, got)
	c.checkOverlap(t)
}

func testDPPing(t *testing.T, s DataPlaneSuite) {
	if err := s.New(t, DataPlaneOptions{}).Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testDPHeal(t *testing.T, s DataPlaneSuite) {
	const rounds = 60
	d := s.New(t, DataPlaneOptions{})
	streams := append(samePartition(d, 3), otherPartitions(d, min(3, d.Partitions()))...)
	_, c := subscribe(t, d, streams...)
	var want []string
	for round := range rounds {
		for _, st := range streams {
			want = append(want, st.Name+"#"+strconv.Itoa(round))
		}
	}
	// Publish while connections break: entries published before, during
	// and after each break, of several streams of one partition.
	done := make(chan error, 1)
	go func() {
		for round := range rounds {
			pubs := make([]core.Publication, len(streams))
			for i, st := range streams {
				pubs[i] = core.Publication{Stream: st, Data: []byte(st.Name + "#" + strconv.Itoa(round))}
			}
			if _, err := d.Publish(ctxFor(t), pubs); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 1; i <= 3; i++ {
		deadline := time.Now().Add(waitTimeout)
		for len(c.got()) < i*len(want)/4 && time.Now().Before(deadline) {
			time.Sleep(pollEvery)
		}
		s.Disconnect(t, d)
	}
	if err := <-done; err != nil {
		t.Fatalf("Publish: %v", err)
	}
	deadline := time.Now().Add(waitTimeout)
	for len(c.got()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(pollEvery)
	}
	got := c.got()
	checkOrder(t, got)
	gotData := datas(got)
	slices.Sort(gotData)
	slices.Sort(want)
	if !slices.Equal(gotData, want) {
		t.Fatalf("after broken connections the subscriber got %d entries %s, want %d %s", len(gotData), shorten(gotData), len(want), shorten(want))
	}
	for _, e := range got {
		if e.Gap {
			t.Fatalf("entry %+v marked Gap: nothing was lost", e)
		}
	}
}

func testDPHealSkipsUnreferenced(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	ch := channel("dropped")
	sub, c := subscribe(t, d, ch)
	publish(t, d, "1", ch)
	c.waitData(t, "dropped#1")
	sub.Remove(ch)
	publish(t, d, "2", ch) // while nobody holds a reference
	if err := sub.Add(ctxFor(t), ch); err != nil {
		t.Fatalf("Add again: %v", err)
	}
	s.Disconnect(t, d) // the catch-up must not bring #2 back
	publish(t, d, "3", ch)
	c.waitData(t, "dropped#1", "dropped#3")
}

func testDPReset(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	ch := channel("reborn")
	_, c := subscribe(t, d, ch)
	before := publish(t, d, "1", ch, ch)
	c.waitData(t, "reborn#1", "reborn#1")
	s.Reset(t, d)
	after := publish(t, d, "2", ch)[0]
	if after.Epoch == before[0].Epoch {
		t.Fatalf("the epoch stayed %d after the backend lost its data", after.Epoch)
	}
	res := read(t, d, ch, before[0])
	if !res.Reset || !slices.Equal(datas(res.Entries), []string{"reborn#2"}) {
		t.Fatalf("Read with an old epoch: reset %v, entries %s; want true, [reborn#2]", res.Reset, shorten(datas(res.Entries)))
	}
	c.waitData(t, "reborn#1", "reborn#1", "reborn#2")
	if got := c.got(); !got[2].Gap {
		t.Fatalf("the first entry after the loss is not marked Gap: %+v", got[2])
	}
	if h, err := d.History(ctxFor(t), ch.Name); err != nil || len(h) != 0 {
		t.Fatalf("History after the loss = %v, %v", h, err)
	}
}

func testDPCursors(t *testing.T, s DataPlaneSuite) {
	d := s.New(t, DataPlaneOptions{})
	if c, err := d.LoadCursor(ctxFor(t), "none"); err != nil || c != nil {
		t.Fatalf("LoadCursor of a cursor never saved = %q, %v; want nil, nil", c, err)
	}
	buf := []byte("5.a-1_b")
	if err := d.SaveCursor(ctxFor(t), "conn", buf, time.Minute); err != nil {
		t.Fatalf("SaveCursor: %v", err)
	}
	copy(buf, "XXXXXXX") // the caller reuses its buffer
	if err := d.SaveCursor(ctxFor(t), "brief", []byte("1"), 100*time.Millisecond); err != nil {
		t.Fatalf("SaveCursor: %v", err)
	}
	if err := d.SaveCursor(ctxFor(t), "bad", []byte("1"), 0); err == nil {
		t.Fatal("SaveCursor with ttl 0: no error")
	}
	c, err := d.LoadCursor(ctxFor(t), "conn")
	if err != nil || string(c) != "5.a-1_b" {
		t.Fatalf("LoadCursor = %q, %v; want the saved cursor", c, err)
	}
	if err := d.SaveCursor(ctxFor(t), "conn", []byte("6"), time.Minute); err != nil {
		t.Fatalf("SaveCursor again: %v", err)
	}
	if c, err := d.LoadCursor(ctxFor(t), "conn"); err != nil || string(c) != "6" {
		t.Fatalf("LoadCursor after a second save = %q, %v; want 6", c, err)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := d.LoadCursor(ctxFor(t), "brief")
		if err != nil {
			t.Fatalf("LoadCursor: %v", err)
		}
		if c == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a cursor saved for 100 ms is still there after %v", waitTimeout)
		}
		time.Sleep(10 * pollEvery)
	}
}
