package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
)

func testFunction(t testing.TB) *manifests.Function {
	t.Helper()
	m, err := manifests.Parse("t.yml", []byte(`
name: t
functions:
  - funct_name: f
    args_list:
      - {arg_name: n, arg_type: int, arg_description: a number}
      - {arg_name: s, arg_type: string}
      - {arg_name: xs, arg_type: float_list}
    return_type: int
  - funct_name: none
`))
	if err != nil {
		t.Fatal(err)
	}
	return &m.Functions[0]
}

func TestCallArgs_Forms(t *testing.T) {
	f := testFunction(t)
	for _, tc := range []struct {
		words    []string
		argsJSON string
		want     string // JSON, or "error: <part of the message>"
	}{
		{[]string{"1", "hi", "1.5, 2"}, "", `[1,"hi",[1.5,2]]`},
		{[]string{"s=a=b", "n=-3", "xs="}, "", `[-3,"a=b",[]]`},
		{[]string{"xs=[1]", "7", "x=y"}, "", `[7,"x=y",[1]]`},
		{[]string{"n=1", "s= spaced "}, "", "error: f: missing xs (float_list)"},
		{[]string{"1"}, "", "error: missing s (string), xs (float_list); usage: f n=INT s=STRING xs=FLOAT_LIST"},
		{[]string{"1", "a", "2", "extra"}, "", `error: f takes 3 arguments; "extra" is one value too many`},
		{[]string{"n=1", "n=2", "a", "3"}, "", "error: argument n of f is given twice"},
		{[]string{"one", "a", "2"}, "", `error: argument n (int) of f: want a whole number, like 42; got "one"`},
		{[]string{"1", "a", "2, x"}, "", "error: argument xs (float_list) of f: item 2"},
		{nil, `{"n":1,"s":"a","xs":[]}`, `{"n":1,"s":"a","xs":[]}`},
		{nil, ` [1,"a",[2]] `, `[1,"a",[2]]`},
		{nil, `[1,"a"]`, "error: --args-json: f takes 3 arguments"},
		{nil, `{"n":1}`, `error: --args-json: f: argument "s" (string): missing`},
		{nil, `nope`, "error: --args-json: f: arguments must be a JSON array"},
		{[]string{"1"}, `[1,"a",[]]`, "error: either as words or with --args-json, not both"},
	} {
		got, err := callArgs(f, tc.words, tc.argsJSON)
		if strings.HasPrefix(tc.want, "error: ") {
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
				t.Errorf("%q %q: error %v, want %q", tc.words, tc.argsJSON, err, tc.want)
			} else if exitCode(err) != exitUsage {
				t.Errorf("%q %q: exit code %d, want %d", tc.words, tc.argsJSON, exitCode(err), exitUsage)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%q %q: %s, %v; want %s", tc.words, tc.argsJSON, got, err, tc.want)
		}
	}
	none := &manifests.Function{Name: "none"}
	if got, err := callArgs(none, nil, ""); got != nil || err != nil {
		t.Errorf("no arguments: %s, %v", got, err)
	}
}

// Whatever the words, callArgs either refuses them as bad usage or
// returns arguments the manifest accepts.
func FuzzCallArgs(f *testing.F) {
	f.Add("1", "hi", "1.5, 2", "")
	f.Add("n=1", "s=x", "xs=[1,2]", "")
	f.Add("", "", "", `{"n":1,"s":"a","xs":[]}`)
	f.Add("n==", "=", "xs=[", "[")
	fn := testFunction(f)
	f.Fuzz(func(t *testing.T, a, b, c, argsJSON string) {
		var words []string
		for _, w := range []string{a, b, c} {
			if w != "" {
				words = append(words, w)
			}
		}
		got, err := callArgs(fn, words, argsJSON)
		if err != nil {
			if exitCode(err) != exitUsage {
				t.Fatalf("%q %q: error %v with exit code %d", words, argsJSON, err, exitCode(err))
			}
			return
		}
		if _, err := fn.CheckArgs(got); err != nil {
			t.Fatalf("%q %q: built %s, which the manifest refuses: %v", words, argsJSON, got, err)
		}
	})
}

func TestDisplayNames_QualifiesDuplicates(t *testing.T) {
	fi := func(svc, fn string) catalog.FunctionInfo {
		return catalog.FunctionInfo{Name: svc + "." + fn, Service: svc, Function: manifests.Function{Name: fn}}
	}
	got := displayNames([]catalog.FunctionInfo{fi("extra", "add"), fi("hub", "save"), fi("tst", "add"), fi("tst", "split")})
	if want := "extra.add save tst.add split"; strings.Join(got, " ") != want {
		t.Fatalf("display names %v, want %s", got, want)
	}
}

func TestMenuChoice_Range(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want int
		ok   bool
	}{
		{"0", 3, 0, true}, {" 2 ", 3, 2, true}, {"3", 3, 0, false}, {"-1", 3, 0, false}, {"x", 3, 0, false}, {"", 3, 0, false}, {"1.0", 3, 0, false},
	} {
		if got, ok := menuChoice(tc.in, tc.n); got != tc.want || ok != tc.ok {
			t.Errorf("menuChoice(%q, %d) = %d, %v; want %d, %v", tc.in, tc.n, got, ok, tc.want, tc.ok)
		}
	}
}

func TestResultCache_Expires(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newResultCache(func() time.Time { return now })
	args := json.RawMessage(`[1,2]`)
	c.put("tst.add", args, json.RawMessage("3"), time.Minute)
	c.put("tst.add", json.RawMessage(`[2,2]`), json.RawMessage("4"), 0) // not cacheable
	if r, ok := c.get("tst.add", args); !ok || string(r) != "3" {
		t.Fatalf("fresh entry: %s, %v", r, ok)
	}
	if _, ok := c.get("tst.add", json.RawMessage(`[2,2]`)); ok {
		t.Fatal("an entry with no TTL was kept")
	}
	if _, ok := c.get("tst.add", json.RawMessage(`[1,3]`)); ok {
		t.Fatal("other arguments hit the cache")
	}
	now = now.Add(time.Minute)
	if _, ok := c.get("tst.add", args); ok {
		t.Fatal("expired entry returned")
	}
}

func TestNoteState_RoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "notes.json")
	st, err := loadState(path)
	if err != nil || len(st.Revisions) != 0 {
		t.Fatalf("missing file: %+v, %v", st, err)
	}
	if err := st.remember("todo", 3); err != nil {
		t.Fatal(err)
	}
	if err := st.remember("plan", 1); err != nil {
		t.Fatal(err)
	}
	st, err = loadState(path)
	if err != nil || st.Revisions["todo"] != 3 || st.Revisions["plan"] != 1 {
		t.Fatalf("reloaded: %+v, %v", st, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode: %v, %v", fi.Mode(), err)
	}
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := loadState(path); err == nil || !strings.Contains(err.Error(), "delete it to start afresh") {
		t.Fatalf("corrupt state: %v", err)
	}
}

func TestDefaultStatePath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	if p, _ := defaultStatePath(); p != "/x/state/dpc/notes.json" {
		t.Fatalf("with XDG_STATE_HOME: %s", p)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if p, _ := defaultStatePath(); p != "/home/u/.local/state/dpc/notes.json" {
		t.Fatalf("without: %s", p)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"a.txt": "a.txt", "/tmp/x-1": "/tmp/x-1", "my note": "'my note'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
