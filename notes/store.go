package notes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Note is one revision of a note.
type Note struct {
	Name     string
	Revision uint64
	Content  []byte
	Modified time.Time
}

// NoteInfo describes one revision of a note without its content.
type NoteInfo struct {
	Name     string
	Revision uint64
	Size     int64 // bytes of content
	Modified time.Time
}

// MergeResult is what Merge saved, or what MergePreview would merge.
type MergeResult struct {
	// Revision is, from Merge, the note's revision holding Content: a new
	// one, or the latest when merging changed nothing. From MergePreview,
	// the revision the edit was merged with.
	Revision uint64
	// Conflicts are the regions both sides changed differently, each
	// marked in Content. Always none from Merge: a merge with conflicts
	// is not saved but returned as a *MergeConflictError.
	Conflicts []ConflictRegion
	Content   []byte
}

// maxMergeAttempts bounds how often Merge re-merges when other saves keep
// landing between its read and its write.
const maxMergeAttempts = 8

// Store keeps notes in JetStream. It is safe for concurrent use, also by
// several Stores (on several hubs) sharing the same buckets: every write is
// a compare-and-set on the note's metadata.
type Store struct {
	js  jetstream.JetStream // for SaveStream's bounded put (put.go)
	kv  jetstream.KeyValue
	obj jetstream.ObjectStore
	cfg config
}

// record is a note's metadata: the value of its KV key.
type record struct {
	Name string `json:"name"`
	// Revisions lists the kept revisions, oldest first; the last is the
	// latest. Never empty.
	Revisions []revision `json:"revisions"`
}

