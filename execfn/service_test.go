package execfn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/execfn"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
)

const notesManifest = `name: jot
version: 1.0.0
functions:
  - funct_name: append
    args_list:
      - {arg_name: file, arg_type: string}
      - {arg_name: line, arg_type: string}
    exec: [sh, -c, 'printf "%s\n" "$2" >> "$1"', sh, "{file}", "{line}"]
  - funct_name: count
    args_list:
      - {arg_name: file, arg_type: string}
    return_type: int
    idempotent: true
    exec: [sh, -c, 'wc -l < "$1"', sh, "{file}"]
  - funct_name: add
    args_list:
      - {arg_name: a, arg_type: int}
      - {arg_name: b, arg_type: int}
    return_type: int
    exec: [expr, "{a}", "+", "{b}"]
`

// Commands are hosted the way Go services are: through servicehost, with
// the manifest's checks, $SRV metadata, concurrency and the durable lane.
func TestService_HostedLikeAGoService(t *testing.T) {
	m, err := manifests.ParseWith("jot.yml", []byte(notesManifest), manifests.Options{CheckProgram: execfn.CheckProgram})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := execfn.Service(m, execfn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := brokertest.Start(t)
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := servicehost.Bind(ctx, node, svc, servicehost.Config{Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	jot := node.Lookup("jot")

	var sum int
	if err := jot.Call(ctx, "add", omq.Args(40, 2), &sum); err != nil || sum != 42 {
		t.Fatalf("add(40, 2) = %d, %v", sum, err)
	}
	if err := jot.Call(ctx, "add", map[string]int{"b": -2, "a": 40}, &sum); err != nil || sum != 38 {
		t.Fatalf("add by name = %d, %v", sum, err)
	}

	// A bad argument is a 400 before anything runs.
	file := filepath.Join(t.TempDir(), "notes")
	err = jot.Call(ctx, "append", omq.Args(file, 5), nil)
	if !errors.Is(err, omq.ErrBadArguments) || !strings.Contains(err.Error(), `"line"`) {
		t.Fatalf("append(file, 5): %v, want a 400 naming the argument", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the command ran for a bad call: %v", err)
	}

	// Calls at once, each its own process.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			errs <- jot.Call(ctx, "append", omq.Args(file, fmt.Sprintf("line %d; $(id)", i)), nil)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := jot.Call(ctx, "count", omq.Args(file), &n); err != nil || n != 8 {
		t.Fatalf("count = %d, %v; want 8", n, err)
	}

	// The durable lane: kept until an instance runs it.
	if err := jot.Send(ctx, "append", omq.Args(file, "durable"), omq.Durable()); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 30*time.Second, func() bool {
		b, _ := os.ReadFile(file)
		return strings.Contains(string(b), "durable\n")
	}, "the durable call to run")

	// $SRV metadata carries the manifest, without the commands.
	infos, err := node.Ping(ctx, "jot")
	if err != nil || len(infos) != 1 {
		t.Fatalf("ping: %v, %v", infos, err)
	}
	if md := infos[0].Metadata["dpc.manifest"]; !strings.Contains(md, `"funct_name":"append"`) || strings.Contains(md, "exec") || strings.Contains(md, "wc -l") {
		t.Errorf("$SRV metadata manifest: %s", md)
	}
}

// Service needs a command for every function; a program missing on this
// host is a problem at the manifest's line.
func TestService_Refusals(t *testing.T) {
	m, err := manifests.Parse("t.yml", []byte("name: t\nfunctions:\n  - funct_name: a\n    exec: [uptime]\n  - funct_name: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := execfn.Service(m, execfn.Config{}); err == nil || !strings.Contains(err.Error(), "execfn: t: functions[1] (b) has no exec") {
		t.Errorf("a function without exec: %v", err)
	}

	dir := t.TempDir()
	notExec := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "t.yml")
	y := fmt.Sprintf("name: t\nfunctions:\n  - funct_name: a\n    exec: [no-such-program-dpc, x]\n  - funct_name: b\n    exec: [%s]\n  - funct_name: c\n    exec: [%s/nope]\n", notExec, dir)
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = manifests.LoadWith(file, manifests.Options{CheckProgram: execfn.CheckProgram})
	for _, want := range []string{
		file + `:4: functions[0].exec[0]: program "no-such-program-dpc" is not on this host: not found in PATH (`,
		file + `:6: functions[1].exec[0]: program "` + notExec + `" is not executable`,
		file + `:8: functions[2].exec[0]: program "` + dir + `/nope" does not exist`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant a problem %q", err, want)
		}
	}

	if _, err := execfn.Handlers(m, execfn.Config{PassEnv: []string{"DPC_CREDS"}}); err == nil || !strings.Contains(err.Error(), "will not pass DPC_CREDS") {
		t.Errorf("PassEnv DPC_CREDS: %v", err)
	}
}
