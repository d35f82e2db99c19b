package broker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// asyncErrors collects the errors the server sends a connection
// asynchronously, such as permissions violations.
func asyncErrors() (nats.Option, <-chan error) {
	ch := make(chan error, 16)
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case ch <- err:
		default:
		}
	}), ch
}

// nextError waits for the next asynchronous error.
func nextError(t *testing.T, errs <-chan error) error {
	t.Helper()
	select {
	case err := <-errs:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no asynchronous error from the server")
		return nil
	}
}

// nextMsg waits for the next message on sub.
func nextMsg(t *testing.T, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no message on %s: %v", sub.Subject, err)
	}
	return msg
}

func authServer(t *testing.T, nkeyUsers ...broker.NKeyUser) *broker.Server {
	t.Helper()
	return brokertest.Start(t, func(c *broker.Config) {
		c.JetStream = false
		c.Users = []broker.User{
			{Name: "app", Password: "app-secret"}, // no permissions: everything
			{Name: "svc", Password: "svc-secret", Permissions: &broker.Permissions{
				PublishAllow:  []string{"dpc.svc.>"},
				SubscribeDeny: []string{"dpc.notes.>"},
			}},
			{Name: "worker", Password: "worker-secret", Permissions: &broker.Permissions{
				SubscribeAllow: []string{"dpc.svc.>"},
				AllowResponses: true,
			}},
			{Name: "mute-worker", Password: "mute-secret", Permissions: &broker.Permissions{
				SubscribeAllow: []string{"dpc.svc.>"},
				PublishAllow:   []string{"dpc.svc.>"},
			}},
		}
		c.NKeys = nkeyUsers
	})
}

func TestServer_UserPermissions(t *testing.T) {
	srv := authServer(t)
	internal := inProcess(t, srv)

	t.Run("publish allowed", func(t *testing.T) {
		sub, err := internal.SubscribeSync("dpc.svc.tst.add")
		if err != nil {
			t.Fatal(err)
		}
		if err := internal.Flush(); err != nil {
			t.Fatal(err)
		}
		nc := brokertest.Connect(t, srv, nats.UserInfo("svc", "svc-secret"))
		if err := nc.Publish("dpc.svc.tst.add", []byte("1")); err != nil {
			t.Fatal(err)
		}
		if got := nextMsg(t, sub); string(got.Data) != "1" {
			t.Errorf("got %q", got.Data)
		}
	})

	t.Run("publish denied", func(t *testing.T) {
		onErr, errs := asyncErrors()
		nc := brokertest.Connect(t, srv, nats.UserInfo("svc", "svc-secret"), onErr)
		if err := nc.Publish("dpc.notes.save", []byte("x")); err != nil {
			t.Fatal(err)
		}
		err := nextError(t, errs)
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Publish to "dpc.notes.save"`) {
			t.Errorf("async error = %v, want a publish permissions violation", err)
		}
	})

	t.Run("subscribe denied", func(t *testing.T) {
		onErr, errs := asyncErrors()
		nc := brokertest.Connect(t, srv, nats.UserInfo("svc", "svc-secret"), onErr)
		if _, err := nc.SubscribeSync("dpc.notes.get"); err != nil {
			t.Fatal(err)
		}
		err := nextError(t, errs)
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Subscription to "dpc.notes.get"`) {
			t.Errorf("async error = %v, want a subscription permissions violation", err)
		}
	})

	t.Run("internal connection is unrestricted", func(t *testing.T) {
		sub, err := internal.SubscribeSync("dpc.notes.get")
		if err != nil {
			t.Fatal(err)
		}
		if err := internal.Publish("dpc.notes.get", []byte("n")); err != nil {
			t.Fatal(err)
		}
		nextMsg(t, sub)
	})
}

func TestPermissions_AllowResponses(t *testing.T) {
	srv := authServer(t)
	app := brokertest.Connect(t, srv, nats.UserInfo("app", "app-secret"))

	t.Run("replies allowed", func(t *testing.T) {
		worker := brokertest.Connect(t, srv, nats.UserInfo("worker", "worker-secret"))
		_, err := worker.Subscribe("dpc.svc.echo.a", func(m *nats.Msg) { _ = m.Respond(m.Data) })
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Flush(); err != nil {
			t.Fatal(err)
		}
		reply, err := app.Request("dpc.svc.echo.a", []byte("ping"), 5*time.Second)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		if string(reply.Data) != "ping" {
			t.Errorf("reply %q", reply.Data)
		}
	})

	t.Run("only replies", func(t *testing.T) {
		onErr, errs := asyncErrors()
		worker := brokertest.Connect(t, srv, nats.UserInfo("worker", "worker-secret"), onErr)
		if err := worker.Publish("dpc.svc.echo.a", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := nextError(t, errs); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("async error = %v, want a publish permissions violation", err)
		}
	})

	t.Run("replies not allowed without it", func(t *testing.T) {
		onErr, errs := asyncErrors()
		worker := brokertest.Connect(t, srv, nats.UserInfo("mute-worker", "mute-secret"), onErr)
		_, err := worker.Subscribe("dpc.svc.echo.b", func(m *nats.Msg) { _ = m.Respond(m.Data) })
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Flush(); err != nil {
			t.Fatal(err)
		}
		inbox := app.NewRespInbox()
		if err := app.PublishRequest("dpc.svc.echo.b", inbox, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		err = nextError(t, errs)
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Publish to "`+inbox+`"`) {
			t.Errorf("async error = %v, want a publish violation on the reply inbox %s", err, inbox)
		}
	})
}

func TestServer_Authentication(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	srv := authServer(t, broker.NKeyUser{PublicKey: pub, Permissions: &broker.Permissions{
		PublishAllow: []string{"dpc.svc.>"},
	}})

	tests := []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"password", []nats.Option{nats.UserInfo("app", "app-secret")}, true},
		{"wrong password", []nats.Option{nats.UserInfo("app", "svc-secret")}, false},
		{"unknown user", []nats.Option{nats.UserInfo("eve", "app-secret")}, false},
		{"no credentials", nil, false},
		{"nkey", []nats.Option{nats.Nkey(pub, kp.Sign)}, true},
		{"nkey signed by another key", []nats.Option{nats.Nkey(pub, stranger.Sign)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]nats.Option{nats.NoReconnect(), nats.Timeout(5 * time.Second)}, tt.opts...)
			nc, err := nats.Connect(srv.ClientURL(), opts...)
			if err == nil {
				defer nc.Close()
				err = nc.Flush()
			}
			if tt.ok && err != nil {
				t.Fatalf("connect: %v", err)
			}
			if !tt.ok && !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("connect: %v, want %v", err, nats.ErrAuthorization)
			}
		})
	}

	t.Run("nkey permissions", func(t *testing.T) {
		onErr, errs := asyncErrors()
		nc := brokertest.Connect(t, srv, nats.Nkey(pub, kp.Sign), onErr)
		if err := nc.Publish("dpc.notes.save", nil); err != nil {
			t.Fatal(err)
		}
		if err := nextError(t, errs); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("async error = %v, want a publish permissions violation", err)
		}
	})

	t.Run("in-process connection", func(t *testing.T) {
		nc := inProcess(t, srv)
		sub, err := nc.SubscribeSync("anything.goes")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("anything.goes", []byte("x")); err != nil {
			t.Fatal(err)
		}
		nextMsg(t, sub)
	})
}
