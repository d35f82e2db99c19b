package notes_test

import (
	"fmt"
	"testing"
)

// BenchmarkStore_Save and BenchmarkStore_Get: one note saved again and
// again (each save a new revision, the oldest dropped past the history
// bound) and read back, on an embedded server over loopback TCP, with file
// storage.
func BenchmarkStore_Save(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20, 5 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			s, _ := newStore(b)
			// Two texts of different sizes in turn: each save is a new
			// revision (saving the latest's text again is not).
			content := bigText(size)
			contents := [2][]byte{content, append(content[:len(content):len(content)], '\n')}
			ctx := ctxT(b)
			var rev uint64
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				var err error
				if rev, err = s.Save(ctx, "bench", contents[i%2], rev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStore_Get(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20, 5 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			s, _ := newStore(b)
			save(b, s, "bench", string(bigText(size)), 0)
			ctx := ctxT(b)
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := s.Get(ctx, "bench", 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A merge of two small edits to a 1 MiB note, saved.
func BenchmarkStore_Merge1MiB(b *testing.B) {
	s, _ := newStore(b)
	ctx := ctxT(b)
	base := bigText(1 << 20)
	save(b, s, "bench", string(base), 0)
	b.SetBytes(int64(len(base)))
	for i := 0; b.Loop(); i++ {
		latest := get(b, s, "bench", 0)
		ours := append([]byte(fmt.Sprintf("ours %d\n", i)), latest.Content...)
		theirs := append(latest.Content[:len(latest.Content):len(latest.Content)], fmt.Sprintf("theirs %d\n", i)...)
		save(b, s, "bench", string(ours), latest.Revision)
		if _, err := s.Merge(ctx, "bench", theirs, latest.Revision); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
