package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// noteState is what this device remembers between runs: the revision of
// each note it last saw (got, saved or merged). notes save sends it as the
// base revision, so the hub refuses to overwrite a revision the device has
// not seen.
type noteState struct {
	path string
	// Revisions maps a note's name to the revision last seen.
	Revisions map[string]uint64 `json:"revisions"`
}

// defaultStatePath is $XDG_STATE_HOME/dpc/notes.json, or
// ~/.local/state/dpc/notes.json.
func defaultStatePath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "dpc", "notes.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no place for the notes state file (give --state): %w", err)
	}
	return filepath.Join(home, ".local", "state", "dpc", "notes.json"), nil
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (*noteState, error) {
	st := &noteState{path: path, Revisions: map[string]uint64{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("notes state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("notes state %s is not valid (delete it to start afresh): %w", path, err)
	}
	if st.Revisions == nil {
		st.Revisions = map[string]uint64{}
	}
	return st, nil
}

// remember records the revision of a note seen and writes the file
// (atomically: a temporary file renamed over it).
func (st *noteState) remember(name string, rev uint64) error {
	st.Revisions[name] = rev
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(st.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("notes state: %w", err)
	}
	f, err := os.CreateTemp(dir, ".notes-*.json")
	if err != nil {
		return fmt.Errorf("notes state: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("notes state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("notes state: %w", err)
	}
	if err := os.Rename(f.Name(), st.path); err != nil {
		return fmt.Errorf("notes state: %w", err)
	}
	return nil
}
