package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// Globals are the flags every command takes.
type Globals struct {
	NATS    string        `name:"nats" help:"Hub URL(s), comma-separated (default: this machine's DPC profile, else nats://127.0.0.1:4222)." env:"NATS_URL" placeholder:"URL"`
	Creds   string        `name:"creds" help:"NATS credentials file of this device's identity (default: the profile's, in $DPC_HOME or ~/.config/dpc)." env:"DPC_CREDS" type:"existingfile" placeholder:"FILE"`
	TLSCA   string        `name:"tls-ca" help:"PEM CA of the hub (default: the profile's)." env:"DPC_TLS_CA" type:"existingfile" placeholder:"FILE"`
	Timeout time.Duration `help:"Timeout of catalog queries and of calls; a function's manifest timeout overrides it for that function." default:"5s"`
	JSON    bool          `name:"json" help:"Machine-readable JSON output."`
	App     string        `help:"Application whose functions to use (interactive mode and funcs)." placeholder:"APP"`
}

// CLI is dpc-cli's command line.
type CLI struct {
	Globals

	Shell     ShellCmd     `cmd:"" default:"1" help:"Interactive menus of applications and functions, like the thesis's K-app (the default)."`
	Apps      AppsCmd      `cmd:"" help:"List the applications the live services name."`
	Funcs     FuncsCmd     `cmd:"" help:"List the functions an application may use (--app; all without it)."`
	Describe  DescribeCmd  `cmd:"" help:"Show one function: arguments, result, service, options."`
	Call      CallCmd      `cmd:"" help:"Call a function and print its result."`
	MultiCall MultiCallCmd `cmd:"" name:"multi-call" help:"Call a function on every instance of its service and print each reply."`
	Status    StatusCmd    `cmd:"" help:"Show the live services, their instances and load."`
	Notes     NotesCmd     `cmd:"" help:"Save, get and merge notes on the hub; the device remembers the revision it last saw."`
	Devices   DevicesCmd   `cmd:"" help:"Pair new devices, services and agents; list and revoke identities (owner only)."`
	Dead      DeadCmd      `cmd:"" help:"List, replay and purge dead letters: durable calls that could not succeed (owner only)."`
	Pair      PairCmd      `cmd:"" help:"Pair this machine with a hub, using a code from the owner's 'devices add'."`
}

// streams are what a command reads and writes, and the interrupts it
// sees: os.Stdin, os.Stdout, os.Stderr and SIGINT in main, pipes and a
// channel in tests.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
	// interrupts delivers one value per Ctrl-C. The interactive mode
	// cancels the call in progress with it; other commands stop.
	interrupts <-chan struct{}
}

// kongExit carries kong's exit code (after --help, say) out of the parser.
type kongExit int

// run parses args and runs the command; it returns the exit code. It never
// calls os.Exit, so tests run it in-process.
func run(ctx context.Context, args []string, s streams) (code int) {
	var cli CLI
	parser, err := kong.New(&cli,
		kong.Name("dpc-cli"),
		kong.Description("The DPC client: call the functions of the hub and of the services plugged into it.\n\n"+
			"Without a command it runs interactively. Arguments of call and multi-call are NAME=VALUE or plain values in order, typed by the function's manifest; "+
			"give values that start with '-' after --, e.g. dpc-cli call add -- -3 4.\n\n"+exitCodesHelp),
		kong.Writers(s.out, s.err),
		kong.Exit(func(c int) { panic(kongExit(c)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintln(s.err, "dpc-cli:", err)
		return exitError
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintln(s.err, "dpc-cli:", err)
		var pe *kong.ParseError
		if errors.As(err, &pe) {
			fmt.Fprintf(s.err, "dpc-cli: run %q for help\n", strings.Join(append([]string{"dpc-cli"}, append(commandOf(pe.Context), "--help")...), " "))
		}
		return exitUsage
	}
	if cli.Timeout <= 0 {
		fmt.Fprintln(s.err, "dpc-cli: --timeout must be positive, like 5s")
		return exitUsage
	}
	if kctx.Command() != "shell" {
		// Outside the interactive mode Ctrl-C stops the command.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-s.interrupts:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&cli.Globals, s)
	if err == nil {
		return exitOK
	}
	code = exitCode(err)
	msg := err.Error()
	if code == exitInterrupted && !strings.Contains(msg, "interrupt") {
		msg = "interrupted"
	}
	fmt.Fprintln(s.err, "dpc-cli:", msg)
	return code
}

// commandOf is the words of the command being parsed: "notes", "save".
func commandOf(ctx *kong.Context) []string {
	if ctx == nil {
		return nil
	}
	var words []string
	for _, p := range ctx.Path {
		if p.Command != nil {
			words = append(words, p.Command.Name)
		}
	}
	return words
}
