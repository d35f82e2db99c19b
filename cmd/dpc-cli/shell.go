package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// ShellCmd is the interactive mode, after the thesis's K-app: a menu of
// applications, then a menu of the functions the application may use
// (built-in and extra alike) with quit, change_app and refresh; each
// argument is asked for by its description and checked by its type; the
// result is printed. A function whose service has gone is reported as not
// available and the menu refreshed.
//
// It reads lines with bufio, so it works on a pipe as on a terminal. EOF
// (Ctrl-D) ends it with exit code 0. Ctrl-C during a call cancels that
// call, while typing an argument abandons the function, and at a menu
// ends the session (exit code 130). The connection reconnects for as long
// as the session lasts, so a restarted hub does not end it.
type ShellCmd struct{}

func (c *ShellCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, err := g.connect(connectOptions{persistent: true, notices: s.err})
	if err != nil {
		return err
	}
	defer cl.Close()
	done := make(chan struct{})
	defer close(done)
	sh := &shell{
		cl:         cl,
		json:       g.JSON,
		out:        s.out,
		lines:      readLines(s.in, done),
		interrupts: s.interrupts,
		cache:      newResultCache(time.Now),
	}
	err = sh.run(ctx, g.App)
	switch {
	case errors.Is(err, errQuit), errors.Is(err, io.EOF):
		return nil
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(sh.out)
		return &cliError{code: exitInterrupted, msg: "interrupted", err: context.Canceled}
	}
	return err
}

var (
	errQuit        = errors.New("quit")
	errInterrupted = errors.New("interrupted")
	errChangeApp   = errors.New("change app")
)

// readLines delivers the lines of r, without their line ends, until EOF
// (then the channel closes) or until done is closed.
func readLines(r io.Reader, done <-chan struct{}) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSuffix(sc.Text(), "\r"):
			case <-done:
				return
			}
		}
	}()
	return lines
}

type shell struct {
	cl         *client
	json       bool
	out        io.Writer
	lines      <-chan string
	interrupts <-chan struct{}
	cache      *resultCache

	app   string // "" for every function
	fns   []catalog.FunctionInfo
	names []string // display names of fns
}

