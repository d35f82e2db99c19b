package execfn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dpc-project/dpc/manifests"
)

// template is a function's exec, split once into parts.
type template struct {
	f     *manifests.Function
	words [][]manifests.ExecPart // exec[1:]
	index map[string]int         // argument name → position in args_list
}

func newTemplate(f *manifests.Function) (*template, error) {
	t := &template{f: f, index: map[string]int{}}
	for i, a := range f.Args {
		t.index[a.Name] = i
	}
	for _, w := range f.Exec[1:] {
		parts := manifests.SplitExec(w)
		for _, p := range parts {
			if _, ok := t.index[p.Arg]; p.Arg != "" && !ok {
				return nil, fmt.Errorf("{%s} names no argument of %s", p.Arg, f.Name)
			}
		}
		t.words = append(t.words, parts)
	}
	return t, nil
}

// argv builds the arguments of one call (without the program) from args,
// already checked against the manifest and in its order. Each placeholder
// is replaced within its word; a list fills one word per item. A value
// holding a NUL character, which no word of a command line can carry, is
// an error for the caller.
func (t *template) argv(args []json.RawMessage) ([]string, error) {
	if len(args) != len(t.f.Args) {
		return nil, fmt.Errorf("%s takes %d arguments, got %d", t.f.Name, len(t.f.Args), len(args))
	}
	out := make([]string, 0, len(t.words))
	for _, parts := range t.words {
		if len(parts) == 1 && parts[0].Arg != "" {
			i := t.index[parts[0].Arg]
			a := t.f.Args[i]
			if a.Type.IsList() {
				items, err := t.list(a, args[i])
				if err != nil {
					return nil, err
				}
				out = append(out, items...)
				continue
			}
		}
		var b strings.Builder
		for _, p := range parts {
			if p.Arg == "" {
				b.WriteString(p.Text)
				continue
			}
			i := t.index[p.Arg]
			s, err := t.scalar(t.f.Args[i], t.f.Args[i].Type, args[i])
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
		}
		out = append(out, b.String())
	}
	return out, nil
}

func (t *template) list(a manifests.Arg, v json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, fmt.Errorf("%s: argument %q (%s): %w", t.f.Name, a.Name, a.Type, err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, err := t.scalar(a, a.Type.Elem(), it)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// scalar is one value of type typ as a word: as FormatValue shows it to a
// person, except bytes, which go as their raw bytes rather than as
// base64 with a note.
func (t *template) scalar(a manifests.Arg, typ manifests.Type, v json.RawMessage) (string, error) {
	var s string
	switch typ {
	case manifests.TypeString, manifests.TypeChar:
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s: argument %q (%s): %w", t.f.Name, a.Name, a.Type, err)
		}
	case manifests.TypeBytes:
		var enc string
		if err := json.Unmarshal(v, &enc); err != nil {
			return "", fmt.Errorf("%s: argument %q (%s): %w", t.f.Name, a.Name, a.Type, err)
		}
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return "", fmt.Errorf("%s: argument %q (%s): %w", t.f.Name, a.Name, a.Type, err)
		}
		s = string(b)
	default:
		s = manifests.FormatValue(typ, v)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("%s: argument %q (%s) holds a NUL character, which no word of a command line can carry", t.f.Name, a.Name, a.Type)
	}
	return s, nil
}
