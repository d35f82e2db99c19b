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
	Args     []string `arg:"" optional:"" help:"Arguments: NAME=VALUE, or plain values in the manifest's order."`
	ArgsJSON string   `name:"args-json" help:"Arguments as JSON instead: an object by name or an array by position." placeholder:"JSON"`
}

// callResult is call's --json output.
type callResult struct {
	Function string          `json:"function"`
	Result   json.RawMessage `json:"result"`
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
	res, err := cl.call(ctx, fi, args)
	if err != nil {
		return cl.failure(fi.Name, err, cl.callTimeout(fi))
	}
	if g.JSON {
		return writeJSON(s.out, callResult{Function: fi.Name, Result: jsonResult(res)})
	}
	if fi.Function.ReturnType != manifests.TypeNone {
		fmt.Fprintln(s.out, manifests.FormatValue(fi.Function.ReturnType, res))
	}
	return nil
}

// MultiCallCmd calls one function on every instance of its service.
type MultiCallCmd struct {
	Name     string   `arg:"" help:"Function: its plain name, or service.function when several services have it."`
	Args     []string `arg:"" optional:"" help:"Arguments: NAME=VALUE, or plain values in the manifest's order."`
	ArgsJSON string   `name:"args-json" help:"Arguments as JSON instead: an object by name or an array by position." placeholder:"JSON"`
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
	Incomplete bool `json:"incomplete,omitempty"`
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
	replies, callErr := cl.multiCall(ctx, fi, args)
	if callErr != nil && !errors.Is(callErr, omq.ErrTimeout) {
		return cl.failure(fi.Name, callErr, cl.timeoutFor(fi.Function))
	}
	out := multiResult{Function: fi.Name, Replies: []instanceReply{}, Incomplete: callErr != nil}
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
