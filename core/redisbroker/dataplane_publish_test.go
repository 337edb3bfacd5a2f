package redisbroker_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/coretest"
	"github.com/channelstream-go/channelstream-go/core/redisbroker/redistest"
)

// Concurrent Publish calls share batches (dataplane_publish.go): each call
// still gets the positions of its own publications, and each stream holds
// every publication once, at the position its call was given.
func TestDataPlanePublishBatchesKeepPositions(t *testing.T) {
	const callers, calls = 8, 40
	srv := redistest.Start(t)
	d := newDataPlaneAt(t, srv.URL(), coretest.DataPlaneOptions{})
	streams := make([]core.Stream, 10)
	for i := range streams {
		streams[i] = core.Stream{Kind: core.StreamKind(i % 2), Name: fmt.Sprintf("s%d", i)}
	}
	var mu sync.Mutex
	at := map[string]core.Pos{} // data -> position Publish gave
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for w := range callers {
		wg.Go(func() {
			for i := range calls {
				// 1 to 3 publications, some to one partition, some not.
				var pubs []core.Publication
				for j := range 1 + (w+i)%3 {
					st := streams[(w*7+i*3+j)%len(streams)]
					pubs = append(pubs, core.Publication{Stream: st, Data: fmt.Appendf(nil, "%s/%d-%d-%d", st.Name, w, i, j)})
				}
				pos, err := d.Publish(ctxFor(t), pubs)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for j, p := range pubs {
					at[string(p.Data)] = pos[j]
					for k := range j {
						same := d.Partition(pubs[k].Stream) == d.Partition(p.Stream)
						if same && pos[k].N >= pos[j].N {
							errs <- fmt.Errorf("call %d/%d: publication %d at %v, %d at %v", w, i, k, pos[k], j, pos[j])
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	read := 0
	for _, st := range streams {
		res, err := d.Read(ctxFor(t), st, core.Pos{}, 0)
		if err != nil {
			t.Fatalf("Read %v: %v", st, err)
		}
		for _, e := range res.Entries {
			read++
			want, ok := at[string(e.Data)]
			if !ok || want != e.Pos {
				t.Fatalf("%v holds %q at %v; Publish gave %v (known: %v)", st, e.Data, e.Pos, want, ok)
			}
		}
	}
	if read != len(at) {
		t.Fatalf("streams hold %d entries, %d were published", read, len(at))
	}
}
