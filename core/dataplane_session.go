package core

import "strconv"

// handedLocked moves the cursor's positions through the queue's frames
// [from, to) that Next just handed over (to the queue's positions once
// every queued frame is handed over: entries skipped since count too),
// and adds the resume cursor to the last object of the list in dst as
// "cursor":"<text>". Caller holds s.conn.mu.
func (s *Session) handedLocked(dst []byte, d *connDP, from, to int) []byte {
	c := s.conn
	for i := from; i < to; i++ {
		if p := c.queue.at(i).frame.pos; p.Epoch != 0 {
			d.spos = setPos(d.spos, p)
		}
	}
	if s.cursor == c.nextSeq-1 {
		d.spos = append(d.spos[:0], d.qpos...)
	}
	if len(dst) == 0 || dst[len(dst)-1] != '}' {
		return dst
	}
	dst = append(dst[:len(dst)-1], `,"cursor":"`...)
	dst = appendCursor(dst, s.cursor, d.spos)
	return append(dst, `"}`...)
}

// appendCursor appends Cursor{seq, pos}.String() without allocating.
func appendCursor(dst []byte, seq uint64, pos []Pos) []byte {
	dst = strconv.AppendUint(dst, seq, 10)
	for _, p := range pos {
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(p.Partition), 10)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, uint64(p.Epoch), 10)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, p.N, 10)
	}
	return dst
}

// rewindLocked moves the cursor's positions back before the first frame
// after seq of each partition still in the queue, for Session.Rewind:
// the frames after seq count as not handed over. Caller holds Conn.mu.
func (d *connDP) rewindLocked(q *ring, seq uint64) {
	seen := map[int]bool{}
	for i := range q.len() {
		e := q.at(i)
		p := e.frame.pos
		if e.seq <= seq || p.Epoch == 0 || seen[p.Partition] {
			continue
		}
		seen[p.Partition] = true
		if cur, ok := posAt(d.spos, p.Partition); !ok || cur.Epoch != p.Epoch || cur.N >= p.N {
			d.spos = setPos(d.spos, Pos{Partition: p.Partition, Epoch: p.Epoch, N: p.N - 1})
		}
	}
}
