package omq

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"testing"
)

type fuzzTarget struct{}

func (fuzzTarget) Mix(a int, s string, fs []float64, m map[string]bool) int { return a }
func (fuzzTarget) One(p struct{ A int }) int                                { return p.A }

// FuzzArgs feeds arbitrary request bodies to the argument decoding that
// every call from the outside goes through: the result is either a decoded
// call or a 400 *Error, never a panic or another error.
func FuzzArgs(f *testing.F) {
	for _, seed := range []string{
		``, `[]`, `{}`, `null`, `[1,"x",[1.5],{"k":true}]`, `{"a":1,"s":"x","fs":[],"m":{}}`,
		`[1,`, `"str"`, `[1,2,3,4,5]`, `{"A":3}`, `{"B":3}`, ` [ 1 , "" , null , null ] `,
		"[\"\\ud800\",1]", `[1e400,"",[],{}]`,
	} {
		f.Add([]byte(seed))
	}
	hs, err := reflectHandlers(fuzzTarget{}, map[string][]string{"mix": {"a", "s", "fs", "m"}}, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fn := range []string{"mix", "one"} {
			req := &Request{Function: fn, Args: body}
			var res any
			var err error
			if perr := checkArgs(fn, body); perr != nil {
				err = perr
			} else {
				res, err = hs[fn].Handle(context.Background(), req)
			}
			if err != nil {
				var re *Error
				if !errors.As(err, &re) || re.Code != CodeBadArguments {
					t.Fatalf("%s(%q): %v is not a 400", fn, body, err)
				}
				continue
			}
			if reflect.TypeOf(res).Kind() != reflect.Int {
				t.Fatalf("%s(%q) = %v", fn, body, res)
			}
		}
		// The helpers handlers use must not panic either.
		r := &Request{Function: "f", Args: body}
		_, _ = r.Positional()
		_, _ = r.Named()
		var a, b any
		_ = r.Decode(&a, &b)
	})
}

// FuzzValidName holds the hand-written name check to the documented rule.
func FuzzValidName(f *testing.F) {
	nameRE := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, s := range []string{"", "a", "add", "a.b", "a b", "é", "A-Z_0-9", "*", ">"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidName(s) != nameRE.MatchString(s) {
			t.Fatalf("ValidName(%q) = %v, the rule says %v", s, ValidName(s), nameRE.MatchString(s))
		}
	})
}
