package logstream

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Whatever a process logs, the record published is valid JSON of at most
// MaxRecord bytes, and says when it was cut.
func FuzzEncode(f *testing.F) {
	f.Add("starting", "k", "v", 1)
	f.Add(strings.Repeat("é", 5000), "key", strings.Repeat("\x00\"", 3000), 70)
	f.Fuzz(func(t *testing.T, msg, key, value string, n int) {
		r := &Record{Msg: msg, Level: "INFO", Kind: KindService, Name: "tst", Instance: "i", Attrs: map[string]any{}}
		for i := range min(max(n, 0), 200) {
			v, _ := bound(value, MaxValue)
			r.Attrs[key+strings.Repeat("x", i)] = v
		}
		r.Msg, _ = bound(r.Msg, MaxValue)
		data, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > MaxRecord {
			t.Fatalf("%d bytes", len(data))
		}
		var back Record
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if utf8.ValidString(msg) && len(msg) <= len(TruncatedMark) && back.Msg != msg {
			t.Fatalf("a short message changed: %q → %q", msg, back.Msg)
		}
	})
}

// A line of text for a person: time, source, level, message, attributes
// in key order, quoted when they would be ambiguous.
func TestRecord_Line(t *testing.T) {
	r := Record{Level: "WARN", Msg: "slow", Kind: KindService, Name: "tst", Instance: "i1",
		Attrs: map[string]any{"ms": float64(12), "err": "a b", "fn": "add"}, Dropped: 2}
	got := r.Line()
	for _, want := range []string{" service/tst/i1 WARN slow err=\"a b\" fn=add ms=12", "(2 records dropped before this one)"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
