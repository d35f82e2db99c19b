package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
)

// relayManifest is a test service whose function calls another service:
// none of the built-in services does (they have no node to call with).
const relayManifest = `
name: relay
version: 1.0.0
description: Calls tst, for dpc-cli's --trace test.
functions:
  - funct_name: addThree
    description: Add three numbers with two calls of tst.add.
    args_list:
      - {arg_name: a, arg_type: int, arg_description: First number}
      - {arg_name: b, arg_type: int, arg_description: Second number}
      - {arg_name: c, arg_type: int, arg_description: Third number}
    return_type: int
    app_list: [test]
`

// startRelay runs the relay service; its handler calls tst.add twice, on
// a connection of its own, with the handler's context (so in the trace).
func startRelay(t *testing.T, url string) {
	t.Helper()
	m, err := manifests.Parse("relay.yml", []byte(relayManifest))
	if err != nil {
		t.Fatal(err)
	}
	nc := connectOwner(t, url)
	t.Cleanup(nc.Close)
	node, err := omq.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	tst := node.Lookup("tst")
	startService(t, url, servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"addThree": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var a, b, c int64
			if err := req.Decode(&a, &b, &c); err != nil {
				return nil, err
			}
			var ab, abc int64
			if err := tst.Call(ctx, "add", omq.Args(a, b), &ab); err != nil {
				return nil, err
			}
			if err := tst.Call(ctx, "add", omq.Args(ab, c), &abc); err != nil {
				return nil, err
			}
			return abc, nil
		}),
	}})
	waitCatalog(t, url, "relay.addThree", true)
}

// call --trace prints the result as usual and, on stderr, the trace: the
// call, and indented under it the two calls its handler made, each with
// its instance and timings; --json puts the same tree in the output.
// multi-call --trace shows one line per instance.
func TestCommands_CallTrace(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url
	startRelay(t, u)

	r := check(t, u, 0, nil, nil, "call", "--trace", "addThree", "1", "2", "3")
	t.Logf("call --trace:\n%s", r.stderr)
	if r.stdout != "6\n" {
		t.Fatalf("call --trace: the result is printed as usual:\n%s", r)
	}
	m := regexp.MustCompile(`^trace ([0-9a-f]{32}) \(its instances' log records: dpc-cli logs --trace ([0-9a-f]{32})\)\n`).FindStringSubmatch(r.stderr)
	if m == nil || m[1] != m[2] {
		t.Fatalf("call --trace: no trace id line first:\n%s", r)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 5 || !strings.Contains(lines[1], "call") || !strings.Contains(lines[1], "queue") || !strings.Contains(lines[1], "hops") {
		t.Fatalf("call --trace: want the id, a heading and 3 calls:\n%s", r)
	}
	// A call's line: name, instance, total, queue, handler, hops.
	row := regexp.MustCompile(`^(\s+)(\S+)\s+([0-9A-Za-z]+)(\s+[0-9.]+(?:ns|µs|ms|s)){4}$`)
	var indents []int
	for _, l := range lines[2:] {
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("call --trace: line %q is not a call with its instance and 4 durations:\n%s", l, r)
		}
		indents = append(indents, len(m[1]))
		if want := map[bool]string{true: "relay.addThree", false: "tst.add"}[len(indents) == 1]; m[2] != want {
			t.Fatalf("call --trace: line %q names %s, want %s:\n%s", l, m[2], want, r)
		}
	}
	if indents[1] <= indents[0] || indents[2] != indents[1] {
		t.Fatalf("call --trace: the nested calls are not indented under relay.addThree:\n%s", r)
	}

	var cr struct {
		Result json.RawMessage `json:"result"`
		Trace  traceOutput     `json:"trace"`
	}
	r = check(t, u, 0, nil, nil, "--json", "call", "--trace", "addThree", "1", "2", "3")
	decodeJSON(t, r, &cr)
	if r.stderr != "" {
		t.Fatalf("call --trace --json: the trace goes in the output, not on stderr:\n%s", r)
	}
	tr := cr.Trace
	if string(cr.Result) != "6" || len(tr.TraceID) != 32 || len(tr.Calls) != 1 {
		t.Fatalf("call --trace --json: %s", r.stdout)
	}
	top := tr.Calls[0]
	if top.Service != "relay" || top.Instance == "" || top.Handler <= 0 || top.Total < top.Handler || len(top.Calls) != 2 {
		t.Fatalf("call --trace --json: the relay call %+v", top)
	}
	for _, c := range top.Calls {
		if c.Service != "tst" || c.Function != "add" || c.Parent != top.Span || c.Instance == "" || c.Total > top.Handler {
			t.Fatalf("call --trace --json: nested call %+v of %+v", c, top)
		}
	}

	// multi-call: one line per instance (one instance here).
	r = check(t, u, 0, []string{": 5"}, []string{"trace ", "tst.add"}, "multi-call", "--trace", "add", "2", "3")
	if n := strings.Count(r.stderr, "tst.add"); n != 1 {
		t.Fatalf("multi-call --trace: want a line per instance:\n%s", r)
	}
}
