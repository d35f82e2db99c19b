package manifests

import (
	"errors"
	"io/fs"
	"reflect"
	"testing"
)

func TestBuiltin_Parse(t *testing.T) {
	names := BuiltinNames()
	if !reflect.DeepEqual(names, []string{"hub", "textutil", "tst", "work"}) {
		t.Fatalf("BuiltinNames() = %q", names)
	}
	for _, name := range names {
		m, err := Builtin(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Name != name {
			t.Errorf("%s.yml describes service %q", name, m.Name)
		}
		if m.Description == "" {
			t.Errorf("%s: no description", name)
		}
		for _, f := range m.Functions {
			if f.Description == "" {
				t.Errorf("%s.%s: no description", name, f.Name)
			}
			for _, a := range f.Args {
				if a.Description == "" {
					t.Errorf("%s.%s: argument %s has no description", name, f.Name, a.Name)
				}
			}
		}
	}
}

func TestBuiltin_Contents(t *testing.T) {
	sigs := map[string][]string{
		"hub": {
			"save(name string, content string, base_revision int) int",
			"get(name string, revision int) string",
			"merge(name string, content string, base_revision int) int",
			"merge_preview(name string, content string, base_revision int, revision int) string",
			"revision(name string) int",
			"list() string_list",
			"history(name string) string_list",
			"save_stream(name string, content stream, base_revision int) int",
			"get_stream(name string, revision int) stream",
			"nopKserv()",
		},
		"tst": {
			"add(a int, b int) int", "addMany(numbers int_list) int", "countChars(text string) int",
			"split(text string, separator char) string_list",
			"test_int(x int) int", "test_float(x float) float", "test_char(c char) char",
			"test_int_list(xs int_list) int_list", "test_float_list(xs float_list) float_list",
			"test_string_list(xs string_list) string_list", "test_char_list(cs char_list) char_list",
			"nopExtra()",
		},
		"textutil": {
			"upper(text string) string", "lower(text string) string",
			"wordCount(text string) int", "reverse(text string) string",
		},
		"work": {"work() string"},
	}
	for name, want := range sigs {
		m, _ := Builtin(name)
		var got []string
		for _, f := range m.Functions {
			got = append(got, f.Signature())
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %q\n want %q", name, got, want)
		}
	}

	hub, _ := Builtin("hub")
	if got := hub.Apps(); !reflect.DeepEqual(got, []string{"notes"}) {
		t.Errorf("hub apps %q", got)
	}
	for fn, idem := range map[string]bool{"save": false, "get": true, "merge": false, "merge_preview": true, "revision": true, "list": true, "history": true, "save_stream": false, "get_stream": true} {
		f := hub.Function(fn)
		if f.Idempotent != idem || !f.AvailableTo("notes") || f.AvailableTo("test") {
			t.Errorf("hub.%s: idempotent %v, apps %q", fn, f.Idempotent, f.Apps)
		}
	}
	if nop := hub.Function("nopKserv"); !nop.AvailableTo("notes") || !nop.AvailableTo("anything") {
		t.Errorf("nopKserv is not for every application: %q", nop.Apps)
	}
	if hub.Function("nope") != nil {
		t.Error("Function of an unknown name is not nil")
	}

	tst, _ := Builtin("tst")
	if got := tst.Apps(); !reflect.DeepEqual(got, []string{"test"}) {
		t.Errorf("tst apps %q", got)
	}
	add := tst.Function("add")
	if add.Cacheable == nil || add.Cacheable.TTL == 0 || add.Timeout == 0 {
		t.Errorf("tst.add: cacheable %v, timeout %v", add.Cacheable, add.Timeout)
	}
	for _, f := range tst.Functions {
		if !f.Idempotent {
			t.Errorf("tst.%s is pure but not idempotent", f.Name)
		}
	}

	// work's callers give up after its timeout, so a loaded instance
	// shows as timeouts rather than calls waiting for ever.
	if w, _ := Builtin("work"); w.Function("work").Timeout == 0 {
		t.Error("work.work has no timeout")
	}

	tu, _ := Builtin("textutil")
	for _, f := range tu.Functions {
		if !f.AvailableTo("notes") || f.AvailableTo("test") {
			t.Errorf("textutil.%s: apps %q", f.Name, f.Apps)
		}
	}
}

func TestBuiltin_Fresh(t *testing.T) {
	a, _ := Builtin("tst")
	a.Functions[0].Name = "changed"
	b, _ := Builtin("tst")
	if b.Functions[0].Name != "add" {
		t.Error("a change to one Builtin result shows in the next")
	}
}

func TestBuiltin_Unknown(t *testing.T) {
	for _, name := range []string{"nope", "", "../go", "hub.yml"} {
		_, err := Builtin(name)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%q: %v", name, err)
		}
	}
	_, err := Builtin("nope")
	if want := `manifests: no built-in manifest "nope" (there are: hub, textutil, tst, work)`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestManifest_Apps(t *testing.T) {
	m := &Manifest{Functions: []Function{
		{Name: "a", Apps: []string{"zeta", "alpha"}},
		{Name: "b"},
		{Name: "c", Apps: []string{"alpha", "mid"}},
	}}
	if got := m.Apps(); !reflect.DeepEqual(got, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("Apps() = %q", got)
	}
	if (&Manifest{}).Apps() != nil {
		t.Error("no apps should be nil")
	}
}
