package callbench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// A side is one way of doing a request-reply call that the bench compares:
// raw nats.go against a queue-group responder, or an omq Call.
type side interface {
	// Name is the side's label in the report ("raw" or "omq").
	Name() string
	// Serve starts the side's responder on its own connection to url. The
	// returned stop ends it.
	Serve(ctx context.Context, url string) (stop func(), err error)
	// Dial opens one client on its own connection to url.
	Dial(url string) (client, error)
}

// A client makes calls one at a time on its own connection.
type client interface {
	Call(ctx context.Context) error
	Close()
}

// Side names, as --sides takes them.
const (
	SideRaw = "raw"
	SideOMQ = "omq"
)

// sideParams is what every side is built from, so that all carry the same
// payload under the same timeout.
type sideParams struct {
	// runID keeps this run's subjects apart from anything else on a shared
	// server.
	runID   string
	payload int
	timeout time.Duration
	// conn are the options of every connection: a hub's credentials, CA
	// and inbox prefix (see hubconn.Resolve); none for the embedded
	// server.
	conn []nats.Option
}

// connect opens one of the side's connections, called name, to url.
func (p sideParams) connect(url, name string) (*nats.Conn, error) {
	return nats.Connect(url, append([]nats.Option{nats.Name(name)}, p.conn...)...)
}

func newSide(name string, p sideParams) (side, error) {
	switch name {
	case SideRaw:
		return rawSide{p}, nil
	case SideOMQ:
		return omqSide{p}, nil
	}
	return nil, fmt.Errorf("unknown side %q (want %s or %s)", name, SideRaw, SideOMQ)
}

// payload is the request body of n bytes. Both sides send it: raw as the
// message body, omq as the one argument of echo (so omq's body is the same
// bytes plus the JSON array and string quoting, 4 bytes more).
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return b
}
