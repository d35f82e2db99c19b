package omq_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The body object encryption of docs/PROTOCOL.md §10, written out again
// from the text as a foreign client would: AES-256-GCM over 64 KiB
// segments, segment i sealed with the nonce i (11 bytes, big endian) ‖
// last-segment flag (1 byte), and the object's name as additional data.
const testSegment = 64 << 10

func testGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return gcm
}

func testNonce(i int, last bool) []byte {
	nonce := make([]byte, 12)
	binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
	if last {
		nonce[11] = 1
	}
	return nonce
}

func sealForTest(t *testing.T, key []byte, name string, plain []byte) []byte {
	t.Helper()
	gcm := testGCM(t, key)
	var out []byte
	for i := 0; ; i++ {
		n := min(len(plain), testSegment)
		last := n == len(plain)
		out = gcm.Seal(out, testNonce(i, last), plain[:n], []byte(name))
		plain = plain[n:]
		if last {
			return out
		}
	}
}

func openForTest(t *testing.T, key []byte, name string, sealed []byte) ([]byte, error) {
	t.Helper()
	gcm := testGCM(t, key)
	var out []byte
	for i := 0; ; i++ {
		n := min(len(sealed), testSegment+16)
		last := n == len(sealed)
		var err error
		if out, err = gcm.Open(out, testNonce(i, last), sealed[:n], []byte(name)); err != nil {
			return nil, err
		}
		sealed = sealed[n:]
		if last {
			return out, nil
		}
	}
}

func decodeKey(t *testing.T, s string) []byte {
	t.Helper()
	k, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(k) != 32 {
		t.Fatalf("key header %q: %d bytes, %v; want 32 bytes of unpadded base64url", s, len(k), err)
	}
	return k
}

// newKey is a fresh key as a Dpc-Body-Key header value.
func newKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.RawURLEncoding.EncodeToString(k)
}

