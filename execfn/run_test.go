package execfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/omq"
)

// A non-zero exit is a 500 with the status and the last lines of stderr,
// on one line.
func TestRun_NonZeroExit(t *testing.T) {
	_, hs := handlersFor(t, Config{}, `
  - funct_name: fail
    return_type: string
    exec: [sh, -c, 'echo partial; i=1; while [ $i -le 30 ]; do echo "problem $i" >&2; i=$((i+1)); done; exit 3']
  - funct_name: quiet
    exec: ["false"]
  - funct_name: missing
    args_list: [{arg_name: path, arg_type: string}]
    return_type: string
    exec: [cat, --, "{path}"]
  - funct_name: long
    exec: [sh, -c, 'head -c 100000 /dev/zero | tr "\0" x >&2; exit 1']
`)
	_, err := call(t, hs["fail"], "")
	wantCode(t, err, omq.CodeHandlerFailure, "t.fail: sh exited with status 3; stderr: … problem 11 | problem 12 | ", "problem 30")
	if strings.Contains(err.Error(), "problem 10 ") || strings.Contains(err.Error(), "partial") {
		t.Errorf("more than the last 20 lines of stderr, or stdout: %v", err)
	}

	_, err = call(t, hs["quiet"], "")
	wantCode(t, err, omq.CodeHandlerFailure, "t.quiet: false exited with status 1 and wrote nothing to stderr")

	missing := filepath.Join(t.TempDir(), "no such file")
	_, err = call(t, hs["missing"], fmt.Sprintf("[%q]", missing))
	wantCode(t, err, omq.CodeHandlerFailure, "t.missing: cat exited with status 1; stderr: cat: ", missing, "No such file or directory")

	_, err = call(t, hs["long"], "")
	wantCode(t, err, omq.CodeHandlerFailure, "t.long: sh exited with status 1; stderr: … xxx")
	var oe *omq.Error
	if errors.As(err, &oe) && len(oe.Description) > stderrBytes+200 {
		t.Errorf("stderr not bounded: %d bytes of message", len(oe.Description))
	}
}

// The timeout kills the command and everything it started: a background
// sleep in its process group is gone once the call returns.
func TestRun_TimeoutKillsTheProcessGroup(t *testing.T) {
	_, hs := handlersFor(t, Config{}, `
  - funct_name: hang
    args_list: [{arg_name: pidfile, arg_type: string}]
    timeout: 300ms
    exec: [sh, -c, 'echo $$ > "$1"; sleep 60 & sleep 60; echo never', sh, "{pidfile}"]
`)
	pidfile := filepath.Join(t.TempDir(), "pid")
	_, err := call(t, hs["hang"], fmt.Sprintf("[%q]", pidfile))
	wantCode(t, err, omq.CodeHandlerFailure, "t.hang: timed out after 300ms; stopped sh and everything it started")
	pgid := readPID(t, pidfile)
	groupGone(t, pgid)
}

// The call's context ending (the caller's deadline, a stop) kills the
// group too.
func TestRun_ContextEndKillsTheProcessGroup(t *testing.T) {
	_, hs := handlersFor(t, Config{}, `
  - funct_name: hang
    args_list: [{arg_name: pidfile, arg_type: string}]
    exec: [sh, -c, 'echo $$ > "$1"; sleep 60 & sleep 60', sh, "{pidfile}"]
`)
	pidfile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := callCtx(ctx, hs["hang"], fmt.Sprintf("[%q]", pidfile))
		errc <- err
	}()
	pgid := readPID(t, pidfile)
	if len(groupMembers(t, pgid)) == 0 {
		t.Fatal("the command's group is empty while it runs")
	}
	cancel()
	wantCode(t, <-errc, omq.CodeHandlerFailure, "t.hang: the call ended (context canceled) before sh finished; stopped sh and everything it started")
	groupGone(t, pgid)

	// A call whose context has ended starts nothing.
	_, err := callCtx(ctx, hs["hang"], `["/nonexistent/dir/pid"]`)
	wantCode(t, err, omq.CodeHandlerFailure, "before sh started")
}

// What a command leaves running in its group when it exits is killed,
// and the result is not held up by it.
func TestRun_LeftoversAreKilledOnExit(t *testing.T) {
	_, hs := handlersFor(t, Config{}, `
  - funct_name: spawn
    args_list: [{arg_name: pidfile, arg_type: string}]
    return_type: string
    exec: [sh, -c, 'echo $$ > "$1"; sleep 60 & echo started', sh, "{pidfile}"]
`)
	pidfile := filepath.Join(t.TempDir(), "pid")
	v, err := call(t, hs["spawn"], fmt.Sprintf("[%q]", pidfile))
	if err != nil || string(v) != `"started"` {
		t.Fatalf("spawn = %s, %v", v, err)
	}
	groupGone(t, readPID(t, pidfile))
}