type revision struct {
	Revision uint64    `json:"revision"`
	Object   string    `json:"object"` // the content's name in the object store
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

func (r *record) latest() revision { return r.Revisions[len(r.Revisions)-1] }

func (r revision) info(name string) NoteInfo {
	return NoteInfo{Name: name, Revision: r.Revision, Size: r.Size, Modified: r.Modified}
}

// Open creates the Store's buckets, or opens them if they exist (then as
// they are: a changed Replicas option does not rewrite them). The caller
// owns js and its connection.
func Open(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// Open what exists as it is; create only what does not.
	kv, err := js.KeyValue(ctx, cfg.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      cfg.bucket,
			Description: "DPC notes: each note's kept revisions",
			History:     1, // the value itself lists the revisions
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("notes: open key-value bucket %s: %w", cfg.bucket, err)
	}
	objBucket := cfg.bucket + "_CONTENT"
	obj, err := js.ObjectStore(ctx, objBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obj, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      objBucket,
			Description: "DPC notes: content of each kept revision",
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.replicas,
			Compression: cfg.compress, // off by default: see Compress
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			obj, err = js.ObjectStore(ctx, objBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("notes: open object store %s: %w", objBucket, err)
	}
	return &Store{js: js, kv: kv, obj: obj, cfg: cfg}, nil
}

// Save stores content as a new revision of the note and returns its number.
// baseRevision is the revision the content was edited from: 0 creates the
// note (a *ConflictError if it exists). If it is not the latest revision,
// Save refuses with a *ConflictError naming the latest, so a device never
// overwrites a revision it has not seen; Merge is the way forward then.
// Of concurrent saves from the same base exactly one succeeds. Content
// identical to the latest revision's, saved on top of it, makes no new
// revision: Save returns baseRevision, so a result equal to baseRevision
// means "unchanged". Content larger than MaxNoteSize is ErrTooLarge, and
// creating a note beyond MaxNotes ErrTooMany; nothing is written then.
func (s *Store) Save(ctx context.Context, name string, content []byte, baseRevision uint64) (uint64, error) {
	if err := ValidateName(name); err != nil {
		return 0, err
	}
	return s.save(ctx, name, content, baseRevision)
}

func (s *Store) save(ctx context.Context, name string, content []byte, base uint64) (uint64, error) {
	if err := s.checkSize(name, content); err != nil {
		return 0, err
	}
	key := keyFor(name)
	rec, kvRev, latest, err := s.loadForSave(ctx, key, name, base)
	if err != nil {
		return 0, err
	}
	if rec != nil {
		if same, err := s.sameAsLatest(ctx, name, rec, content); err != nil {
			return 0, err
		} else if same {
			return latest, nil
		}
	}

	// The content goes in first, under a name no other attempt uses, so that
	// metadata never points at missing content and a losing attempt cannot
	// overwrite the winner's.
	next := latest + 1
	object := contentObject(key, next)
	if _, err := s.obj.Put(ctx, jetstream.ObjectMeta{Name: object}, bytes.NewReader(content)); err != nil {
		return 0, fmt.Errorf("notes: save %q: store content: %w", name, err)
	}
	return s.commit(ctx, name, key, rec, kvRev, base, next, object, int64(len(content)))
}

// contentObject is a fresh object name for revision rev of the note
// stored under key.
func contentObject(key string, rev uint64) string {
	return fmt.Sprintf("%s/%d/%s", key, rev, nuid.Next())
}

// loadForSave reads a note's metadata for a save based on revision base,
// and refuses the save if base is not the latest (a *ConflictError), if
// there is no such note to base it on, or if a new note would be one too
// many.
func (s *Store) loadForSave(ctx context.Context, key, name string, base uint64) (rec *record, kvRev, latest uint64, err error) {
	rec, kvRev, err = s.load(ctx, key, name)
	if err != nil {
		return nil, 0, 0, err
	}
	if rec != nil {
		latest = rec.latest().Revision
	} else if base != 0 {
		return nil, 0, 0, fmt.Errorf("%w: no note named %q (the save was based on revision %d)", ErrNotFound, name, base)
	}
	if latest != base {
		return nil, 0, 0, &ConflictError{Name: name, Base: base, Latest: latest}
	}
	if rec == nil {
		if err := s.checkRoom(ctx, name); err != nil {
			return nil, 0, 0, err
		}
	}
	return rec, kvRev, latest, nil
}

// commit records content already stored as object as revision next of the
// note, with a compare-and-set on the metadata read (kvRev); it deletes
// the object if another save got there first, and the content of
// revisions that fall out of the history.
func (s *Store) commit(ctx context.Context, name, key string, rec *record, kvRev, base, next uint64, object string, size int64) (uint64, error) {
	nrec := record{Name: name}
	if rec != nil {
		nrec.Revisions = slices.Clone(rec.Revisions)
	}
	nrec.Revisions = append(nrec.Revisions, revision{
		Revision: next,
		Object:   object,
		Size:     size,
		Modified: time.Now().UTC(),
	})
	var dropped []revision
	if extra := len(nrec.Revisions) - s.cfg.maxHistory; extra > 0 {
		dropped = nrec.Revisions[:extra]
		nrec.Revisions = nrec.Revisions[extra:]
	}
	data, err := json.Marshal(nrec)
	if err != nil {
		return 0, fmt.Errorf("notes: save %q: %w", name, err)
	}

	// The compare-and-set: on the key's KV revision, which moves with every
	// write, so two saves that read the same metadata cannot both land.
	if rec == nil {
		_, err = s.kv.Create(ctx, key, data)
	} else {
		_, err = s.kv.Update(ctx, key, data, kvRev)
	}
	if err != nil {
		s.deleteContent(ctx, name, object)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			ce := &ConflictError{Name: name, Base: base}
			if now, _, lerr := s.load(ctx, key, name); lerr == nil && now != nil {
				ce.Latest = now.latest().Revision
			}
			return 0, ce
		}
		return 0, fmt.Errorf("notes: save %q: store metadata: %w", name, err)
	}
	for _, d := range dropped {
		s.deleteContent(ctx, name, d.Object)
	}
	return next, nil
}

// sameAsLatest reports whether content is the latest revision's. Only a
// latest of the same size is read back to compare.
func (s *Store) sameAsLatest(ctx context.Context, name string, rec *record, content []byte) (bool, error) {
	r := rec.latest()
	if r.Size != int64(len(content)) {
		return false, nil
	}
	latest, err := s.obj.GetBytes(ctx, r.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		// A save since our read dropped it: ours will lose the
		// compare-and-set and say so.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notes: save %q: read revision %d: %w", name, r.Revision, err)
	}
	return bytes.Equal(latest, content), nil
}

// checkRoom refuses to create a note when the Store holds MaxNotes. The KV
// bucket keeps one value per key (History 1), so its value count is the
// number of notes (and of anything else written into the bucket).
func (s *Store) checkRoom(ctx context.Context, name string) error {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("notes: save %q: count notes: %w", name, err)
	}
	if n := st.Values(); n >= uint64(s.cfg.maxNotes) {
		return fmt.Errorf("%w: cannot create note %q: the store holds %d notes, the limit is %d", ErrTooMany, name, n, s.cfg.maxNotes)
	}
	return nil
}

