package bodies

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
)

// writeBody writes size bytes of noise to path, a block at a time, and
// returns the path and its SHA-256.
func writeBody(path string, size int64) (string, string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		b := buf[:min(left, int64(len(buf)))]
		_, _ = rng.Read(b)
		if _, err := f.Write(b); err != nil {
			return "", "", err
		}
		h.Write(b)
		left -= int64(len(b))
	}
	return path, hex.EncodeToString(h.Sum(nil)), f.Close()
}

// writeText writes size bytes of text lines (hex digits) to path, a
// block at a time, and returns the path and its SHA-256.
func writeText(path string, size int64) (string, string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{8})
	raw := make([]byte, 32<<10)
	buf := make([]byte, 0, 1<<20)
	for left := size; left > 0; {
		buf = buf[:0]
		for len(buf) < cap(buf)-2*len(raw) {
			_, _ = rng.Read(raw)
			for i := 0; i < len(raw); i += 40 {
				buf = hex.AppendEncode(buf, raw[i:min(i+40, len(raw))])
				buf = append(buf, '\n')
			}
		}
		b := buf[:min(left, int64(len(buf)))]
		if _, err := f.Write(b); err != nil {
			return "", "", err
		}
		h.Write(b)
		left -= int64(len(b))
	}
	return path, hex.EncodeToString(h.Sum(nil)), f.Close()
}

// fileSum is the SHA-256 of the file at path, in hex.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return readSum(f)
}

// readSum reads r to the end and returns its SHA-256, in hex.
func readSum(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
