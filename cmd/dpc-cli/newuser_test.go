package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/nats-io/nats.go/micro"
)

// What a new user runs into (issue 10): errors a service returns keep
// their meaning, names that do not exist get a "did you mean", usage
// errors come first, --timeout wins, --help says where --nats goes.

// codesManifest is a service that answers with any error code, and a
// function whose own timeout is long.
const codesManifest = `
name: codes
version: 1.0.0
description: Test functions of dpc-cli's exit codes.
functions:
  - funct_name: refuse
    description: Answer with the error code given.
    args_list:
      - {arg_name: code, arg_type: int, arg_description: Error code}
    app_list: [test]
  - funct_name: slow
    description: Return when the call's deadline passes; its own timeout is long.
    app_list: [test]
    timeout: 20s
`

// startCodes runs the codes service and waits until the catalog lists it.
func startCodes(t *testing.T, url string) {
	t.Helper()
	m, err := manifests.Parse("codes.yml", []byte(codesManifest))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	startService(t, url, servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"refuse": omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
			var args []int
			if err := json.Unmarshal(req.Args, &args); err != nil {
				return nil, err
			}
			return nil, omq.Errorf(args[0], "refused with %d", args[0])
		}),
		"slow": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-release:
				return nil, nil
			}
		}),
	}})
	t.Cleanup(func() { close(release) }) // before the service stops
	waitCatalog(t, url, "codes.slow", true)
}