// deleteContent removes content nothing refers to any more. A failure only
// leaves garbage behind, so it is logged, not returned; it runs even when
// ctx is done, since the save it tidies up after has already been decided.
func (s *Store) deleteContent(ctx context.Context, name, object string) {
	if err := s.obj.Delete(context.WithoutCancel(ctx), object); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		s.cfg.logger.Warn("notes: could not delete unreferenced content", "note", name, "object", object, "err", err)
	}
}

// load reads a note's metadata and the KV revision to compare-and-set
// against. A missing note is rec == nil and no error.
func (s *Store) load(ctx context.Context, key, name string) (rec *record, kvRev uint64, err error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("notes: read %q: %w", name, err)
	}
	rec, err = decodeRecord(key, e.Value())
	if err != nil {
		return nil, 0, fmt.Errorf("notes: read %q: %w", name, err)
	}
	return rec, e.Revision(), nil
}

// decodeRecord decodes the value of key, checking that it is a note's
// metadata stored under that note's key: anyone with access to the bucket
// may have written anything there.
func decodeRecord(key string, data []byte) (*record, error) {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("bad metadata: %w", err)
	}
	if len(rec.Revisions) == 0 {
		return nil, errors.New("bad metadata: no revisions")
	}
	if err := ValidateName(rec.Name); err != nil {
		return nil, fmt.Errorf("bad metadata: %w", err)
	}
	if k := keyFor(rec.Name); k != key {
		return nil, fmt.Errorf("bad metadata: note %q belongs under key %s", rec.Name, k)
	}
	return &rec, nil
}

// Get returns a revision of the note; revision 0 is the latest. An unknown
// name, or a revision never saved or no longer kept, is ErrNotFound.
func (s *Store) Get(ctx context.Context, name string, revision uint64) (Note, error) {
	if err := ValidateName(name); err != nil {
		return Note{}, err
	}
	rec, _, err := s.load(ctx, keyFor(name), name)
	if err != nil {
		return Note{}, err
	}
	return s.get(ctx, name, rec, revision)
}

// findRevision is revision rev of the note rec describes (0: the
// latest), or why there is none.
func findRevision(name string, rec *record, rev uint64) (revision, error) {
	if rec == nil {
		return revision{}, fmt.Errorf("%w: no note named %q", ErrNotFound, name)
	}
	r := rec.latest()
	if rev != 0 {
		i := slices.IndexFunc(rec.Revisions, func(r revision) bool { return r.Revision == rev })
		switch {
		case i >= 0:
			r = rec.Revisions[i]
		case rev > r.Revision:
			return revision{}, fmt.Errorf("%w: note %q has no revision %d (the latest is %d)", ErrNotFound, name, rev, r.Revision)
		default:
			return revision{}, fmt.Errorf("%w: revision %d of note %q is no longer kept (the oldest kept is %d)",
				ErrNotFound, rev, name, rec.Revisions[0].Revision)
		}
	}
	return r, nil
}

func (s *Store) get(ctx context.Context, name string, rec *record, rev uint64) (Note, error) {
	r, err := findRevision(name, rec, rev)
	if err != nil {
		return Note{}, err
	}
	content, err := s.obj.GetBytes(ctx, r.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		// A save dropped it from the history after we read the metadata.
		return Note{}, fmt.Errorf("%w: revision %d of note %q is no longer kept", ErrNotFound, r.Revision, name)
	}
	if err != nil {
		return Note{}, fmt.Errorf("notes: read %q revision %d: %w", name, r.Revision, err)
	}
	return Note{Name: name, Revision: r.Revision, Content: content, Modified: r.Modified}, nil
}

