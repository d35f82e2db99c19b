package trust

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// A pairing code is what the owner reads out to a new device: 20
// characters of Crockford base32, shown in groups of five
// (7KQ2M-XD4PA-…). The first 8 are a one-time secret (40 bits; the hub
// also limits how fast codes can be tried and for how long one is valid);
// the other 12 are the first 60 bits of the SHA-256 fingerprint of the
// hub's CA certificate, so the new device refuses any other machine that
// answers at the hub's address — no trust on first use.
type Code struct {
	secret [secretBytes]byte
	pin    [(pinBits + 7) / 8]byte // the first 60 bits are used; the last nibble is 0
}

const (
	secretBytes = 5
	pinBits     = 60
	codeChars   = (secretBytes*8 + pinBits) / 5
	// crockford is Crockford's base32 alphabet: no I, L, O or U, so that
	// what a person reads is what they type.
	crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

// ErrBadCode: the text is not a pairing code.
var ErrBadCode = errors.New("trust: not a pairing code")

// NewCode makes a code with a fresh secret that pins the CA with
// fingerprint caFP.
func NewCode(caFP [32]byte) (Code, error) {
	var c Code
	if _, err := rand.Read(c.secret[:]); err != nil {
		return c, err
	}
	copy(c.pin[:], caFP[:len(c.pin)])
	c.pin[len(c.pin)-1] &= 0xF0
	return c, nil
}

// String is the code in groups of five.
func (c Code) String() string {
	bits := append(c.secret[:], c.pin[:]...)
	var b strings.Builder
	for i := range codeChars {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(crockford[take5(bits, i*5)])
	}
	return b.String()
}

// take5 reads five bits from off.
func take5(b []byte, off int) byte {
	var v byte
	for k := range 5 {
		bit := off + k
		v = v<<1 | (b[bit/8]>>(7-bit%8))&1
	}
	return v
}

// ParseCode reads a code as a person typed it: case, dashes and spaces
// do not matter, and O, I and L are read as 0, 1 and 1.
func ParseCode(s string) (Code, error) {
	var c Code
	var clean []byte
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		clean = append(clean, byte(r))
	}
	if len(clean) != codeChars {
		return c, fmt.Errorf("%w: want %d letters and digits, got %d", ErrBadCode, codeChars, len(clean))
	}
	buf := make([]byte, secretBytes+len(c.pin))
	for i, ch := range clean {
		v := strings.IndexByte(crockford, ch)
		if v < 0 {
			return c, fmt.Errorf("%w: %q is not one of its characters", ErrBadCode, ch)
		}
		for k := range 5 {
			if v>>(4-k)&1 == 1 {
				bit := i*5 + k
				buf[bit/8] |= 1 << (7 - bit%8)
			}
		}
	}
	copy(c.secret[:], buf[:secretBytes])
	copy(c.pin[:], buf[secretBytes:])
	return c, nil
}

// Pins says whether fp is the fingerprint of the CA the code names.
func (c Code) Pins(fp [32]byte) bool {
	n := len(c.pin)
	return string(fp[:n-1]) == string(c.pin[:n-1]) && fp[n-1]&0xF0 == c.pin[n-1]
}

// SecretID is what the hub stores for a pending code: a hash of its
// secret, so that the registry never holds a usable code.
func (c Code) SecretID() string {
	h := sha256.Sum256(append([]byte("dpc-pairing-code:"), c.secret[:]...))
	return hex.EncodeToString(h[:16])
}

// Proof is what a new device signs to show it holds its key: the code's
// secret bound to the key being enrolled, so the signature is good for
// nothing else.
func (c Code) Proof(publicKey string) []byte {
	return []byte("dpc-pair:" + hex.EncodeToString(c.secret[:]) + ":" + publicKey)
}