// putSealed stores plain sealed under a fresh key as object name, and
// returns the key header.
func putSealed(t *testing.T, store jetstream.ObjectStore, name string, plain []byte) string {
	t.Helper()
	key := newKey(t)
	if _, err := store.PutBytes(ctxT(t, 10*time.Second), name, sealForTest(t, decodeKey(t, key), name, plain)); err != nil {
		t.Fatal(err)
	}
	return key
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// Body objects hold ciphertext, for requests and replies: the plaintext is
// nowhere in the object, which decrypts with the key sent in Dpc-Body-Key.
func TestBodies_ObjectsAreEncrypted(t *testing.T) {
	e := newEnv(t)
	raw := brokertest.Connect(t, e.srv)
	msgs := make(chan *nats.Msg, 1)
	sub, err := raw.Subscribe("dpc.svc.sink.*", func(m *nats.Msg) { msgs <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	srv, _ := e.node(omq.WithBodyLimit(1024))
	bind(t, srv, "rep", repeater{}, omq.NoDurable())
	cli, _ := e.node(omq.WithBodyLimit(1024))
	ctx := ctxT(t, 30*time.Second)

	check := func(what string, m *nats.Msg, plain, marker string) {
		t.Helper()
		name, keyHdr := m.Header.Get(omq.HeaderBodyObject), m.Header.Get(omq.HeaderBodyKey)
		if name == "" || len(m.Data) != 0 {
			t.Fatalf("%s: object %q, %d-byte body; want an object and no body", what, name, len(m.Data))
		}
		if !keyRE.MatchString(keyHdr) {
			t.Fatalf("%s: %s %q, want 43 characters of unpadded base64url", what, omq.HeaderBodyKey, keyHdr)
		}
		store, err := bodyStore(t, raw, false)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := store.GetBytes(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		segs := (len(plain) + testSegment - 1) / testSegment
		if len(stored) != len(plain)+16*segs {
			t.Fatalf("%s: object of %d bytes, want the %d of the body plus 16 per %d-byte segment", what, len(stored), len(plain), testSegment)
		}
		if bytes.Contains(stored, []byte(marker)) {
			t.Fatalf("%s: the stored object holds the plaintext", what)
		}
		got, err := openForTest(t, decodeKey(t, keyHdr), name, stored)
		if err != nil || string(got) != plain {
			t.Fatalf("%s: decrypting the object: %d bytes, %v; want the %d-byte body", what, len(got), err, len(plain))
		}
	}

	// A request's arguments (nobody serves sink, so nobody deletes them).
	arg := strings.Repeat("plaintext!", 20_000)
	if err := cli.Lookup("sink").Send(ctx, "keep", omq.Args(arg)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		check("arguments", m, `["`+arg+`"]`, "plaintext!plaintext!")
	case <-ctx.Done():
		t.Fatal("the large send did not arrive")
	}

	// A result, asked for by a raw client (which does not delete it).
	m, err := rawRequest(t, raw, "dpc.svc.rep.repeat", "[200000]", nil)
	if err != nil {
		t.Fatal(err)
	}
	check("result", m, `"`+strings.Repeat("r", 200_000)+`"`, "rrrrrrrrrrrrrrrr")
}

type counted struct{ n atomic.Int64 }

func (c *counted) Echo(s string) string { c.n.Add(1); return s }

// A request naming a body object without its key, with a key that is not
// one, or with the wrong key is a 400 naming the object; the handler does
// not run, and the instance (its only reader) deletes the object.
func TestBodies_RequestWithoutTheRightKeyIsRefused(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	c := &counted{}
	bind(t, srv, "cnt", c, omq.NoDurable())
	raw := brokertest.Connect(t, e.srv)
	store, err := bodyStore(t, raw, true)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`["` + strings.Repeat("k", 150_000) + `"]`)
	for _, tc := range []struct {
		name, key, want string
	}{
		{"nokey", "", "has no Dpc-Body-Key header"},
		{"notakey", "not-a-key", "Dpc-Body-Key is not a 256-bit key in unpadded base64url"},
		{"padded", newKey(t) + "=", "Dpc-Body-Key is not a 256-bit key"},
		{"short", base64.RawURLEncoding.EncodeToString(make([]byte, 16)), "Dpc-Body-Key is not a 256-bit key"},
		{"wrongkey", newKey(t), "does not decrypt with the key sent"},
	} {
		putSealed(t, store, tc.name, body)
		hdr := headerOf(omq.HeaderBodyObject, tc.name)
		if tc.key != "" {
			hdr.Set(omq.HeaderBodyKey, tc.key)
		}
		m, err := rawRequest(t, raw, "dpc.svc.cnt.echo", "", hdr)
		wantErrorReply(t, m, err, omq.CodeBadArguments, "body object "+tc.name)
		wantErrorReply(t, m, err, omq.CodeBadArguments, tc.want)
	}
	if n := c.n.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for refused bodies", n)
	}
	if got := objectNames(t, store); len(got) != 0 {
		t.Fatalf("refused objects left behind: %v", got)
	}
	key := putSealed(t, store, "right", body)
	m, err := rawRequest(t, raw, "dpc.svc.cnt.echo", "", headerOf(omq.HeaderBodyObject, "right", omq.HeaderBodyKey, key))
	if err != nil || m.Header.Get("Nats-Service-Error-Code") != "" || len(m.Data) != len(body)-2 {
		t.Fatalf("with the right key: %d bytes, %q, %v", len(m.Data), m.Header.Get("Nats-Service-Error"), err)
	}
}

// A body object changed after it was sealed — bytes altered, cut short, a
// chunk overwritten in the stream, another body put under its name, or a
// plaintext body — is a 400 naming it, and the handler does not run.
func TestBodies_TamperedObjectsAreRefused(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	c := &counted{}
	bind(t, srv, "cnt", c, omq.NoDurable())
	raw := brokertest.Connect(t, e.srv)
	store, err := bodyStore(t, raw, true)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 30*time.Second)
	body := []byte(`["` + strings.Repeat("t", 3*testSegment+100) + `"]`) // 4 segments
	put := func(name string, b []byte) {
		t.Helper()
		if _, err := store.PutBytes(ctx, name, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(name string, key []byte)
	}{
		{"altered", func(name string, key []byte) {
			b := sealForTest(t, key, name, body)
			b[len(b)/2] ^= 0x40
			put(name, b) // a consistent object: size and digest match
		}},
		{"truncated", func(name string, key []byte) {
			// Two whole segments: the size of a shorter body, but its
			// last segment is not marked last.
			put(name, sealForTest(t, key, name, body)[:2*(testSegment+16)])
		}},
		{"swapped", func(name string, key []byte) {
			// Sealed with the same key for another object.
			put(name, sealForTest(t, key, "OTHER", body))
		}},
		{"plaintext", func(name string, key []byte) { put(name, body) }},
		{"rechunked", func(name string, key []byte) {
			// Overwrite the last chunk in the object store's stream with
			// one that has a bit flipped.
			put(name, sealForTest(t, key, name, body))
			info, err := store.GetInfo(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			st, err := js.Stream(ctx, "OBJ_DPC_BODIES")
			if err != nil {
				t.Fatal(err)
			}
			subj := "$O.DPC_BODIES.C." + info.NUID
			last, err := st.GetLastMsgForSubject(ctx, subj)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteMsg(ctx, last.Sequence); err != nil {
				t.Fatal(err)
			}
			last.Data[0] ^= 1
			if _, err := js.Publish(ctx, subj, last.Data); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		key := newKey(t)
		tc.tamper(tc.name, decodeKey(t, key))
		m, err := rawRequest(t, raw, "dpc.svc.cnt.echo", "", headerOf(omq.HeaderBodyObject, tc.name, omq.HeaderBodyKey, key))
		wantErrorReply(t, m, err, omq.CodeBadArguments, "body object "+tc.name)
		t.Logf("%s: %s", tc.name, m.Header.Get("Nats-Service-Error"))
	}
	if n := c.n.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for tampered bodies", n)
	}
}

// A reply naming a body object without its key, with a wrong key or with
// an altered object is a local error naming the object, not the
// instance's; the caller deletes the object.
func TestBodies_ReplyWithoutTheRightKeyIsAnError(t *testing.T) {
	e := newEnv(t)
	raw := brokertest.Connect(t, e.srv)
	store, err := bodyStore(t, raw, true)
	if err != nil {
		t.Fatal(err)
	}
	// A raw responder: its argument says how to spoil the reply.
	sub, err := raw.Subscribe("dpc.svc.fake.get", func(m *nats.Msg) {
		how := strings.Trim(string(m.Data), `[]"`)
		name, key := "reply-"+how, newKey(t)
		b := sealForTest(t, decodeKey(t, key), name, []byte(`"the result"`))
		switch how {
		case "nokey":
			key = ""
		case "wrongkey":
			key = newKey(t)
		case "altered":
			b[0] ^= 1
		}
		if _, err := store.PutBytes(ctxT(t, 10*time.Second), name, b); err != nil {
			t.Error(err)
			return
		}
		out := &nats.Msg{Subject: m.Reply, Header: headerOf(omq.HeaderBodyObject, name)}
		if key != "" {
			out.Header.Set(omq.HeaderBodyKey, key)
		}
		_ = raw.PublishMsg(out)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	cli, _ := e.node()
	ctx := ctxT(t, 30*time.Second)
	for how, want := range map[string]string{
		"nokey":    "has no Dpc-Body-Key header",
		"wrongkey": "does not decrypt with the key sent",
		"altered":  "does not decrypt with the key sent",
	} {
		var s string
		err := cli.Lookup("fake").Call(ctx, "get", omq.Args(how), &s)
		var re *omq.Error
		if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "body object reply-"+how) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v (result %q); want a local error naming the object and saying %q", how, err, s, want)
		}
	}
	var s string
	if err := cli.Lookup("fake").Call(ctx, "get", omq.Args("good"), &s); err != nil || s != "the result" {
		t.Fatalf("good reply: %q, %v", s, err)
	}
	if got := objectNames(t, store); len(got) != 0 {
		t.Fatalf("reply objects left behind: %v", got)
	}
}