// Merge saves a device's edit that may be based on an older revision.
// content is the device's text, edited from baseRevision. If that is the
// latest revision, Merge is a plain Save. Otherwise it merges line by line
// (Merge3 with base = revision baseRevision, ours = the latest, theirs =
// content) and, when the two sides' changes merge cleanly, saves the
// result as a new revision. A result identical to the latest revision is
// not saved again; Merge then returns the latest revision.
//
// Where both sides changed the same lines differently, Merge saves
// nothing: it returns a *MergeConflictError holding the merged text with
// each conflict marked,
//
//	<<<<<<< latest (revision 7)
//	…
//	=======
//	…
//	>>>>>>> yours (edited from revision 5)
//
// for the person to resolve and Save with base revision 7. So text with
// conflict markers never becomes everyone's latest revision unless a
// person saves it.
//
// baseRevision 0 with an existing note merges against an empty base (both
// sides created the note). If other saves land while Merge works, it
// merges again against the newer latest. A base no longer kept is
// ErrNotFound. content, or a merged result, larger than MaxNoteSize is
// ErrTooLarge, and creating a note beyond MaxNotes ErrTooMany; nothing is
// written then.
func (s *Store) Merge(ctx context.Context, name string, content []byte, baseRevision uint64) (MergeResult, error) {
	if err := ValidateName(name); err != nil {
		return MergeResult{}, err
	}
	if err := s.checkSize(name, content); err != nil {
		return MergeResult{}, err
	}
	key := keyFor(name)
	var base *Note
	for attempt := 1; ; attempt++ {
		rec, _, err := s.load(ctx, key, name)
		if err != nil {
			return MergeResult{}, err
		}
		if rec == nil && baseRevision != 0 {
			return MergeResult{}, fmt.Errorf("%w: no note named %q (the merge was based on revision %d)", ErrNotFound, name, baseRevision)
		}
		var latestRev uint64
		if rec != nil {
			latestRev = rec.latest().Revision
		}
		merged := content
		if rec != nil && latestRev != baseRevision {
			if base == nil {
				if base, err = s.mergeBase(ctx, name, rec, baseRevision); err != nil {
					return MergeResult{}, err
				}
			}
			latest, err := s.get(ctx, name, rec, 0)
			if errors.Is(err, ErrNotFound) && attempt < maxMergeAttempts {
				continue // saves since our read dropped it: read again
			}
			if err != nil {
				return MergeResult{}, fmt.Errorf("notes: merge %q: latest: %w", name, err)
			}
			var conflicts []ConflictRegion
			merged, conflicts = merge3(base.Content, latest.Content, content, mergeLabels(latest.Revision, true, baseRevision))
			if len(conflicts) > 0 {
				return MergeResult{}, &MergeConflictError{
					Name: name, Base: baseRevision, Latest: latest.Revision, Conflicts: conflicts, Content: merged,
				}
			}
			if bytes.Equal(merged, latest.Content) {
				return MergeResult{Revision: latest.Revision, Content: merged}, nil
			}
			if len(merged) > s.cfg.maxSize {
				return MergeResult{}, fmt.Errorf("%w: merging into note %q gives %d bytes, more than the %d-byte limit",
					ErrTooLarge, name, len(merged), s.cfg.maxSize)
			}
		}
		rev, err := s.save(ctx, name, merged, latestRev)
		if errors.Is(err, ErrConflict) && attempt < maxMergeAttempts {
			continue
		}
		if err != nil {
			return MergeResult{}, err
		}
		return MergeResult{Revision: rev, Content: merged}, nil
	}
}

