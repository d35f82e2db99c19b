package hub

import (
	"context"
	"encoding/json"

	"github.com/dpc-project/dpc/notes"
)

// Live notes: the hub watches its notes bucket and publishes each change
// as a small notes.Event on dpc.event.notes.<note's token>, which devices
// and the owner may subscribe to (a web page from the browser over NATS
// WebSocket, dpc-cli notes watch). A push rather than a long poll: a page
// learns of a save at once without holding a request open per page.
//
// The watch is on the bucket, not in the save functions, so that every
// change is told whoever made it: a save through any hub of a cluster, a
// merge, a streamed save, a key the owner deleted. Each hub of a cluster
// watches and publishes, so a subscriber hears each change once per hub
// and drops the repeats by (name, revision); nothing decides which hub
// publishes, so none is missed while one is down. Publishing is a core
// NATS publish: a subscriber that cannot keep up is the server's slow
// consumer, cut off there, and costs the hub nothing. A subscriber that
// was disconnected (its hub restarting) re-subscribes and compares the
// revisions it knows with the notes' list: events are not kept.

// publishNoteChanges publishes the change events of store after the
// bucket's revision after until ctx is done.
func (h *Hub) publishNoteChanges(ctx context.Context, store *notes.Store, after uint64) {
	hubName := h.srv.Config().Name
	_ = store.Watch(ctx, after, func(ev notes.Event) {
		ev.Hub = hubName
		data, err := json.Marshal(ev)
		if err != nil {
			h.log.Warn("notes: encoding a change event", "note", ev.Name, "err", err)
			return
		}
		if err := h.nc.Publish(notes.EventSubject(ev.Name), data); err != nil {
			// The connection is closing: the hub is stopping.
			h.log.Debug("notes: publishing a change event", "note", ev.Name, "err", err)
		}
	})
}
