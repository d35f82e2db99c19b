// Package suggest finds what a person probably meant when they wrote a
// name that does not exist: a misspelt setting, function or field, so
// that an error can say "did you mean …?".
package suggest

import "strings"

// Closest returns the candidate within a small edit distance of s,
// ignoring case and treating '_' and '-' alike (2 edits; 1 for candidates
// of 4 bytes or fewer), or "" if none is that close.
func Closest(s string, candidates []string) string {
	best, bestD := "", 0
	ls := fold(s)
	for _, c := range candidates {
		d := Distance(ls, fold(c))
		limit := 2
		if len(c) <= 4 {
			limit = 1
		}
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

func fold(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// Distance is the edit distance between a and b, by bytes, counting an
// insertion, a deletion, a substitution or a swap of two adjacent bytes
// as one edit (optimal string alignment): "prot" is one edit from
// "port". Inputs longer than a name (64 bytes) are not worth comparing:
// they are "far".
func Distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	// d[i][j]: the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
