package hub

import (
	"errors"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
)

// The notes functions over the wire, through the manifest's checks: an
// unchanged save is no new revision, a merge with conflicts is a 409
// that saves nothing and says where to get the text (merge_preview), and
// history's lines parse.
func TestBuiltins_Notes(t *testing.T) {
	h := startHub(t)
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	hub := node(t, nc).Lookup("hub")
	call := func(fn string, reply any, args ...any) error {
		t.Helper()
		return hub.Call(ctxT(t), fn, omq.Args(args...), reply)
	}
	var rev uint64
	for _, s := range []struct {
		content   string
		base, rev uint64
	}{{"a\nb\nc\n", 0, 1}, {"a\nb\nc\n", 1, 1}, {"a\nlaptop\nc\n", 1, 2}} {
		if err := call("save", &rev, "todo", s.content, s.base); err != nil || rev != s.rev {
			t.Fatalf("save %q on revision %d = %d, %v; want %d", s.content, s.base, rev, err, s.rev)
		}
	}

	phone := "a\nphone\nc\n"
	err = call("merge", &rev, "todo", phone, 1)
	var re *omq.Error
	if !errors.As(err, &re) || re.Code != 409 {
		t.Fatalf("merge with conflicts: %v, want a 409", err)
	}
	for _, s := range []string{"with revision 2 gives 1 conflict, at lines 2-6", "nothing was saved", "merge_preview with revision 2", "base_revision 2"} {
		if !strings.Contains(re.Description, s) {
			t.Errorf("409 %q does not say %q", re.Description, s)
		}
	}
	if err := call("revision", &rev, "todo"); err != nil || rev != 2 {
		t.Fatalf("latest after a conflicting merge = %d, %v; want 2", rev, err)
	}
	var text string
	want := "a\n<<<<<<< latest (revision 2)\nlaptop\n=======\nphone\n>>>>>>> yours (edited from revision 1)\nc\n"
	if err := call("merge_preview", &text, "todo", phone, 1, 2); err != nil || text != want {
		t.Fatalf("merge_preview = %q, %v; want %q", text, err, want)
	}

	var lines []string
	if err := call("history", &lines, "todo"); err != nil || len(lines) != 2 {
		t.Fatalf("history = %q, %v", lines, err)
	}
	for i, size := range []int64{6, 11} {
		info, err := notes.ParseHistoryLine(lines[i])
		if err != nil || info.Revision != uint64(i+1) || info.Size != size || info.Modified.IsZero() {
			t.Errorf("history line %q = %+v, %v", lines[i], info, err)
		}
	}
}
