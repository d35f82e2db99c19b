package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/hubconn"
)

// Globals are the flags every command takes.
type Globals struct {
	NATS    string        `name:"nats" help:"Hub URL(s), comma-separated (default: ${hub_default=this machine's DPC profile, else the hub found on the LAN, else nats://127.0.0.1:4222})." env:"NATS_URL" placeholder:"URL"`
	Creds   string        `name:"creds" help:"NATS credentials file of this device's identity (default: the profile's, in $DPC_HOME or ~/.config/dpc)." env:"DPC_CREDS" type:"existingfile" placeholder:"FILE"`
	TLSCA   string        `name:"tls-ca" help:"PEM CA of the hub (default: the profile's)." env:"DPC_TLS_CA" type:"existingfile" placeholder:"FILE"`
	Timeout time.Duration `help:"Timeout of catalog queries and of calls. Given, it applies to every call; not given, a function whose manifest sets a timeout gets that one, the others this default." default:"5s" env:"DPC_CLI_TIMEOUT"`
	JSON    bool          `name:"json" help:"Machine-readable JSON output." env:"DPC_CLI_JSON"`
	App     string        `help:"Application whose functions to use (interactive mode and funcs)." placeholder:"APP" env:"DPC_CLI_APP"`

	// timeoutSet: --timeout was given (not its default), so it wins over
	// the manifests' timeouts.
	timeoutSet bool `kong:"-"`
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
	Logs      LogsCmd      `cmd:"" help:"Show the log records of every hub, service, agent and provisioner, merged in time order; -f follows."`
	Pair      PairCmd      `cmd:"" help:"Pair this machine with a hub, using a code from the owner's 'devices add'."`
	Hubs      HubsCmd      `cmd:"" help:"List the hubs that announce themselves on the LAN (multicast DNS), and which one this machine paired with."`
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
		kong.Vars(hubconn.HelpVars()),
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
		// The error, then where help is (as the server commands do, in
		// internal/command): not the whole help, which would push the one
		// line that matters off the screen.
		var pe *kong.ParseError
		var words []string
		if errors.As(err, &pe) {
			words = commandOf(pe.Context)
		}
		if cli.JSON || jsonRequested(args) {
			writeJSONError(s.err, err, exitUsage, err.Error())
			return exitUsage
		}
		usageError(s.err, err, words)
		return exitUsage
	}
	if cli.Timeout <= 0 {
		err := errors.New("--timeout must be positive, like 5s")
		if cli.JSON {
			writeJSONError(s.err, err, exitUsage, err.Error())
			return exitUsage
		}
		usageError(s.err, err, nil)
		return exitUsage
	}
	cli.timeoutSet = flagGiven(kctx, "timeout")
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
	if cli.JSON { // a JSON object instead of the line (output.go)
		writeJSONError(s.err, err, code, msg)
		return code
	}
	fmt.Fprintln(s.err, "dpc-cli:", msg)
	return code
}

// usageError prints a usage error and where the help of the command
// (words: "notes", "save") is.
func usageError(w io.Writer, err error, words []string) {
	fmt.Fprintf(w, "dpc-cli: %v\nRun '%s' for usage.\n", err, strings.Join(append(append([]string{"dpc-cli"}, words...), "--help"), " "))
}

// flagGiven says whether the flag was given, on the command line or by
// its environment variable, rather than left at its default.
func flagGiven(kctx *kong.Context, name string) bool {
	for _, p := range kctx.Path {
		if p.Flag != nil && p.Flag.Name == name {
			return true
		}
	}
	for _, f := range kctx.Flags() {
		if f.Name != name || f.Tag == nil {
			continue
		}
		for _, env := range f.Tag.Envs {
			if _, ok := os.LookupEnv(env); ok {
				return true
			}
		}
	}
	return false
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