// startGhost runs a DPC service instance that answers the NATS service
// protocol (so the catalog lists it, and keeps listing it) but serves
// none of its functions: known to the catalog, but no instance answers.
func startGhost(t *testing.T, url string) {
	t.Helper()
	m, err := manifests.Parse("ghost.yml", []byte(`
name: ghost
version: 1.0.0
functions:
  - funct_name: vanish
    description: Never answered.
`))
	if err != nil {
		t.Fatal(err)
	}
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	nc := connectOwner(t, url)
	t.Cleanup(nc.Close)
	svc, err := micro.AddService(nc, micro.Config{Name: "ghost", Version: "1.0.0",
		Metadata: map[string]string{catalog.MetaManifest: string(mj), catalog.MetaHost: "testhost"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	waitCatalog(t, url, "ghost.vanish", true)
}

func TestNewUser(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url
	startCodes(t, u)
	startGhost(t, u)

	// 1. An error the service returns is its own, never an outage.
	t.Run("ServiceErrorsKeepTheirMeaning", func(t *testing.T) {
		check(t, u, exitNotFound, nil, []string{"dpc-cli: hub.get: ", `no note named "nothere"`}, "call", "get", "nothere", "0")
		for _, tc := range []struct {
			code string
			exit int
			msg  string
		}{
			{"400", exitUsage, "bad arguments to codes.refuse (400): refused with 400"},
			{"401", exitDenied, "codes.refuse refused the call (401): refused with 401"},
			{"403", exitDenied, "codes.refuse refused the call (403): refused with 403"},
			{"404", exitNotFound, "codes.refuse: not found (404): refused with 404"},
			{"409", exitConflict, "conflict in codes.refuse (409): refused with 409"},
			{"413", exitUsage, "codes.refuse: too large (413): refused with 413"},
			{"500", exitError, "codes.refuse failed in the service (500): refused with 500"},
			{"503", exitUnavailable, "codes.refuse cannot serve the call for now (503): refused with 503"},
			{"507", exitError, "codes.refuse failed (507): refused with 507"},
		} {
			check(t, u, tc.exit, nil, []string{"dpc-cli: " + tc.msg + "\n"}, "call", "refuse", tc.code)
		}
	})

	// 2. A name the catalog does not know is not found, with the name
	// probably meant; a known one no instance answers is unavailable,
	// before the call's timeout, and says it waited.
	t.Run("UnknownNamesSuggest", func(t *testing.T) {
		check(t, u, exitNotFound, nil, []string{`dpc-cli: no live service has a function "Add"; did you mean add?`}, "call", "Add", "1", "2")
		check(t, u, exitNotFound, nil, []string{`no live service has a function "foo" (dpc-cli funcs lists them)`}, "call", "foo")
		check(t, u, exitNotFound, nil, []string{`did you mean tst.split?`}, "describe", "tst.splt")
		check(t, u, exitNotFound, nil, []string{`did you mean ghost.vanish?`}, "multi-call", "ghost.vanis")
		check(t, u, exitNotFound, nil, []string{`dpc-cli: no live service names the application "nosuch" (dpc-cli apps lists them)`}, "funcs", "--app", "nosuch")
		check(t, u, exitNotFound, nil, []string{`did you mean notes?`}, "funcs", "--app", "Notes")
		check(t, u, exitUsage, nil, []string{"dpc-cli: add has no argument c; did you mean b? usage: add a=INT b=INT"}, "call", "add", "a=1", "c=2")
		check(t, u, exitUsage, nil, []string{"countChars has no argument txt; did you mean text?", "text=txt=hello"}, "call", "countChars", "txt=hello")
		check(t, u, exitUsage, nil, []string{`add has no argument "c" (did you mean "b"?`}, "call", "add", "--args-json", `{"a":1,"c":2}`)
		check(t, u, exitUnavailable, nil, []string{"dpc-cli: ghost.vanish is not available at the moment: no instance of ghost answers (waited "},
			"--timeout", "1m", "call", "ghost.vanish")
	})

	// 4. An explicit --timeout wins over the manifest's, shorter too.
	t.Run("TimeoutFlagWins", func(t *testing.T) {
		check(t, u, exitTimeout, nil, []string{"dpc-cli: codes.slow timed out: no reply within 300ms"}, "--timeout", "300ms", "call", "slow")
		check(t, u, 0, []string{"timeout:     300ms (--timeout; its own: 20s)"}, nil, "--timeout", "300ms", "describe", "slow")
		check(t, u, 0, []string{"timeout:     20s\n"}, nil, "describe", "slow")
	})
}

// 3. A usage error is one line and a pointer to the help, not the help.
func TestNewUser_UsageErrorFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"call"}, "dpc-cli: expected \"<name>\"\nRun 'dpc-cli call --help' for usage.\n"},
		{[]string{"notes", "get"}, "dpc-cli: expected \"<name>\"\nRun 'dpc-cli notes get --help' for usage.\n"},
		{[]string{"--bogus"}, "dpc-cli: unknown flag --bogus\nRun 'dpc-cli --help' for usage.\n"},
		{[]string{"--timeout", "0s", "apps"}, "dpc-cli: --timeout must be positive, like 5s\nRun 'dpc-cli --help' for usage.\n"},
	} {
		var stdout, stderr strings.Builder
		cmd := exec.Command(cliBinary, tc.args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(os.Environ(), "DPC_HOME=none")
		if code := exitOf(t, cmd.Run()); code != exitUsage || stderr.String() != tc.want || stdout.Len() != 0 {
			t.Errorf("dpc-cli %s: exit %d\nstderr: %q\nwant:   %q\nstdout: %q", strings.Join(tc.args, " "), code, stderr.String(), tc.want, stdout.String())
		}
	}
}