// input prints prompt and returns the next line; io.EOF at the end of the
// input, errInterrupted on Ctrl-C.
func (sh *shell) input(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(sh.out, prompt)
	select {
	case line, ok := <-sh.lines:
		if !ok {
			fmt.Fprintln(sh.out)
			return "", io.EOF
		}
		return line, nil
	case <-sh.interrupts:
		return "", errInterrupted
	case <-sh.cl.refused:
		fmt.Fprintln(sh.out)
		return "", &cliError{code: exitDenied, msg: fmt.Sprintf("the hub at %s no longer accepts this device's credentials (revoked?)", sh.cl.url)}
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (sh *shell) run(ctx context.Context, app string) error {
	first := true
	for {
		if app == "" {
			var err error
			if app, err = sh.chooseApp(ctx, first); err != nil {
				return err
			}
		}
		first = false
		err := sh.functions(ctx, app)
		if !errors.Is(err, errChangeApp) {
			return err
		}
		app = ""
	}
}

// allApps stands for "every function" when no service names an
// application.
const allApps = "*"

// chooseApp shows the applications and returns the one chosen. At the
// start of the session a hub that does not answer ends it, as K-app did;
// later the menu offers to try again.
func (sh *shell) chooseApp(ctx context.Context, first bool) (string, error) {
	for {
		apps, err := sh.cl.apps(ctx)
		if err != nil {
			if first {
				return "", err
			}
			fmt.Fprintf(sh.out, "Could not list the applications: %v\n", err)
		}
		entries := append([]string{"quit"}, apps...)
		if err == nil && len(apps) == 0 {
			entries = append(entries, "all functions (no service names an application)")
		}
		fmt.Fprintln(sh.out)
		fmt.Fprintln(sh.out, "Available applications:")
		printMenu(sh.out, entries)
		for {
			line, err := sh.input(ctx, "Select application (enter application number): ")
			if err != nil {
				return "", err
			}
			if strings.TrimSpace(line) == "" {
				break // show the menu again, fetched afresh
			}
			i, ok := menuChoice(line, len(entries))
			switch {
			case !ok:
				fmt.Fprintf(sh.out, "Invalid choice %q: enter a number from 0 to %d (or nothing to list the applications again).\n", strings.TrimSpace(line), len(entries)-1)
				continue
			case i == 0:
				fmt.Fprintln(sh.out, "Quitting...")
				return "", errQuit
			case i > len(apps):
				return allApps, nil
			}
			return apps[i-1], nil
		}
	}
}

// Fixed entries of the functions menu.
const (
	entryQuit = iota
	entryChangeApp
	entryRefresh
	fixedEntries
)

// functions runs the functions menu of app until quit or change_app.
func (sh *shell) functions(ctx context.Context, app string) error {
	sh.app = app
	if err := sh.refresh(ctx); err != nil {
		return err
	}
	for {
		sh.printFunctions()
		if err := sh.selectFunction(ctx); err != nil {
			return err
		}
	}
}

// refresh fetches the app's functions. A hub that does not answer leaves
// the list as it was, with a message.
func (sh *shell) refresh(ctx context.Context) error {
	app := sh.app
	if app == allApps {
		app = ""
	}
	fns, err := sh.cl.funcs(ctx, app)
	if errors.Is(err, context.Canceled) {
		return err
	}
	if err != nil {
		fmt.Fprintf(sh.out, "Could not refresh the functions: %v\n", err)
		return nil
	}
	sh.fns, sh.names = fns, displayNames(fns)
	return nil
}

func (sh *shell) printFunctions() {
	app := sh.app
	if app == allApps {
		app = "all applications"
	}
	fmt.Fprintln(sh.out)
	fmt.Fprintf(sh.out, "Available functionality for %s:\n", app)
	printMenu(sh.out, append([]string{"quit", "change_app", "refresh"}, sh.names...))
}

// selectFunction asks for one menu choice and carries it out; it returns
// an error only to leave the menu.
func (sh *shell) selectFunction(ctx context.Context) error {
	n := fixedEntries + len(sh.fns)
	for {
		line, err := sh.input(ctx, "Select functionality: ")
		if err != nil {
			return err
		}
		if strings.TrimSpace(line) == "" {
			return nil // show the menu again
		}
		i, ok := menuChoice(line, n)
		if !ok {
			fmt.Fprintf(sh.out, "Invalid choice %q: enter a number from 0 to %d.\n", strings.TrimSpace(line), n-1)
			continue
		}
		switch i {
		case entryQuit:
			fmt.Fprintln(sh.out, "Quitting...")
			return errQuit
		case entryChangeApp:
			return errChangeApp
		case entryRefresh:
			return sh.refresh(ctx)
		}
		return sh.invoke(ctx, i-fixedEntries)
	}
}

// invoke asks for the arguments of function i, calls it and prints the
// result or what went wrong.
func (sh *shell) invoke(ctx context.Context, i int) error {
	fi, name := sh.fns[i], sh.names[i]
	f := fi.Function
	args, err := sh.askArgs(ctx, &f)
	if errors.Is(err, errInterrupted) {
		fmt.Fprintln(sh.out)
		fmt.Fprintf(sh.out, "Cancelled %s().\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	if res, ok := sh.cache.get(fi.Name, args); ok {
		sh.printResult(f, res, " (cached)")
		return nil
	}
	res, err := sh.call(ctx, fi, args)
	if err == nil {
		if f.Cacheable != nil {
			sh.cache.put(fi.Name, args, res, f.Cacheable.TTL.D())
		}
		sh.printResult(f, res, "")
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintln(sh.out)
	var re *omq.Error
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(sh.out, "Call of %s() cancelled.\n", name)
	case errors.Is(err, omq.ErrNoResponders), errors.Is(err, omq.ErrUnknownFunction):
		fmt.Fprintf(sh.out, "Error when calling %s()\n", name)
		fmt.Fprintln(sh.out, "This functionality is not available at the moment.")
		return sh.refresh(ctx)
	case errors.Is(err, omq.ErrTimeout):
		fmt.Fprintf(sh.out, "Error when calling %s(): no reply within %s (timeout).\n", name, sh.cl.timeoutFor(f))
	case errors.As(err, &re) && re.Code == codeConflict:
		fmt.Fprintf(sh.out, "Error when calling %s(): conflict (409): %s\n", name, re.Description)
		fmt.Fprintln(sh.out, "The call was refused because what it was based on has changed meanwhile (for a note: another device saved a newer revision). Get the latest, or merge your edit, and try again.")
	case errors.As(err, &re):
		fmt.Fprintf(sh.out, "Error when calling %s(): %s\n", name, codeText(re))
	default:
		fmt.Fprintf(sh.out, "Error when calling %s(): %v\n", name, err)
	}
	return nil
}

// codeText is an error reply as "bad arguments (400): …".
func codeText(re *omq.Error) string {
	what := "error"
	switch re.Code {
	case omq.CodeBadArguments:
		what = "bad arguments"
	case omq.CodeUnknownFunction:
		what = "unknown function"
	case omq.CodeHandlerFailure:
		what = "the service failed"
	}
	return fmt.Sprintf("%s (%d): %s", what, re.Code, re.Description)
}

// call calls fi; Ctrl-C meanwhile cancels the call.
func (sh *shell) call(ctx context.Context, fi catalog.FunctionInfo, args json.RawMessage) (json.RawMessage, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-sh.interrupts:
			cancel()
		case <-finished:
		}
	}()
	return sh.cl.call(cctx, fi, args)
}

// askArgs asks for each argument, "Please input a (first number): ",
// until what is typed fits the argument's type.
func (sh *shell) askArgs(ctx context.Context, f *manifests.Function) (json.RawMessage, error) {
	if len(f.Args) == 0 {
		return nil, nil
	}
	vals := make([]json.RawMessage, len(f.Args))
	for i, a := range f.Args {
		what := a.Description
		if what == "" {
			what = string(a.Type)
		}
		for {
			line, err := sh.input(ctx, fmt.Sprintf("Please input %s (%s): ", a.Name, what))
			if err != nil {
				return nil, err
			}
			v, err := manifests.ParseValue(a.Type, line)
			if err == nil {
				vals[i] = v
				break
			}
			fmt.Fprintf(sh.out, "Invalid %s for %s: %v. Please try again.\n", a.Type, a.Name, err)
		}
	}
	return json.Marshal(vals)
}

func (sh *shell) printResult(f manifests.Function, res json.RawMessage, note string) {
	switch {
	case f.ReturnType == manifests.TypeNone:
		fmt.Fprintf(sh.out, "Done.%s\n", note)
	case sh.json:
		fmt.Fprintf(sh.out, "Result: %s%s\n", jsonResult(res), note)
	default:
		fmt.Fprintf(sh.out, "Result: %s%s\n", manifests.FormatValue(f.ReturnType, res), note)
	}
}

// printMenu prints numbered entries, numbers right-aligned.
func printMenu(w io.Writer, entries []string) {
	width := len(strconv.Itoa(len(entries) - 1))
	for i, e := range entries {
		fmt.Fprintf(w, "  %*d %s\n", width, i, e)
	}
}

// menuChoice reads a menu number from 0 to n-1.
func menuChoice(line string, n int) (int, bool) {
	i, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || i < 0 || i >= n {
		return 0, false
	}
	return i, true
}
