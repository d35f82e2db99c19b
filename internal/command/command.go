// Package command is the frame DPC's server commands (dpc-hub,
// dpc-service, dpc-agent, dpc-provisioner) share: kong parsing, a context
// that SIGINT or SIGTERM ends (a second signal ends the process at once),
// and one convention for exit codes — 0 when stopped by a signal, 2 for
// bad usage or a bad config file, 1 for any other error.
package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// UsageError marks an error as the user's arguments' or config file's:
// the command exits 2 without having started anything.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage wraps err (if not nil) as a UsageError.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return UsageError{err}
}

// Runner is a command's parsed arguments.
type Runner interface {
	Run(ctx context.Context) error
}

// Reloader is a Runner that can take new settings while it runs: SIGHUP
// calls Reload. Commands without it ignore SIGHUP rather than die of it.
type Reloader interface {
	Reload() error
}

// Main parses the arguments into cli, runs it until SIGINT or SIGTERM, and
// exits with the code the error calls for.
func Main(name string, cli Runner, opts ...kong.Option) {
	parser, err := kong.New(cli, append([]kong.Option{
		kong.Name(name),
		// Bad usage exits 2, as with dpc-cli and Go's flag package (kong
		// would use 80).
		kong.Exit(func(code int) {
			if code == 80 {
				code = 2
			}
			os.Exit(code)
		}),
	}, opts...)...)
	if err != nil {
		panic(err) // the command's own flag definitions are wrong
	}
	if _, err := parser.Parse(os.Args[1:]); err != nil {
		// The error, then where help is: not the whole help first, which
		// would push the one line that matters off the screen.
		fmt.Fprintf(os.Stderr, "%s: %v\nRun '%s --help' for usage.\n", name, err, name)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the command winds down (stops its processes,
	// finishes calls); a second one ends it at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if r, ok := cli.(Reloader); ok {
				if err := r.Reload(); err != nil {
					fmt.Fprintf(os.Stderr, "%s: reload: %v\n", name, err)
				}
			}
		}
	}()
	if err := cli.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		if errors.As(err, new(UsageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
