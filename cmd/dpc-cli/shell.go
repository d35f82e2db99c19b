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
// result is printed.
//
// Each menu is read afresh from the catalog when it is drawn, so it
// follows services that come and go without refresh, saying what changed
// ("tst is back."; see catalogView). A function whose service no instance
// answers is said to be not available as soon as it is chosen, before its
// arguments are asked for; results of cacheable functions are kept for
// the session and shown labelled as cached, with their age, also while
// their service is not available.
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
	view       catalogView

	app   string                 // allApps for every function
	fns   []catalog.FunctionInfo // the functions menu as drawn
	names []string               // display names of fns
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
		if err := sh.refresh(ctx, allApps, false); err != nil && first {
			return "", err
		}
		apps := sh.view.apps()
		entries := append([]string{"quit"}, apps...)
		if sh.view.read && len(apps) == 0 {
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

// functions runs the functions menu of app until quit or change_app. The
// menu is read afresh each time it is drawn.
func (sh *shell) functions(ctx context.Context, app string) error {
	sh.app = app
	for {
		if err := sh.refresh(ctx, app, true); errors.Is(err, context.Canceled) {
			return err
		}
		sh.fns = sh.view.functions(app)
		sh.names = displayNames(sh.fns)
		sh.printFunctions()
		if err := sh.selectFunction(ctx); err != nil {
			return err
		}
	}
}

// refresh reads the catalog for a menu about to be drawn (of app's
// functions, or with withFunctions false of the applications) and says
// what has changed since the last menu. A hub that cannot be reached or
// does not answer leaves the lists as they were, with a message; the error
// is returned too.
func (sh *shell) refresh(ctx context.Context, app string, withFunctions bool) error {
	err := sh.view.update(ctx, sh.cl)
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, errHubUnreachable) && sh.view.read:
		fmt.Fprintln(sh.out, "The hub is not reachable at the moment: the menu below is as it was.")
	case err != nil && sh.view.read:
		fmt.Fprintf(sh.out, "Could not refresh the menu: %v\n", err)
	case err != nil:
		fmt.Fprintf(sh.out, "Could not read the catalog: %v\n", err)
	}
	for _, c := range sh.view.changes(app, withFunctions) {
		fmt.Fprintln(sh.out, c)
	}
	for _, s := range sh.view.silentServices(app) {
		fmt.Fprintf(sh.out, "%s does not answer at the moment: its functions are not available.\n", s)
	}
	return err
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
			return nil // the menu is read again as it is drawn
		}
		return sh.invoke(ctx, i-fixedEntries)
	}
}

// invoke checks that function i's service answers, asks for the
// arguments, and prints the result — from the cache if it has one, else
// from a call — or what went wrong. While the service is not available,
// only cached results can be shown.
func (sh *shell) invoke(ctx context.Context, i int) error {
	fi, name := sh.fns[i], sh.names[i]
	f := fi.Function
	up, why, err := sh.available(ctx, fi.Service, fi.Asleep)
	if errors.Is(err, errInterrupted) {
		fmt.Fprintln(sh.out)
		fmt.Fprintf(sh.out, "Cancelled %s().\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	if up && why != "" {
		fmt.Fprintf(sh.out, "%s is asleep, %s: the call wakes it and waits for it (up to %s).\n", fi.Service, why, sh.cl.callTimeout(fi))
	}
	if !up {
		fmt.Fprintf(sh.out, "%s is not available at the moment: %s.\n", name, why)
		if !sh.cache.has(fi.Name) {
			return nil
		}
		fmt.Fprintln(sh.out, "Its results cached earlier in this session can still be shown.")
	}
	args, err := sh.askArgs(ctx, &f)
	if errors.Is(err, errInterrupted) {
		fmt.Fprintln(sh.out)
		fmt.Fprintf(sh.out, "Cancelled %s().\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	if res, age, ok := sh.cache.lookup(fi.Name, args); ok {
		note := " (cached " + ago(age)
		if !up {
			note += "; the service is not available"
		}
		sh.printResult(f, res, note+")")
		return nil
	}
	if !up {
		fmt.Fprintf(sh.out, "No result of %s for these arguments is cached; the service is not available.\n", name)
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
		if errors.Is(err, omq.ErrNoResponders) { // it went between the check and the call
			sh.view.markSilent(fi.Service)
		}
		fmt.Fprintf(sh.out, "Error when calling %s()\n", name)
		fmt.Fprintln(sh.out, "This functionality is not available at the moment.")
	case errors.Is(err, omq.ErrTimeout):
		fmt.Fprintf(sh.out, "Error when calling %s(): no reply within %s (timeout).\n", name, sh.cl.callTimeout(fi))
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
func (sh *shell) call(ctx context.Context, fi catalog.FunctionInfo, args json.RawMessage) (res json.RawMessage, err error) {
	sh.interruptibly(ctx, func(ctx context.Context) { res, err = sh.cl.call(ctx, fi, args) })
	return res, err
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
