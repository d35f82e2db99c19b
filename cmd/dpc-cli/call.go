package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// CallCmd calls one function.
type CallCmd struct {
	Name     string   `arg:"" help:"Function: its plain name, or service.function when several services have it."`
	Args     []string `arg:"" optional:"" help:"Arguments: NAME=VALUE, or plain values in the manifest's order; a stream argument is a file, @PATH."`
	ArgsJSON string   `name:"args-json" help:"Arguments as JSON instead: an object by name or an array by position." placeholder:"JSON"`
	Out      string   `name:"out" short:"o" help:"Write a stream result to FILE instead of standard output." placeholder:"FILE" type:"path"`
	Trace    bool     `name:"trace" help:"Trace the call and show where the time went (on standard error; in the output with --json): each call, nested calls indented, with its instance, total, queue wait, handler time and hops." env:"DPC_CLI_TRACE"`
}

// callResult is call's --json output.
type callResult struct {
	Function string          `json:"function"`
	Result   json.RawMessage `json:"result"`
	Trace    *traceOutput    `json:"trace,omitempty"`
}

func (c *CallCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, fi, err := g.lookup(ctx, c.Name)
	if err != nil {
		return err
	}
	defer cl.Close()
	args, err := callArgs(&fi.Function, c.Args, c.ArgsJSON)
	if err != nil {
		return err
	}
	isStream := fi.Function.ReturnType == manifests.TypeStream
	if isStream && g.JSON && c.Out == "" {
		return usageErrorf("%s returns a stream: with --json, say where to write it with --out FILE", fi.Name)
	}
	args, sent, err := putStreams(ctx, cl, &fi.Function, args)
	if err != nil {
		return err
	}
	callCtx, tr := startTrace(ctx, c.Trace)
	res, err := cl.call(callCtx, fi, args)
	// A failed call's trace too: where did it wait?
	traced := traceOf(tr)
	if traced != nil && !g.JSON {
		defer printTrace(s.err, *traced)
	}
	if err != nil {
		// The instance deletes the streams it takes; those of a call
		// that never reached one would wait for the store's age limit.
		deleteStreams(cl, sent)
		return cl.failure(fi.Name, err, cl.callTimeout(fi))
	}
	if isStream {
		n, err := writeStreamResult(ctx, cl, res, c.Out, s.out)
		if err != nil {
			return err
		}
		if g.JSON {
			written, _ := json.Marshal(struct {
				File string `json:"file"`
				Size int64  `json:"size"`
			}{c.Out, n})
			return writeJSON(s.out, callResult{Function: fi.Name, Result: written, Trace: traced})
		}
		return nil
	}
	if g.JSON {
		return writeJSON(s.out, callResult{Function: fi.Name, Result: jsonResult(res), Trace: traced})
	}
	if fi.Function.ReturnType != manifests.TypeNone {
		fmt.Fprintln(s.out, manifests.FormatValue(fi.Function.ReturnType, res))
	}
	return nil
}

// MultiCallCmd calls one function on every instance of its service.
type MultiCallCmd struct {
	Name     string   `arg:"" help:"Function: its plain name, or service.function when several services have it."`
	Args     []string `arg:"" optional:"" help:"Arguments: NAME=VALUE, or plain values in the manifest's order; a stream argument is a file, @PATH."`
	ArgsJSON string   `name:"args-json" help:"Arguments as JSON instead: an object by name or an array by position." placeholder:"JSON"`
	Trace    bool     `name:"trace" help:"Trace the call and show where the time went (on standard error; in the output with --json): one line per instance, with the calls it made." env:"DPC_CLI_TRACE"`
}

// instanceReply is one instance's reply in multi-call's --json output.
type instanceReply struct {
	Instance string          `json:"instance"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    *replyError     `json:"error,omitempty"`
}

type replyError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

type multiResult struct {
	Function string          `json:"function"`
	Replies  []instanceReply `json:"replies"`
	// Incomplete: some instances did not reply in time.
	Incomplete bool         `json:"incomplete,omitempty"`
	Trace      *traceOutput `json:"trace,omitempty"`
}

func (c *MultiCallCmd) Run(ctx context.Context, g *Globals, s streams) error {
	cl, fi, err := g.lookup(ctx, c.Name)
	if err != nil {
		return err
	}
	defer cl.Close()
	args, err := callArgs(&fi.Function, c.Args, c.ArgsJSON)
	if err != nil {
		return err
	}
	// Every instance reads the same streams; they are left to the
	// store's age limit (docs/PROTOCOL.md §10.1).
	args, _, err = putStreams(ctx, cl, &fi.Function, args)
	if err != nil {
		return err
	}
	callCtx, tr := startTrace(ctx, c.Trace)
	replies, callErr := cl.multiCall(callCtx, fi, args)
	traced := traceOf(tr)
	if traced != nil && !g.JSON {
		defer printTrace(s.err, *traced)
	}
	if callErr != nil && !errors.Is(callErr, omq.ErrTimeout) {
		return cl.failure(fi.Name, callErr, cl.timeoutFor(fi.Function))
	}
	out := multiResult{Function: fi.Name, Replies: []instanceReply{}, Incomplete: callErr != nil, Trace: traced}
	failed := 0
	for _, r := range replies {
		ir := instanceReply{Instance: r.Instance}
		var re *omq.Error
		if errors.As(r.Err, &re) {
			ir.Error = &replyError{Code: re.Code, Description: re.Description}
			failed++
		} else if r.Err != nil {
			ir.Error = &replyError{Code: omq.CodeHandlerFailure, Description: r.Err.Error()}
			failed++
		} else {
			ir.Result = jsonResult(r.Data)
		}
		out.Replies = append(out.Replies, ir)
	}
	if g.JSON {
		if err := writeJSON(s.out, out); err != nil {
			return err
		}
	} else {
		for _, r := range out.Replies {
			switch {
			case r.Error != nil:
				fmt.Fprintf(s.out, "%s: error %d: %s\n", r.Instance, r.Error.Code, r.Error.Description)
			case fi.Function.ReturnType == manifests.TypeNone:
				fmt.Fprintf(s.out, "%s: done\n", r.Instance)
			default:
				fmt.Fprintf(s.out, "%s: %s\n", r.Instance, manifests.FormatValue(fi.Function.ReturnType, r.Result))
			}
		}
	}
	if callErr != nil {
		return cl.failure(fi.Name, callErr, cl.timeoutFor(fi.Function))
	}
	if failed > 0 {
		return &cliError{code: exitError, msg: fmt.Sprintf("%s failed on %d of %d instances", fi.Name, failed, len(replies))}
	}
	return nil
}