// 5. --help says which hub --nats defaults to on this machine.
func TestNewUser_NATSDefaultInHelp(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "hub.json"), []byte(`{"urls": ["tls://hub.example:4333"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ home, want string }{
		{home, "--nats=URL Hub URL(s), comma-separated (default: tls://hub.example:4333, from the DPC profile in " + home + ")"},
		{"none", "--nats=URL Hub URL(s), comma-separated (default: the hub found on the LAN, else nats://127.0.0.1:4222; this machine has no DPC profile)"},
	} {
		cmd := exec.Command(cliBinary, "--help")
		cmd.Env = append(os.Environ(), "DPC_HOME="+tc.home)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		// kong wraps the help: compare words.
		if got := strings.Join(strings.Fields(string(out)), " "); !strings.Contains(got, tc.want) {
			t.Errorf("DPC_HOME=%s dpc-cli --help lacks %q:\n%s", tc.home, tc.want, out)
		}
	}
}

func TestExitCode_RemoteCodes(t *testing.T) {
	for code, want := range map[int]int{
		400: exitUsage, 401: exitDenied, 403: exitDenied, 404: exitNotFound, 409: exitConflict,
		413: exitUsage, 418: exitError, 500: exitError, 503: exitUnavailable, 507: exitError,
	} {
		err := callFailure("s.f", omq.Errorf(code, "x"), 0)
		if got := exitCode(err); got != want {
			t.Errorf("code %d: exit %d, want %d (%v)", code, got, want, err)
		}
		if got := exitCode(omq.Errorf(code, "x")); got != want {
			t.Errorf("code %d unexplained: exit %d, want %d", code, got, want)
		}
	}
	// Only "nothing answers" is unavailable.
	if got := exitCode(callFailure("s.f", &noInstanceError{err: omq.ErrNoResponders}, 0)); got != exitUnavailable {
		t.Errorf("no responders: exit %d", got)
	}
	// A description that says "not found" is not said twice.
	if msg := callFailure("hub.get", omq.Errorf(404, "notes: not found: no note named %q", "x"), 0).Error(); msg != `hub.get: notes: not found: no note named "x" (404)` {
		t.Errorf("404 message %q", msg)
	}
	if !errors.Is(callFailure("s.f", omq.Errorf(413, "x"), 0), omq.ErrTooLarge) {
		t.Error("the cause is lost")
	}
}

func TestCallArgs_UnknownArgumentName(t *testing.T) {
	m, err := manifests.Parse("t.yml", []byte(`
name: t
functions:
  - funct_name: add
    args_list:
      - {arg_name: a, arg_type: int}
      - {arg_name: b, arg_type: int}
    return_type: int
  - funct_name: count
    args_list:
      - {arg_name: text, arg_type: string}
    return_type: int
`))
	if err != nil {
		t.Fatal(err)
	}
	add, count := m.Function("add"), m.Function("count")
	for _, tc := range []struct {
		f     *manifests.Function
		words []string
		want  string // JSON, or "error: <part of the message>"
	}{
		{add, []string{"a=1", "c=2"}, "error: add has no argument c; did you mean b? usage: add a=INT b=INT"},
		{add, []string{"c=2", "a=1"}, "error: add has no argument c; did you mean b?"},
		{add, []string{"A=1", "b=2"}, "error: add has no argument A; did you mean a?"},
		{add, []string{"1", "2", "zzz=3"}, "error: add has no argument zzz; usage: add a=INT b=INT"},
		{add, []string{"1", "2", "3=3"}, `error: add takes 2 arguments; "3=3" is one value too many`},
		{count, []string{"txt=hello"}, "error: count has no argument txt; did you mean text? (a value with '=' in it is given by name: text=txt=hello)"},
		{count, []string{"x=y"}, `["x=y"]`},         // not a name close to text: a value
		{count, []string{"tex t=y"}, `["tex t=y"]`}, // not a name at all
		{count, []string{"text=txt=1"}, `["txt=1"]`},
	} {
		got, err := callArgs(tc.f, tc.words, "")
		if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) || exitCode(err) != exitUsage {
				t.Errorf("%s %q: %s, %v (exit %d); want usage error %q", tc.f.Name, tc.words, got, err, exitCode(err), want)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %q: %s, %v; want %s", tc.f.Name, tc.words, got, err, tc.want)
		}
	}
}

func TestClosestFunction(t *testing.T) {
	fi := func(svc, fn string) catalog.FunctionInfo {
		return catalog.FunctionInfo{Name: svc + "." + fn, Service: svc, Function: manifests.Function{Name: fn}}
	}
	fs := []catalog.FunctionInfo{fi("extra", "add"), fi("hub", "save"), fi("tst", "add"), fi("tst", "split")}
	for in, want := range map[string]string{
		"Add": "extra.add or tst.add", "tst.ad": "tst.add", "splt": "split", "sav": "save", "nothing": "",
	} {
		if got := closestFunction(in, fs); got != want {
			t.Errorf("closestFunction(%q) = %q, want %q", in, got, want)
		}
	}
}
