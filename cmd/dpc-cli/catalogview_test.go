package main

import (
	"slices"
	"testing"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
)

// fn is a live function of service for apps (none: every app).
func fn(service, name string, instances int, apps ...string) catalog.FunctionInfo {
	return catalog.FunctionInfo{
		Name: service + "." + name, Service: service, Instances: instances, Version: "1.0.0",
		Function: manifests.Function{Name: name, Apps: apps},
	}
}

func TestCatalogView_Changes(t *testing.T) {
	var v catalogView
	hub, add, split := fn("hub", "nop", 1), fn("tst", "add", 1, "test"), fn("tst", "split", 1, "test")
	upper := fn("textutil", "upper", 1, "notes")
	steps := []struct {
		fns       []catalog.FunctionInfo
		app       string
		functions bool
		want      []string
	}{
		{[]catalog.FunctionInfo{hub, add, upper}, "test", true, nil}, // the first menu: nothing to compare with
		{[]catalog.FunctionInfo{hub, upper}, "test", true, []string{"tst has gone."}},
		{[]catalog.FunctionInfo{hub}, "test", true, nil}, // textutil is not for test
		{[]catalog.FunctionInfo{hub, add, split}, "test", true, []string{"tst is back."}},
		{[]catalog.FunctionInfo{hub, add}, "test", true, []string{"tst now offers other functions."}},
		{[]catalog.FunctionInfo{hub, add, fn("extra", "wait", 1, "test")}, allApps, false, []string{"extra has arrived."}},
		{[]catalog.FunctionInfo{hub, add, upper}, allApps, false, []string{"extra has gone.", "textutil is back."}},
	}
	for i, st := range steps {
		v.fns = st.fns
		if got := v.changes(st.app, st.functions); !slices.Equal(got, st.want) {
			t.Errorf("step %d: %q, want %q", i, got, st.want)
		}
	}
	if got := v.apps(); !slices.Equal(got, []string{"notes", "test"}) {
		t.Errorf("apps: %q", got)
	}
	if got := v.functions("notes"); len(got) != 2 || got[0].Name != "hub.nop" || got[1].Name != "textutil.upper" {
		t.Errorf("functions for notes: %+v", got)
	}
}

func TestCatalogView_Silent(t *testing.T) {
	v := catalogView{fns: []catalog.FunctionInfo{fn("hub", "nop", 1), fn("tst", "add", 1, "test")}}
	v.markSilent("tst")
	if got := v.silentServices("test"); !slices.Equal(got, []string{"tst"}) {
		t.Fatalf("silent while listed as it was: %q", got)
	}
	if got := v.silentServices("notes"); got != nil {
		t.Fatalf("silent for an app tst has no function for: %q", got)
	}
	v.fns = []catalog.FunctionInfo{fn("hub", "nop", 1), fn("tst", "add", 2, "test")} // an instance arrived
	if got := v.silentServices("test"); got != nil {
		t.Fatalf("still silent after the catalog changed: %q", got)
	}
	v.markSilent("tst")
	v.markAnswered("tst")
	if got := v.silentServices("test"); got != nil {
		t.Fatalf("still silent after it answered: %q", got)
	}
	v.markSilent("tst")
	v.fns = []catalog.FunctionInfo{fn("hub", "nop", 1)}
	if got := v.silentServices("test"); got != nil || len(v.silent) != 0 {
		t.Fatalf("kept after the catalog dropped it: %q, %v", got, v.silent)
	}
}
