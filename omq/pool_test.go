package omq

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

type keeper struct{ kept [][]int }

func (k *keeper) Keep(xs []int, m map[string]int, p *int) int {
	k.kept = append(k.kept, xs)
	n := len(m)
	if p != nil {
		n += *p
	}
	return n
}

// A method's arguments are decoded into a pooled frame: nothing of one
// call may show in the next (encoding/json would merge into a map it
// finds, or reuse a slice's array), nor in what an earlier call kept.
func TestMethodHandler_PooledFrameKeepsNothing(t *testing.T) {
	k := &keeper{}
	hs, err := reflectHandlers(k, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	h := hs["keep"]
	for i, c := range []struct {
		body string
		want int
	}{
		{`[[1,2,3],{"a":1,"b":2},5]`, 7},
		{`[[9],{"c":3},null]`, 1},
		{`[[],{},null]`, 0},
		{`[[4,5],null,1]`, 1},
	} {
		res, err := h.Handle(context.Background(), &Request{Function: "keep", Args: json.RawMessage(c.body)})
		if err != nil || res != c.want {
			t.Fatalf("call %d %s: %v, %v; want %d", i, c.body, res, err, c.want)
		}
	}
	if want := [][]int{{1, 2, 3}, {9}, {}, {4, 5}}; !reflect.DeepEqual(k.kept, want) {
		t.Errorf("kept %v, want %v", k.kept, want)
	}
	// A mistyped argument is still named, after a partial decode.
	_, err = h.Handle(context.Background(), &Request{Function: "keep", Args: json.RawMessage(`[[1],{"a":"x"},1]`)})
	if err == nil || !strings.Contains(err.Error(), "argument 2 (map[string]int) of keep") {
		t.Errorf("mistyped map: %v, want a 400 naming argument 2", err)
	}
	res, err := h.Handle(context.Background(), &Request{Function: "keep", Args: json.RawMessage(`[[7],{},2]`)})
	if err != nil || res != 2 {
		t.Errorf("call after an error: %v, %v; want 2", res, err)
	}
}

// unmarshal, with its pooled decoders, decodes as json.Unmarshal does and
// fails where it fails, whatever it decoded before.
func TestUnmarshal_LikeJSONUnmarshal(t *testing.T) {
	for _, body := range []string{
		`5`, ` 5 `, "7\n", `"x"`, `[1,2]`, `{"a":1}`, `5 6`, `[1,`, ``, `"\ud800"`, `null`, ` [ 3 ] `, `"s"`, `1e400`, `{"a":"x"}`,
	} {
		for _, newV := range []func() any{
			func() any { return new(int) }, func() any { return new(any) }, func() any { return new([]int) },
			func() any { return new(map[string]int) }, func() any { return new(string) },
		} {
			want, got := newV(), newV()
			werr := json.Unmarshal([]byte(body), want)
			gerr := unmarshal([]byte(body), got)
			if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(want, got) {
				t.Errorf("%q into %T: %v, %v; json.Unmarshal gives %v, %v", body, want, reflect.ValueOf(got).Elem(), gerr, reflect.ValueOf(want).Elem(), werr)
			}
		}
	}
}
