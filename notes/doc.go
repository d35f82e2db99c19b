// Package notes is the storage and logic behind the hub's built-in notes
// functions — save, get, merge, list and history — kept in JetStream, so
// that notes survive hub restarts and, with Replicas, the loss of a server
// in a NATS cluster.
//
// It is the thesis's K-notes application done properly: there, save
// overwrote the server's copy whatever it was. Here every save names the
// revision it was edited from, and a device never overwrites a revision it
// has not seen.
//
// # Using it
//
//	js, _ := jetstream.New(nc)
//	store, err := notes.Open(ctx, js)                  // creates or opens the buckets
//
//	rev, err := store.Save(ctx, "todo", []byte("milk\n"), 0)  // 0: create → revision 1
//	n, err := store.Get(ctx, "todo", 0)                       // 0: the latest
//	rev, err = store.Save(ctx, "todo", edited, n.Revision)    // → revision 2
//
// Saving the latest revision's text again makes no new revision: Save
// returns the base revision it was given.
//
// For a large note, SaveStream takes the text from a reader of known size
// and Open reads a revision back as a reader, neither holding it whole
// (stream.go); merging needs whole texts, and MaxNoteSize bounds every
// note.
//
// A device that edited an older revision gets a *ConflictError from Save
// (errors.Is(err, ErrConflict)) naming the latest revision. It can fetch
// the latest and redo its edit, or hand its text to Merge, which merges it
// line by line with everything saved since (Merge3, the diff3 algorithm)
// and saves the result if the two sides changed different lines:
//
//	res, err := store.Merge(ctx, "todo", edited, 1)
//	// res.Revision, res.Content
//
// Where both sides changed the same lines, Merge saves nothing — text with
// conflict markers never becomes everyone's latest revision by itself —
// and returns a *MergeConflictError (errors.Is(err, ErrMergeConflict))
// with the merged text, each conflict between markers, and the revision
// it was merged with. A person resolves the conflicts and Saves the text
// with that revision as base, as after a conflicting git merge.
// MergePreview gives the same text without saving anything (for a client
// that got only the error's message over the wire), and FindConflicts
// finds markers left in a text, so that a client can refuse to save them.
//
// List describes every note's latest revision, History every kept revision
// of one note. HistoryLine and ParseHistoryLine are the form of a
// revision's description in the hub's history function.
//
// Watch reports each change of the bucket as an Event, in the bucket's
// order, from a revision LastChange gives; the hub publishes them on
// EventSubject(name) (dpc.event.notes.<SubjectToken(name)>) for devices
// to hear (event.go, watch.go).
//
// # Revisions
//
// Each note counts its own revisions 1, 2, 3, …: the number a device holds
// is stable (it never changes meaning, also across restarts and replicas)
// and comparable (higher is newer). The numbers are not JetStream's KV
// revisions, which count over the whole bucket; they are kept in the note's
// metadata and advance only through a compare-and-set, so they have no gaps
// and no two saves get the same one.
//
// # Storage
//
// Two buckets (names from the Bucket option):
//
//   - A key-value bucket DPC_NOTES with one key per note and History 1.
//     The value is JSON: the note's name and its kept revisions, oldest
//     first, each with its number, size, modification time and the name of
//     its content in the object store. The key is the name with every byte
//     outside [-_A-Za-z0-9] written as =XX ("Shopping list" →
//     "Shopping=20list").
//   - An object store DPC_NOTES_CONTENT with one object per revision,
//     named "<key>/<revision>/<unique id>", compressed (S2) only with the
//     Compress option.
//
// Content lives in the object store because a note may be larger than a
// NATS message (1 MiB by default): the object store splits it into chunks
// and checks a digest on reading it back. Metadata lives in one small KV
// value per note because that makes every save a single compare-and-set
// (KV Create for a new note, Update with the expected KV revision
// otherwise): of two saves that read the same metadata, exactly one lands
// and the other becomes a *ConflictError. The history is in that value
// rather than in the KV bucket's own history because KV history is capped
// at 64 and drops old entries silently, while the Store must know which
// revisions fall out so that it can delete their content — and it lets
// MaxHistory go beyond 64.
//
// A save writes the content first, under an object name no other save
// uses, then the metadata. So metadata never points at missing content,
// and a save that loses the compare-and-set cannot overwrite the winner's
// content; the loser deletes its object. After the metadata lands, the
// content of revisions that fell out of the history is deleted. A process
// that dies between the two writes leaves one unreferenced object; nothing
// ever reads it.
//
// # Names
//
// See ValidateName: letters and digits of any script, spaces, '-', '_' and
// '.', starting with a letter or digit, at most MaxNameLen bytes. No '/',
// no "..", no control characters.
//
// # Limits
//
// A note's content is at most MaxNoteSize bytes (DefaultMaxNoteSize, 8 MiB)
// and a Store holds at most MaxNotes notes (DefaultMaxNotes, 10000). Save
// and Merge check both before writing anything. List skips (and logs at
// Debug) entries of the key-value bucket that are not a note's metadata
// under its key, so that junk written into the bucket by something else
// cannot make it fail.
//
// # Errors
//
// ErrNotFound (unknown name, revision never saved or no longer kept),
// ErrConflict / *ConflictError (stale base), ErrMergeConflict /
// *MergeConflictError (a merge with conflicts), ErrInvalidName, ErrTooLarge
// (content over MaxNoteSize), ErrTooMany (a new note beyond MaxNotes) and
// ErrInvalidOption, wrapped with the details; JetStream failures are
// wrapped with what the Store was doing.
package notes
