// Command dpc-cli is the DPC client: it calls the functions of the hub and
// of the extra services plugged into it, over NATS. It finds them in the
// hub's catalog, so a service started a moment ago is callable at once,
// with the argument types, timeout and retry policy of its manifest.
//
// Without a command it runs interactively, as the thesis's K-app did: a
// menu of applications, then of the functions the application may use,
// each argument asked for by its description:
//
//	$ dpc-cli
//	Available applications:
//	  0 quit
//	  1 notes
//	Select application (enter application number): 1
//	…
//	Select functionality: 12
//	Please input a (first number): 45
//	Please input b (second number): 38
//	Result: 83
//
// For scripts:
//
//	dpc-cli apps                          applications named by the live services
//	dpc-cli funcs [--app A]               functions an application may use
//	dpc-cli describe NAME                 one function: arguments, result, options
//	dpc-cli call NAME [ARG...]            call a function; ARG is NAME=VALUE or a plain value
//	dpc-cli call NAME --args-json '[1,2]' arguments as JSON (array by position, object by name)
//	dpc-cli multi-call NAME [ARG...]      call every instance, print each reply
//	dpc-cli status                        services, instances, their load
//	dpc-cli notes save FILE [--name N] [--base REV]
//	dpc-cli notes get NAME [--revision R] [-o FILE]
//	dpc-cli notes merge FILE [--name N] [--base REV]
//	dpc-cli notes list
//	dpc-cli notes history NAME
//	dpc-cli dead list [--service S]      durable calls that could not succeed (owner only)
//	dpc-cli dead replay ID...|--all [--service S]
//	dpc-cli dead purge ID...|--all [--service S]
//
// NAME is a function's plain name, or service.function when several
// services have one of that name. Every command takes --json for
// machine-readable output. The notes commands remember, per note, the
// revision this device last saw ($XDG_STATE_HOME/dpc/notes.json, or
// --state), and save on top of it: a note changed elsewhere meanwhile is a
// conflict, resolved with notes merge.
//
// Exit codes:
//
//	0    ok
//	1    error (a service failed, a note not found, …)
//	2    bad usage or bad arguments, also a 400 from the service and an
//	     ambiguous function name
//	3    unavailable: no instance answers, the function is not in the
//	     catalog, or the hub is unreachable
//	4    timeout
//	5    conflict (409): the note changed since the revision you edited
//	130  interrupted (Ctrl-C)
//
// Errors go to stderr, prefixed "dpc-cli: ".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// SIGINT is not a cancellation of everything: the interactive mode
	// cancels only the call in progress.
	sigint := make(chan os.Signal, 1)
	signal.Notify(sigint, os.Interrupt)
	interrupts := make(chan struct{})
	go func() {
		for range sigint {
			select {
			case interrupts <- struct{}{}:
			default: // nobody is listening: nothing to interrupt
			}
		}
	}()
	code := run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr, interrupts: interrupts})
	stop()
	os.Exit(code)
}
