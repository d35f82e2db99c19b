package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/catalog"
)

// check runs dpc-cli and checks its exit code and that stdout and stderr
// hold the given texts.
func check(t *testing.T, url string, code int, stdout, stderr []string, args ...string) result {
	t.Helper()
	r := cli(t, url, args...)
	if r.code != code {
		t.Fatalf("dpc-cli %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, code, r)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("dpc-cli %s: stdout lacks %q\n%s", strings.Join(args, " "), s, r)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Fatalf("dpc-cli %s: stderr lacks %q\n%s", strings.Join(args, " "), s, r)
		}
	}
	if code != 0 && slices.Contains(args, "--json") {
		if e := decodeJSONError(t, r); e.Exit != code {
			t.Fatalf("dpc-cli %s: JSON error with exit %d\n%s", strings.Join(args, " "), e.Exit, r)
		}
	} else if code != 0 && !strings.HasPrefix(r.stderr, "dpc-cli: ") {
		t.Fatalf("dpc-cli %s: error not prefixed with dpc-cli:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// testJSONError is the error of a --json run, on stderr (output.go).
type testJSONError struct {
	Message string          `json:"message"`
	Exit    int             `json:"exit"`
	Code    int             `json:"code"`
	Details json.RawMessage `json:"details"`
}

// decodeJSONError decodes the error a --json run wrote to stderr.
func decodeJSONError(t *testing.T, r result) testJSONError {
	t.Helper()
	var e struct {
		Error *testJSONError `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stderr))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || dec.More() || e.Error == nil {
		t.Fatalf("stderr is not one JSON error (%v):\n%s", err, r)
	}
	return *e.Error
}

func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not the JSON wanted (%v):\n%s", err, r)
	}
}

func TestCommands_Catalog(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url

	r := check(t, u, 0, nil, nil, "apps")
	if r.stdout != "notes\ntest\n" {
		t.Fatalf("apps:\n%s", r)
	}
	var apps []string
	decodeJSON(t, check(t, u, 0, nil, nil, "--json", "apps"), &apps)
	if !reflect.DeepEqual(apps, []string{"notes", "test"}) {
		t.Fatalf("apps --json: %v", apps)
	}

	r = check(t, u, 0, []string{"hub.save", "save(name string, content string, base_revision int) int", "textutil.upper", "hub.nopKserv"}, nil,
		"funcs", "--app", "notes")
	if strings.Contains(r.stdout, "tst.add") {
		t.Fatalf("funcs --app notes lists tst.add:\n%s", r)
	}
	var fs []catalog.FunctionInfo
	decodeJSON(t, check(t, u, 0, nil, nil, "--json", "funcs"), &fs)
	names := map[string]bool{}
	for _, f := range fs {
		names[f.Name] = true
	}
	for _, n := range []string{"hub.save", "tst.add", "tst.nopExtra", "textutil.upper"} {
		if !names[n] {
			t.Fatalf("funcs --json lacks %s: %v", n, names)
		}
	}

	check(t, u, 0, []string{"tst.add: add(a int, b int) int", "First number", "idempotent:  yes", "cacheable:   for 1m0s", "dpc-cli call tst.add a=INT b=INT"}, nil,
		"describe", "add")
	var fi catalog.FunctionInfo
	decodeJSON(t, check(t, u, 0, nil, nil, "describe", "--json", "tst.add"), &fi)
	if fi.Name != "tst.add" || fi.Instances != 1 || len(fi.Function.Args) != 2 {
		t.Fatalf("describe --json: %+v", fi)
	}
	check(t, u, exitNotFound, nil, []string{`dpc-cli: no live service has a function "nope"`}, "describe", "nope")

	r = check(t, u, 0, []string{"hub 0.1.0", "tst 0.1.0", "textutil 0.1.0", "INSTANCE", "testhost", "P90 WAIT"}, nil, "status")
	var ss []catalog.ServiceInfo
	decodeJSON(t, check(t, u, 0, nil, nil, "status", "--json"), &ss)
	if len(ss) != 3 || ss[2].Name != "tst" || len(ss[2].Instances) != 1 || ss[2].Instances[0].Host != "testhost" {
		t.Fatalf("status --json: %+v", ss)
	}
}

func TestCommands_Call(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url

	for _, args := range [][]string{
		{"call", "add", "45", "38"},
		{"call", "tst.add", "a=45", "b=38"},
		{"call", "add", "b=38", "45"},
		{"call", "add", "--args-json", `{"a":45,"b":38}`},
		{"call", "add", "--args-json", `[45, 38]`},
		{"call", "add", "--", "-7", "90"},
	} {
		if r := check(t, u, 0, nil, nil, args...); r.stdout != "83\n" {
			t.Fatalf("%v:\n%s", args, r)
		}
	}
	var cr struct {
		Function string          `json:"function"`
		Result   json.RawMessage `json:"result"`
	}
	decodeJSON(t, check(t, u, 0, nil, nil, "--json", "call", "add", "1", "2"), &cr)
	if cr.Function != "tst.add" || string(cr.Result) != "3" {
		t.Fatalf("call --json: %+v", cr)
	}

	// Values typed by the manifest, results formatted by it.
	for _, tc := range []struct {
		args []string
		out  string
	}{
		{[]string{"call", "split", "a,b,c", ","}, "a, b, c\n"},
		{[]string{"call", "addMany", "1, 2, 3"}, "6\n"},
		{[]string{"call", "test_float_list", "[1.5, 2]"}, "1.5, 2\n"},
		{[]string{"call", "countChars", "text=héllo wörld"}, "11\n"},
		{[]string{"call", "test_char", "x"}, "x\n"},
		{[]string{"call", "upper", "it's a=b"}, "IT'S A=B\n"},
		{[]string{"call", "nopKserv"}, ""},
	} {
		if r := check(t, u, 0, nil, nil, tc.args...); r.stdout != tc.out {
			t.Fatalf("%v: stdout %q, want %q\n%s", tc.args, r.stdout, tc.out, r)
		}
	}
	decodeJSON(t, check(t, u, 0, nil, nil, "--json", "call", "nopKserv"), &cr)
	if string(cr.Result) != "null" {
		t.Fatalf("nothing returned: result %s, want null", cr.Result)
	}

	// Bad arguments name the argument, and exit 2.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"call", "add", "1"}, "add: missing b (int: Second number); usage: add a=INT b=INT"},
		{[]string{"call", "add", "1", "2", "3"}, `add takes 2 arguments; "3" is one value too many`},
		{[]string{"call", "add", "x", "2"}, `argument a (int) of add: want a whole number, like 42; got "x"`},
		{[]string{"call", "add", "a=1", "a=2"}, "argument a of add is given twice"},
		{[]string{"call", "add", "--args-json", "[1]"}, "--args-json: add takes 2 arguments (a int, b int), got 1"},
		{[]string{"call", "add", "--args-json", `{"a":1,"b":"2"}`}, `argument "b" (int): got "2", a string`},
		{[]string{"call", "add", "1", "--args-json", "[1,2]"}, "either as words or with --args-json, not both"},
		{[]string{"call", "test_char", "xy"}, "want exactly one character"},
		{[]string{"call"}, `expected "<name>"`},
		{[]string{"call", "add", "--bogus"}, "unknown flag --bogus"},
		{[]string{"--timeout", "0s", "apps"}, "--timeout must be positive"},
	} {
		check(t, u, exitUsage, nil, []string{tc.want}, tc.args...)
	}

	// Not found: not in the catalog. Unavailable: the hub unreachable.
	check(t, u, exitNotFound, nil, []string{`no live service has a function "nope"`}, "call", "nope")
	check(t, u, exitNotFound, nil, []string{`no live service has a function "tst.nope"`}, "call", "tst.nope")
	for _, cmd := range [][]string{{"apps"}, {"call", "add", "1", "2"}, {"status"}, {"notes", "list"}} {
		check(t, "nats://127.0.0.1:1", exitUnavailable, nil, []string{"dpc-cli: cannot reach the hub at nats://127.0.0.1:1"}, cmd...)
	}

	// --help documents the exit codes, and exits 0.
	check(t, u, 0, []string{"Exit codes: 0 ok; 1 error", "2 bad usage", "3 unavailable", "4 timeout", "5 conflict", "7 not found", "multi-call", "notes merge"}, nil, "--help")
}

// A name two services have must be qualified (2); the service's own
// error codes map to exit codes; a service that stopped is not found.
func TestCommands_CallErrors(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url
	startExtra(t, u, nil)

	check(t, u, exitUsage, nil, []string{`"add" is ambiguous: say which of extra.add, tst.add`}, "call", "add", "2", "3")
	if r := check(t, u, 0, nil, nil, "call", "extra.add", "2", "3"); r.stdout != "6\n" {
		t.Fatalf("extra.add:\n%s", r)
	}
	check(t, u, exitUsage, nil, []string{"dpc-cli: bad arguments to extra.positive (400): n must not be negative, got -1"}, "call", "positive", "n=-1")
	check(t, u, exitError, nil, []string{"dpc-cli: extra.fail failed in the service (500): it broke"}, "call", "fail")
	check(t, u, exitConflict, nil, []string{"dpc-cli: conflict in extra.clash (409): the thing changed meanwhile"}, "call", "clash")
	check(t, u, exitTimeout, nil, []string{"dpc-cli: extra.nap timed out: no reply within 100ms"}, "call", "nap")
	// --timeout applies to functions without a timeout of their own.
	check(t, u, exitTimeout, nil, []string{"dpc-cli: extra.wait timed out: no reply within 1s"}, "--timeout", "1s", "call", "wait")
	// An explicit --timeout wins over a function's own (TestNewUser shows
	// the shorter way).
	check(t, u, exitTimeout, nil, []string{"no reply within 300ms"}, "--timeout", "300ms", "call", "nap")

	// A service that stopped, and withdrew, has left the catalog: its
	// functions are not found (7). One the catalog still lists but no
	// instance answers is unavailable (3): TestNewUser.
	sys.tst.stop()
	waitCatalog(t, u, "tst.add", false)
	check(t, u, exitNotFound, nil, []string{`no live service has a function "tst.add"`}, "call", "tst.add", "1", "2")
}

func TestCommands_MultiCall(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url
	startBuiltin(t, u, "tst") // a second instance
	waitInstances(t, u, "tst.add", 2)

	// multi-call counts the instances with $SRV.PING, gathered until a
	// quiet period; on a loaded machine one may answer late and be left
	// out, so ask until both are counted.
	var r result
	var lines []string
	brokertest.Eventually(t, waitLong, func() bool {
		r = check(t, u, 0, nil, nil, "multi-call", "add", "2", "3")
		lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
		return len(lines) == 2
	}, "multi-call replies from 2 instances")
	if !strings.HasSuffix(lines[0], ": 5") || !strings.HasSuffix(lines[1], ": 5") || lines[0] == lines[1] {
		t.Fatalf("multi-call: want a reply from each of 2 instances:\n%s", r)
	}
	var mr struct {
		Function string `json:"function"`
		Replies  []struct {
			Instance string          `json:"instance"`
			Result   json.RawMessage `json:"result"`
		} `json:"replies"`
	}
	brokertest.Eventually(t, waitLong, func() bool {
		decodeJSON(t, check(t, u, 0, nil, nil, "--json", "multi-call", "tst.add", "a=2", "b=3"), &mr)
		return len(mr.Replies) == 2
	}, "multi-call --json replies from 2 instances")
	if mr.Function != "tst.add" || len(mr.Replies) != 2 || string(mr.Replies[0].Result) != "5" || mr.Replies[0].Instance == mr.Replies[1].Instance {
		t.Fatalf("multi-call --json: %+v", mr)
	}
	check(t, u, exitUsage, nil, []string{"missing b"}, "multi-call", "add", "2")
}

// waitInstances waits until the catalog counts n instances of the
// service of function fn.
func waitInstances(t *testing.T, url, fn string, n int) {
	t.Helper()
	brokertest.Eventually(t, waitLong, func() bool {
		r := cli(t, url, "--json", "describe", fn)
		var fi catalog.FunctionInfo
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &fi) == nil && fi.Instances == n
	}, "instances of "+fn)
}
