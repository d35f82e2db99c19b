// Package textutil is an example extra service limited by its manifest's
// app_list to the notes application: small transformations of a note's
// text.
package textutil

import (
	"context"
	"strings"

	"github.com/dpc-project/dpc/omq"
)

// Handlers returns the functions of textutil.yml.
func Handlers() omq.Handlers {
	return omq.Handlers{
		"upper":     text(func(s string) any { return strings.ToUpper(s) }),
		"lower":     text(func(s string) any { return strings.ToLower(s) }),
		"wordCount": text(func(s string) any { return len(strings.Fields(s)) }),
		"reverse": text(func(s string) any {
			r := []rune(s)
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			return string(r)
		}),
	}
}

func text(f func(string) any) omq.Handler {
	return omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
		var s string
		if err := req.Decode(&s); err != nil {
			return nil, err
		}
		return f(s), nil
	})
}
