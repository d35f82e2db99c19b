package servicehost_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
)

// The handler gets the arguments the manifest check split: by position
// or by name, Args is their JSON array in the manifest's order, and
// Positional and Decode give the same values.
func TestBind_HandsTheCheckedArgumentsOn(t *testing.T) {
	srv := brokertest.Start(t)
	n, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests.Manifest{Name: "pair", Version: "1.0.0", Functions: []manifests.Function{{
		Name:       "pair",
		Args:       []manifests.Arg{{Name: "s", Type: "string"}, {Name: "n", Type: "int"}},
		ReturnType: "string",
	}, {Name: "none", ReturnType: "string"}}}
	type seen struct {
		args string
		pos  []string
		s    string
		n    int
	}
	got := make(chan seen, 1)
	svc := servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"pair": omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) {
			var v seen
			v.args = string(r.Args)
			pos, err := r.Positional()
			if err != nil {
				return nil, err
			}
			for _, p := range pos {
				v.pos = append(v.pos, string(p))
			}
			if err := r.Decode(&v.s, &v.n); err != nil {
				return nil, err
			}
			got <- v
			return "ok", nil
		}),
		"none": omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) {
			pos, err := r.Positional()
			return string(r.Args) + "|" + string(rune('0'+len(pos))), err
		}),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := servicehost.Bind(ctx, n, svc, servicehost.Config{}); err != nil {
		t.Fatal(err)
	}
	stub := n.Lookup("pair")
	for _, c := range []struct {
		body, args string
	}{
		{` ["a<b", 7] `, `["a<b", 7]`},
		{`{"n": 7, "s": "a<b"}`, `["a<b",7]`},
	} {
		if err := stub.Call(ctx, "pair", json.RawMessage(c.body), nil); err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		v := <-got
		if v.args != c.args || len(v.pos) != 2 || v.pos[0] != `"a<b"` || v.pos[1] != "7" || v.s != "a<b" || v.n != 7 {
			t.Errorf("%s: the handler saw %+v, want Args %s and the two values", c.body, v, c.args)
		}
	}
	for _, body := range []string{``, `[]`, `{}`} {
		var s string
		if err := stub.Call(ctx, "none", json.RawMessage(body), &s); err != nil || s != "|0" {
			t.Errorf("none(%s): %q, %v; want no arguments", body, s, err)
		}
	}
}
