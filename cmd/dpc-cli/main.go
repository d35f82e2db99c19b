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
// The menu is read from the hub's catalog each time it is drawn, so it
// follows services as they go and come back and says what changed; a
// function whose service does not answer is reported as soon as it is
// chosen, before its arguments are asked for; a cached result shows its
// age.
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
//	dpc-cli notes merge FILE [--name N] [--base REV] [-o FILE|-]
//	dpc-cli notes list
//	dpc-cli notes history NAME
//	dpc-cli dead list [--service S]      durable calls that could not succeed (owner only)
//	dpc-cli dead replay ID...|--all [--service S]
//	dpc-cli dead purge ID...|--all [--service S]
//	dpc-cli logs [-f] [--service S] [--instance I] [--level L] [--since D] [--trace ID]
//	                                      every DPC process's log records, merged in time order
//
// NAME is a function's plain name, or service.function when several
// services have one of that name. Every command takes --json for
// machine-readable output. The notes commands remember, per note, the
// revision this device last saw ($XDG_STATE_HOME/dpc/notes.json, or
// --state), and save on top of it: a note changed elsewhere meanwhile is a
// conflict, resolved with notes merge. A merge whose sides changed the
// same lines saves nothing: it leaves the text with conflict markers in
// the file and exits 5, and notes save takes the file once resolved.
//
// A call's timeout is --timeout when given, else the function's own from
// its manifest (a default, not a floor), else 5s.
//
// Exit codes (an error the service returns keeps its own meaning; only
// "nothing answers" is unavailable):
//
//	0    ok
//	1    error: the service failed (500), or answered a code of its own
//	     (shown in the message)
//	2    bad usage or bad arguments, also a 400 or 413 from the service
//	     and an ambiguous function name
//	3    unavailable, try again later: no instance answers (after a
//	     short wait for one), the hub is unreachable, or the service
//	     cannot serve for now (503)
//	4    timeout
//	5    conflict (409): the note changed since the revision you edited,
//	     or a merge has conflicts to resolve (nothing saved)
//	6    denied: the hub refused this identity or what its role asked,
//	     or the service refused the caller (401, 403)
//	7    not found: no such function or application in the catalog
//	     (with the names probably meant), or the service found no such
//	     thing (404: a note, say)
//	130  interrupted (Ctrl-C)
//
// Errors go to stderr, prefixed "dpc-cli: "; a usage error is followed
// by where the help is, not by the help. With --json an error is one JSON
// object on stderr instead: {"error": {"message", "exit", "code" (the
// service's, if it refused), "details" (the command's, if any)}}.
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