// MergePreview merges content, edited from baseRevision, with the note's
// revision revision (0: the latest) as Merge would, and saves nothing. The
// result is the merged text with its conflicts marked, and the revision it
// was merged with: the base to Save a resolution on. It is how a client
// that was told of a merge conflict over the wire, where only the error's
// description travels, fetches the text to resolve. With baseRevision
// equal to the revision merged with, the result is content itself.
// Unknown notes and revisions are ErrNotFound, content larger than
// MaxNoteSize ErrTooLarge.
func (s *Store) MergePreview(ctx context.Context, name string, content []byte, baseRevision, revision uint64) (MergeResult, error) {
	if err := ValidateName(name); err != nil {
		return MergeResult{}, err
	}
	if err := s.checkSize(name, content); err != nil {
		return MergeResult{}, err
	}
	rec, _, err := s.load(ctx, keyFor(name), name)
	if err != nil {
		return MergeResult{}, err
	}
	other, err := s.get(ctx, name, rec, revision)
	if err != nil {
		return MergeResult{}, err
	}
	if other.Revision == baseRevision {
		return MergeResult{Revision: other.Revision, Content: content}, nil
	}
	base, err := s.mergeBase(ctx, name, rec, baseRevision)
	if err != nil {
		return MergeResult{}, err
	}
	merged, conflicts := merge3(base.Content, other.Content, content,
		mergeLabels(other.Revision, other.Revision == rec.latest().Revision, baseRevision))
	return MergeResult{Revision: other.Revision, Conflicts: conflicts, Content: merged}, nil
}

// mergeBase reads the revision an edit was based on; 0 is the empty text
// (the edit created the note).
func (s *Store) mergeBase(ctx context.Context, name string, rec *record, rev uint64) (*Note, error) {
	if rev == 0 {
		return &Note{Name: name}, nil
	}
	b, err := s.get(ctx, name, rec, rev)
	if err != nil {
		return nil, fmt.Errorf("notes: merge %q: base: %w", name, err)
	}
	return &b, nil
}

func (s *Store) checkSize(name string, content []byte) error {
	if len(content) > s.cfg.maxSize {
		return fmt.Errorf("%w: note %q would be %d bytes, more than the %d-byte limit", ErrTooLarge, name, len(content), s.cfg.maxSize)
	}
	return nil
}

// mergeLabels name the two sides of a conflict: the revision merged with
// and the device's edit.
func mergeLabels(rev uint64, latest bool, base uint64) Labels {
	l := Labels{Ours: fmt.Sprintf("revision %d", rev), Theirs: "yours (new)"}
	if latest {
		l.Ours = fmt.Sprintf("latest (revision %d)", rev)
	}
	if base != 0 {
		l.Theirs = fmt.Sprintf("yours (edited from revision %d)", base)
	}
	return l
}

// List describes the latest revision of every note, sorted by name. Entries
// of the key-value bucket that are not a note's metadata under its key
// (written there by something else) are skipped and logged at Debug, so
// that they cannot make List fail for everyone.
func (s *Store) List(ctx context.Context) ([]NoteInfo, error) {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("notes: list: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var infos []NoteInfo
	skipped := 0
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("notes: list: watcher closed")
			}
			if e == nil { // the initial values are all in
				if skipped > 0 {
					s.cfg.logger.Debug("notes: list skipped entries that are not notes", "skipped", skipped, "notes", len(infos))
				}
				slices.SortFunc(infos, func(a, b NoteInfo) int { return strings.Compare(a.Name, b.Name) })
				return infos, nil
			}
			rec, err := decodeRecord(e.Key(), e.Value())
			if err != nil {
				skipped++
				s.cfg.logger.Debug("notes: list: skipping an entry that is not a note", "key", e.Key(), "err", err)
				continue
			}
			infos = append(infos, rec.latest().info(rec.Name))
		case <-ctx.Done():
			return nil, fmt.Errorf("notes: list: %w", ctx.Err())
		}
	}
}

// History describes every kept revision of the note, oldest first.
func (s *Store) History(ctx context.Context, name string) ([]NoteInfo, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	rec, _, err := s.load(ctx, keyFor(name), name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: no note named %q", ErrNotFound, name)
	}
	infos := make([]NoteInfo, len(rec.Revisions))
	for i, r := range rec.Revisions {
		infos[i] = r.info(name)
	}
	return infos, nil
}
