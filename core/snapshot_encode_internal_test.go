package core

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func sampleSnapState(frames int, body string) *snapState {
	st := &snapState{Version: snapshotVersion, Messages: 7, Unique: 3, Collected: 2, Forgotten: 1,
		Voided: map[string]int64{"1-0": 5}, Leases: map[string]int64{"node0": 9}}
	for i := range frames {
		st.Frames = append(st.Frames, snapFrame{Body: json.RawMessage(`{"type":"message","message":"` + body + `"}`), LiveCatchup: i%2 == 0})
	}
	st.Frames = append(st.Frames, snapFrame{Msg: &Message{Kind: KindSend, Channel: "c", UUID: "u-1", PMUsers: []string{"bob"}, Fields: map[string]json.RawMessage{"message": json.RawMessage(`"hi"`)}}})
	st.Users = []snapUser{{Name: "alice", UUID: "u", State: State{"k": json.RawMessage(`1`)}, PublicKeys: []string{"k"}, Frames: []int{0}}}
	st.Channels = []snapChannel{{Name: "c", UUID: "cu", History: []int{0, 1}, Frames: []int{1}}}
	st.Conns = []snapConn{{ID: "id", User: "alice", Channels: []string{"c"}, NextSeq: 3, Sent: 2,
		Queue: []snapEntry{{Seq: 1, Frame: 0, Catchup: true}, {Seq: 2, Frame: 1}}}}
	return st
}

func TestSnapshotEncodingIsMarshalsDocument(t *testing.T) {
	st := sampleSnapState(3, "x")
	got, err := st.encode()
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	_ = json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("encode:\n%s\njson.Marshal:\n%s", got, want)
	}
}

// encoding/json pools its buffers whatever their size: a snapshot encoded
// in one call left a buffer of twice its size that later small encodings
// kept alive (the Redis soak's "node grew" failure).
func TestSnapshotEncodingLeavesNoLargeBufferAlive(t *testing.T) {
	// One P: sync.Pool keeps a buffer in the pool of the P that put it,
	// and a node's many encodings reach every P sooner or later.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	st := sampleSnapState(20000, strings.Repeat("y", 400)) // ~8.6 MB
	live := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := live()
	b, err := st.encode()
	if err != nil {
		t.Fatal(err)
	}
	size := len(b)
	b = nil
	var after uint64
	for range 3 { // a busy node encodes small things all the time
		if _, err := json.Marshal(map[string]int{"small": 1}); err != nil {
			t.Fatal(err)
		}
		after = live()
	}
	runtime.KeepAlive(st)
	if grew := int64(after) - int64(before); grew > 4<<20 {
		t.Fatalf("the heap grew by %d MB after encoding a %d MB snapshot and dropping it", grew>>20, size>>20)
	}
}
