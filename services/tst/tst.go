// Package tst is the DPC thesis's test service (Tst-serv): small functions
// over every argument type, and nopExtra for round-trip measurements.
package tst

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/dpc-project/dpc/omq"
)

// Handlers returns the functions of tst.yml. Arguments arrive checked
// against the manifest, by position.
func Handlers() omq.Handlers {
	return omq.Handlers{
		"add": fn2(func(a, b int64) (int64, error) { return a + b, nil }),
		"addMany": fn1(func(xs []int64) (int64, error) {
			var sum int64
			for _, x := range xs {
				sum += x
			}
			return sum, nil
		}),
		"countChars": fn1(func(s string) (int, error) { return utf8.RuneCountInString(s), nil }),
		"split": fn2(func(s, sep string) ([]string, error) {
			return strings.Split(s, sep), nil
		}),
		"test_int":         fn1(echo[int64]),
		"test_float":       fn1(echo[float64]),
		"test_char":        fn1(echo[string]),
		"test_int_list":    fn1(echo[[]int64]),
		"test_float_list":  fn1(echo[[]float64]),
		"test_string_list": fn1(echo[[]string]),
		"test_char_list":   fn1(echo[[]string]),
		"nopExtra": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			return nil, nil
		}),
	}
}

// echo returns its argument: the test_* functions check that a type
// survives the round trip through the hub.
func echo[T any](v T) (T, error) { return v, nil }

func fn1[A, R any](f func(A) (R, error)) omq.Handler {
	return omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
		var a A
		if err := req.Decode(&a); err != nil {
			return nil, err
		}
		return f(a)
	})
}

func fn2[A, B, R any](f func(A, B) (R, error)) omq.Handler {
	return omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
		var a A
		var b B
		if err := req.Decode(&a, &b); err != nil {
			return nil, err
		}
		return f(a, b)
	})
}
