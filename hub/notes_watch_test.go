package hub

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A device hears every change of the notes as it happens: one event per
// new revision (none for a save that changes nothing), on the note's own
// subject also for a name with spaces and accents, and one when the
// owner deletes a note's key.
func TestNotesWatch_Events(t *testing.T) {
	h := startHub(t)
	phoneDir := t.TempDir()
	if _, err := trust.Pair(ctxT(t), h.LocalURL(), h.add(t, "phone", "device"), phoneDir); err != nil {
		t.Fatalf("pair: %v", err)
	}
	phone, err := connect(t, phoneDir)
	if err != nil {
		t.Fatal(err)
	}
	const odd = "Shopping list é"
	all := make(chan *nats.Msg, 64)
	one := make(chan *nats.Msg, 64)
	for subj, ch := range map[string]chan *nats.Msg{notes.EventSubjectAll: all, notes.EventSubject(odd): one} {
		if _, err := phone.ChanSubscribe(subj, ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := phone.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := notes.EventSubject(odd), "dpc.event.notes.Shopping=20list=20=C3=A9"; got != want {
		t.Fatalf("subject of %q = %s, want %s", odd, got, want)
	}

	owner, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	hub := node(t, owner).Lookup("hub")
	save := func(name, content string, base, want uint64) {
		t.Helper()
		var rev uint64
		if err := hub.Call(ctxT(t), "save", omq.Args(name, content, base), &rev); err != nil || rev != want {
			t.Fatalf("save %q on %d = %d, %v; want %d", name, base, rev, err, want)
		}
	}
	next := func(ch chan *nats.Msg) (string, notes.Event) {
		t.Helper()
		select {
		case m := <-ch:
			var ev notes.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatalf("event %s: %v", m.Data, err)
			}
			return m.Subject, ev
		case <-time.After(20 * time.Second):
			t.Fatal("no event")
		}
		return "", notes.Event{}
	}
	expect := func(ch chan *nats.Msg, name string, rev uint64, deleted bool) notes.Event {
		t.Helper()
		subj, ev := next(ch)
		if subj != notes.EventSubject(name) || ev.Name != name || ev.Revision != rev || ev.Deleted != deleted ||
			ev.Time.IsZero() || ev.Hub == "" {
			t.Fatalf("event on %s: %+v; want %q revision %d deleted %v", subj, ev, name, rev, deleted)
		}
		return ev
	}

	save("todo", "milk\n", 0, 1)
	if ev := expect(all, "todo", 1, false); ev.Size != 5 {
		t.Fatalf("event of revision 1: size %d, want 5", ev.Size)
	}
	save("todo", "milk\n", 1, 1) // unchanged: no revision, no event
	save("todo", "milk\neggs\n", 1, 2)
	expect(all, "todo", 2, false) // not a second event of revision 1
	var merged uint64
	if err := hub.Call(ctxT(t), "merge", omq.Args("todo", "bread\nmilk\n", 1), &merged); err != nil || merged != 3 {
		t.Fatalf("merge = %d, %v; want revision 3", merged, err)
	}
	expect(all, "todo", 3, false)

	save(odd, "apples\n", 0, 1)
	expect(all, odd, 1, false)
	expect(one, odd, 1, false)

	js, err := jetstream.New(owner)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctxT(t), "DPC_NOTES")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctxT(t), notes.SubjectToken(odd)); err != nil {
		t.Fatal(err)
	}
	expect(all, odd, 0, true)
	expect(one, odd, 0, true)
	save("todo", "bread\nmilk\ncheese\n", 3, 4)
	expect(all, "todo", 4, false)
	select {
	case m := <-one:
		t.Fatalf("the subscriber of %q heard of another note: %s", odd, m.Data)
	default:
	}
}

// In a cluster every hub publishes every change, so a subscriber hears a
// save once per hub, the same (name, revision) each time; with a hub
// gone, the others still tell the next save.
func TestNotesWatch_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-hub cluster")
	}
	hubs, _, profile := startCluster(t, 3)
	through := func(h *Hub) *nats.Conn { return connectThrough(t, h, profile) }
	watcher := through(hubs[2])
	events := make(chan *nats.Msg, 64)
	if _, err := watcher.ChanSubscribe(notes.EventSubject("plan.txt"), events); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	// from waits for one event of revision rev from each hub named.
	from := func(rev uint64, hubNames ...string) {
		t.Helper()
		want := map[string]bool{}
		for _, n := range hubNames {
			want[n] = true
		}
		for len(want) > 0 {
			select {
			case m := <-events:
				var ev notes.Event
				if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Name != "plan.txt" || ev.Revision != rev {
					t.Fatalf("event %s (%v); want plan.txt revision %d", m.Data, err, rev)
				}
				if !want[ev.Hub] {
					t.Fatalf("event %s: from %q again, or from a hub not expected (want %v)", m.Data, ev.Hub, hubNames)
				}
				delete(want, ev.Hub)
			case <-time.After(20 * time.Second):
				t.Fatalf("no event of revision %d from %v", rev, want)
			}
		}
	}
	ctx := ctxT(t)
	var rev uint64
	if err := node(t, through(hubs[0])).Lookup("hub").Call(ctx, "save", omq.Args("plan.txt", "one", 0), &rev, omq.Timeout(10*time.Second)); err != nil {
		t.Fatalf("save through hub 0: %v", err)
	}
	from(1, "hub0", "hub1", "hub2")
	n1 := node(t, through(hubs[1]))
	hubs[0].Close(context.Background())
	if err := n1.Lookup("hub").Call(ctx, "save", omq.Args("plan.txt", "two", rev), &rev, omq.Timeout(10*time.Second), omq.Idempotent()); err != nil {
		t.Fatalf("save through hub 1 with hub 0 gone: %v", err)
	}
	from(2, "hub1", "hub2")
}
