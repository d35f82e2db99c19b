package manifests

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestManifest_Validate(t *testing.T) {
	for _, name := range BuiltinNames() {
		m, _ := Builtin(name)
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// Through JSON, as a manifest travels in $SRV metadata.
		b, _ := json.Marshal(m)
		var back Manifest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := back.Validate(); err != nil {
			t.Errorf("%s via JSON: %v", name, err)
		}
	}

	bad := &Manifest{Name: "a b", Version: "1", Functions: []Function{
		{Name: "f", Args: []Arg{{Name: "x", Type: "integer"}, {Name: "x", Type: TypeInt}}, Apps: []string{""}},
		{Name: "f", Cacheable: &Cache{}},
	}}
	want := []string{
		`name: "a b" is not a valid name: use letters, digits, '-' and '_' only (names become NATS subject tokens)`,
		`version: "1" is not a SemVer version: write MAJOR.MINOR.PATCH, like 1.0.0`,
		`functions[0].args_list[0].arg_type: unknown type "integer" (did you mean int?)`,
		`functions[0].args_list[1].arg_name: "x" is already the name of args_list[0]; argument names must be unique within a function`,
		`functions[0].app_list[0]: empty application name`,
		`functions[1].funct_name: "f" is already the name of functions[0]; function names must be unique within a service`,
		`functions[1].cacheable.ttl: must be more than zero (leave cacheable out if results must not be reused)`,
	}
	if got := problems(t, bad.Validate()); !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n  %q\nwant:\n  %q", got, want)
	}
	if err := (&Manifest{Name: "s", Functions: []Function{{Name: "f"}}}).Validate(); err != nil {
		t.Errorf("minimal manifest: %v", err)
	}
}
