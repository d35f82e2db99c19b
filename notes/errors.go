package notes

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is: the errors the Store returns wrap
// them with the note's name and revision.
var (
	// ErrNotFound: no note of that name, or the revision asked for is not
	// (or no longer) kept.
	ErrNotFound = errors.New("notes: not found")
	// ErrConflict: a save based on a revision that is not the latest. The
	// error is a *ConflictError, which says which revision is.
	ErrConflict = errors.New("notes: conflict")
	// ErrInvalidName: the name is not one a note may have; the error says
	// why.
	ErrInvalidName = errors.New("notes: invalid name")
	// ErrInvalidOption: an Option given to Open is out of range.
	ErrInvalidOption = errors.New("notes: invalid option")
	// ErrTooLarge: the content (or a merge's result) is larger than
	// MaxNoteSize; the error says both sizes. Nothing was written.
	ErrTooLarge = errors.New("notes: too large")
	// ErrTooMany: the save would create a note, and the Store holds
	// MaxNotes already. Nothing was written.
	ErrTooMany = errors.New("notes: too many notes")
	// ErrMergeConflict: Merge found lines that both the device and the
	// latest revision changed, differently. Nothing was saved. The error
	// is a *MergeConflictError, which holds the merged text with conflict
	// markers for the person to resolve.
	ErrMergeConflict = errors.New("notes: merge conflict")
)

// ConflictError is returned by Save when the note's latest revision is not
// the one the caller based its content on: another device saved in
// between. Fetch the latest (or call Merge) and try again.
//
// errors.Is(err, ErrConflict) holds for it; errors.As gives the details.
type ConflictError struct {
	Name string
	// Base is the revision the caller based its save on (0 for a create).
	Base uint64
	// Latest is the note's latest revision when the save was refused; 0 if
	// it could not be read after a lost compare-and-set.
	Latest uint64
}

func (e *ConflictError) Error() string {
	if e.Base == 0 {
		return fmt.Sprintf("notes: conflict: note %q already exists (latest revision %d)", e.Name, e.Latest)
	}
	return fmt.Sprintf("notes: conflict: note %q was saved from revision %d, but the latest is %d", e.Name, e.Base, e.Latest)
}

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// MergeConflictError is returned by Merge when the device's edit and the
// latest revision changed the same lines differently. Merge saves nothing
// then, so that text with conflict markers never becomes the note's latest
// revision: the person resolves the conflicts in Content and saves the
// result with Latest as its base revision.
//
// errors.Is(err, ErrMergeConflict) holds for it; errors.As gives the
// details.
type MergeConflictError struct {
	Name string
	// Base is the revision the device's edit was based on (0: it created
	// the note).
	Base uint64
	// Latest is the revision the edit was merged with: the base of the
	// resolution.
	Latest uint64
	// Conflicts are where the conflicts are in Content.
	Conflicts []ConflictRegion
	// Content is the merged text, each conflict between markers.
	Content []byte
}

func (e *MergeConflictError) Error() string {
	return fmt.Sprintf("notes: merge conflict: merging the edit of note %q (from revision %d) with revision %d gives %s, at %s of the merged text; nothing was saved",
		e.Name, e.Base, e.Latest, countConflicts(len(e.Conflicts)), DescribeRegions(e.Conflicts))
}

// Is makes errors.Is(err, ErrMergeConflict) hold.
func (e *MergeConflictError) Is(target error) bool { return target == ErrMergeConflict }

func countConflicts(n int) string {
	if n == 1 {
		return "1 conflict"
	}
	return fmt.Sprintf("%d conflicts", n)
}
