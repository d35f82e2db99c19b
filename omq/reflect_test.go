package omq_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/omq"
)

func TestFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"Add": "add", "AddMany": "addMany", "NopExtra": "nopExtra", "HTTPGet": "httpGet",
		"ID": "id", "Test_int": "test_int", "X": "x",
	} {
		if got := omq.FunctionName(in); got != want {
			t.Errorf("FunctionName(%q) = %q, want %q", in, got, want)
		}
	}
}

type badChan struct{}

func (badChan) Feed(c chan int) {}

type badResults struct{}

func (badResults) Three() (int, int, error) { return 0, 0, nil }

type badSecond struct{}

func (badSecond) Pair() (int, string) { return 0, "" }

type lateCtx struct{}

func (lateCtx) Do(a int, ctx context.Context) {}

type variadic struct{}

func (variadic) Sum(xs ...int) int { return 0 }

type ptrOnly struct{}

func (*ptrOnly) Do() {}

type mixed struct{}

func (mixed) Good(a int) int { return a }
func (mixed) Bad(f func())   {}

func TestNode_BindRejectsUnsuitableMethods(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"chan param", badChan{}, "Feed: parameter 1 has type chan int"},
		{"three results", badResults{}, "Three: returns 3 values"},
		{"second not error", badSecond{}, "Pair: second result is string"},
		{"late context", lateCtx{}, "Do: context.Context must be the first parameter"},
		{"variadic", variadic{}, "Sum: variadic"},
		{"pointer receiver", ptrOnly{}, "bind a pointer"},
		{"one bad of two", mixed{}, "Bad: parameter 1 has type func()"},
		{"nil", nil, "nil value"},
		{"empty handlers", omq.Handlers{}, "no handlers"},
		{"bad function name", omq.Handlers{"a.b": omq.HandlerFunc(nil)}, `function name "a.b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Bind(ctxT(t, 5e9), "svc", tc.v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := n.Bind(ctxT(t, 5e9), "bad name", &Calc{}); err == nil || !strings.Contains(err.Error(), `service name "bad name"`) {
		t.Fatalf("bad service name: %v", err)
	}
	// SkipUnsuitable binds what can be bound.
	inst, err := n.Bind(ctxT(t, 5e9), "svc", mixed{}, omq.SkipUnsuitable())
	if err != nil {
		t.Fatal(err)
	}
	if fns := inst.Functions(); len(fns) != 1 || fns[0] != "good" {
		t.Fatalf("functions %v, want [good]", fns)
	}
}
