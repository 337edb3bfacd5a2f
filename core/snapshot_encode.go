package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// encode writes the snapshot as JSON (the same document json.Marshal
// makes of it, with [] for an empty list) into a buffer of its own, one
// element at a time.
//
// Not one json.Marshal call: encoding/json keeps the buffer of every call
// in a package-wide pool, whatever its size, and the next encoding anywhere
// in the process may take it and put it back. A whole snapshot in one call
// grew a buffer of about twice the state, which then stayed alive for as
// long as other encodings kept picking it up (a clustered node encodes
// every change it replicates): found by the Redis soak, 12 MB kept on a
// 6.8 MB state. Element by element, what the pool keeps is bounded by the
// largest element (a message, a user, a channel, a connection).
func (st *snapState) encode() ([]byte, error) {
	var b bytes.Buffer
	st.encodeHead(&b)
	if err := encodeList(&b, "frames", st.Frames); err != nil {
		return nil, err
	}
	if err := encodeList(&b, "users", st.Users); err != nil {
		return nil, err
	}
	if err := encodeList(&b, "channels", st.Channels); err != nil {
		return nil, err
	}
	if err := encodeList(&b, "conns", st.Conns); err != nil {
		return nil, err
	}
	if err := st.encodeTail(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodeHead opens the document with its version.
func (st *snapState) encodeHead(b *bytes.Buffer) {
	b.WriteString(`{"version":`)
	b.WriteString(strconv.Itoa(st.Version))
}

// encodeTail writes the counters and the maps, and closes the document.
func (st *snapState) encodeTail(b *bytes.Buffer) error {
	for _, kv := range []struct {
		key string
		n   int64
	}{{"total_messages", st.Messages}, {"total_unique_messages", st.Unique},
		{"collected_conns", st.Collected}, {"collected_users", st.Forgotten}} {
		b.WriteString(`,"` + kv.key + `":`)
		b.WriteString(strconv.FormatInt(kv.n, 10))
	}
	for _, kv := range []struct {
		key string
		m   map[string]int64
	}{{"voided", st.Voided}, {"leases", st.Leases}} {
		if len(kv.m) == 0 {
			continue
		}
		v, err := json.Marshal(kv.m) // one small map
		if err != nil {
			return fmt.Errorf("%s: %w", kv.key, err)
		}
		b.WriteString(`,"` + kv.key + `":`)
		b.Write(v)
	}
	b.WriteByte('}')
	return nil
}

// encodeList writes ,"key":[item,item,...] with each item encoded on its
// own.
func encodeList[T any](b *bytes.Buffer, key string, items []T) error {
	b.WriteString(`,"` + key + `":[`)
	for i := range items {
		if err := encodeItem(b, key, i, &items[i]); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}

// encodeItem writes item i of the list key, encoded on its own (preceded
// by a comma unless it is the first).
func encodeItem[T any](b *bytes.Buffer, key string, i int, item *T) error {
	if i > 0 {
		b.WriteByte(',')
	}
	v, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("%s[%d]: %w", key, i, err)
	}
	b.Write(v)
	return nil
}