// Output past the limit is a 500 saying so, and the command is stopped
// (yes never stops by itself).
func TestRun_OutputLimit(t *testing.T) {
	_, hs := handlersFor(t, Config{MaxOutput: 1000}, `
  - funct_name: exact
    return_type: bytes
    exec: [head, -c, "1000", /dev/zero]
  - funct_name: over
    return_type: bytes
    exec: [head, -c, "1001", /dev/zero]
  - funct_name: endless
    return_type: string_list
    exec: ["yes"]
`)
	v, err := call(t, hs["exact"], "")
	var b []byte
	if err == nil {
		err = json.Unmarshal(v, &b)
	}
	if err != nil || len(b) != 1000 {
		t.Fatalf("exact: %d bytes, %v", len(b), err)
	}
	_, err = call(t, hs["over"], "")
	wantCode(t, err, omq.CodeHandlerFailure, "t.over: head wrote more than 1000 bytes to its output, the most a result may be")
	_, err = call(t, hs["endless"], "")
	wantCode(t, err, omq.CodeHandlerFailure, "t.endless: yes wrote more than 1000 bytes to its output")

	if got := size(DefaultMaxOutput); got != "1 MiB" {
		t.Errorf("size(DefaultMaxOutput) = %q", got)
	}
}

// A result that does not parse is a 500 naming the function, saying what
// was wrong, with stderr if there was any.
func TestRun_ResultThatDoesNotParse(t *testing.T) {
	_, hs := handlersFor(t, Config{}, `
  - funct_name: du
    args_list: [{arg_name: path, arg_type: string}]
    return_type: int
    exec: [du, -sb, --, "{path}"]
  - funct_name: warn
    return_type: int
    exec: [sh, -c, 'echo "careful" >&2; echo many']
`)
	dir := t.TempDir()
	_, err := call(t, hs["du"], fmt.Sprintf("[%q]", dir))
	wantCode(t, err, omq.CodeHandlerFailure, `t.du: the output is not an int: want a whole number, like 42; got "`)
	_, err = call(t, hs["warn"], "")
	wantCode(t, err, omq.CodeHandlerFailure, `t.warn: the output is not an int: want a whole number, like 42; got "many"; stderr: careful`)
}

// Results of each type come through a real process.
func TestRun_Results(t *testing.T) {
	_, hs := handlersFor(t, Config{}, `
  - funct_name: size
    args_list: [{arg_name: path, arg_type: string}]
    return_type: int
    exec: [stat, -c, "%s", --, "{path}"]
  - funct_name: uptime
    return_type: float
    exec: [cut, -d, " ", -f1, /proc/uptime]
  - funct_name: list
    args_list: [{arg_name: dir, arg_type: string}]
    return_type: string_list
    exec: [ls, -A, --, "{dir}"]
  - funct_name: isDir
    args_list: [{arg_name: path, arg_type: string}]
    return_type: bool
    exec: [sh, -c, 'if [ -d "$1" ]; then echo yes; else echo no; fi', sh, "{path}"]
  - funct_name: nothing
    exec: ["true"]
`)
	dir := t.TempDir()
	for _, name := range []string{"b", "a b", "-rf"} {
		writeFile(t, filepath.Join(dir, name), "12345")
	}
	for _, tc := range []struct{ fn, args, want string }{
		{"size", fmt.Sprintf("[%q]", filepath.Join(dir, "a b")), "5"},
		{"isDir", fmt.Sprintf("[%q]", dir), "true"},
		{"isDir", fmt.Sprintf("[%q]", filepath.Join(dir, "b")), "false"},
	} {
		v, err := call(t, hs[tc.fn], tc.args)
		if err != nil || string(v) != tc.want {
			t.Errorf("%s %s = %s, %v; want %s", tc.fn, tc.args, v, err, tc.want)
		}
	}
	// ls sorts by the locale's rules; the order is not the point.
	v, err := call(t, hs["list"], fmt.Sprintf("[%q]", dir))
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(t, v); !reflect.DeepEqual(slices.Sorted(slices.Values(got)), []string{"-rf", "a b", "b"}) {
		t.Errorf("list = %q", got)
	}
	v, err = call(t, hs["uptime"], "")
	var up float64
	if err == nil {
		err = json.Unmarshal(v, &up)
	}
	if err != nil || up <= 0 {
		t.Errorf("uptime = %s, %v", v, err)
	}
	if v, err := call(t, hs["nothing"], ""); err != nil || v != nil {
		t.Errorf("nothing = %s, %v", v, err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A program found at start but gone since fails its calls with a 500
// that names it.
func TestRun_ProgramGoneSinceStart(t *testing.T) {
	script := filepath.Join(t.TempDir(), "hello.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, hs := handlersFor(t, Config{}, fmt.Sprintf(`
  - funct_name: hello
    return_type: string
    exec: [%q]
`, script))
	if v, err := call(t, hs["hello"], ""); err != nil || string(v) != `"hello"` {
		t.Fatalf("hello = %s, %v", v, err)
	}
	if err := os.Remove(script); err != nil {
		t.Fatal(err)
	}
	_, err := call(t, hs["hello"], "")
	wantCode(t, err, omq.CodeHandlerFailure, "t.hello: cannot run "+script+": ", "no such file or directory")
}
