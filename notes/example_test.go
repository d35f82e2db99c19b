package notes_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/notes"
	"github.com/nats-io/nats.go/jetstream"
)

// exampleJetStream starts an embedded NATS server with JetStream in a
// temporary directory.
func exampleJetStream() (js jetstream.JetStream, stop func()) {
	dir, err := os.MkdirTemp("", "notes-example")
	if err != nil {
		panic(err)
	}
	cfg := broker.DefaultConfig()
	cfg.Host, cfg.Port, cfg.HTTPPort, cfg.StoreDir = "127.0.0.1", broker.RandomPort, 0, dir
	srv, err := broker.Start(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	nc, err := srv.Connect()
	if err != nil {
		panic(err)
	}
	js, err = jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	return js, func() { nc.Close(); srv.Shutdown(); os.RemoveAll(dir) }
}

// Two devices edit the same revision: the second one's save is refused,
// and Merge combines both edits.
func Example() {
	js, stop := exampleJetStream()
	defer stop()
	ctx := context.Background()

	store, err := notes.Open(ctx, js)
	if err != nil {
		panic(err)
	}
	rev, _ := store.Save(ctx, "todo", []byte("milk\neggs\n"), 0)
	fmt.Println("created revision", rev)

	// The laptop edits revision 1 and saves first.
	rev, _ = store.Save(ctx, "todo", []byte("milk\neggs\nbread\n"), 1)
	fmt.Println("laptop saved revision", rev)

	// The phone also edited revision 1.
	phone := []byte("oat milk\neggs\n")
	_, err = store.Save(ctx, "todo", phone, 1)
	var conflict *notes.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("phone:", err)
	}
	res, err := store.Merge(ctx, "todo", phone, 1)
	if err != nil {
		panic(err)
	}
	fmt.Printf("merged into revision %d with %d conflicts:\n%s", res.Revision, res.Conflicts, res.Content)

	history, _ := store.History(ctx, "todo")
	for _, h := range history {
		fmt.Printf("revision %d: %d bytes\n", h.Revision, h.Size)
	}
	// Output:
	// created revision 1
	// laptop saved revision 2
	// phone: notes: conflict: note "todo" was saved from revision 1, but the latest is 2
	// merged into revision 3 with 0 conflicts:
	// oat milk
	// eggs
	// bread
	// revision 1: 10 bytes
	// revision 2: 16 bytes
	// revision 3: 20 bytes
}

func ExampleMerge3() {
	base := []byte("milk\neggs\nbread\n")
	laptop := []byte("milk\neggs\nrye bread\n")
	phone := []byte("milk\nfree-range eggs\nwhite bread\n")
	merged, conflicts := notes.Merge3(base, laptop, phone, notes.Labels{Ours: "laptop", Theirs: "phone"})
	fmt.Println(conflicts, "conflict")
	fmt.Print(string(merged))
	// Output:
	// 1 conflict
	// milk
	// <<<<<<< laptop
	// eggs
	// rye bread
	// =======
	// free-range eggs
	// white bread
	// >>>>>>> phone
}
