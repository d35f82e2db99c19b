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
	fmt.Printf("merged into revision %d:\n%s", res.Revision, res.Content)

	history, _ := store.History(ctx, "todo")
	for _, h := range history {
		fmt.Printf("revision %d: %d bytes\n", h.Revision, h.Size)
	}
	// Output:
	// created revision 1
	// laptop saved revision 2
	// phone: notes: conflict: note "todo" was saved from revision 1, but the latest is 2
	// merged into revision 3:
	// oat milk
	// eggs
	// bread
	// revision 1: 10 bytes
	// revision 2: 16 bytes
	// revision 3: 20 bytes
}

// Two devices change the same line: Merge saves nothing and hands back
// the text with the conflict marked. The person resolves it and saves it
// on top of the revision it was merged with.
func ExampleMergeConflictError() {
	js, stop := exampleJetStream()
	defer stop()
	ctx := context.Background()
	store, err := notes.Open(ctx, js)
	if err != nil {
		panic(err)
	}
	store.Save(ctx, "todo", []byte("milk\neggs\n"), 0)
	store.Save(ctx, "todo", []byte("oat milk\neggs\n"), 1) // the laptop

	_, err = store.Merge(ctx, "todo", []byte("soy milk\neggs\n"), 1) // the phone
	var conflict *notes.MergeConflictError
	if !errors.As(err, &conflict) {
		panic(err)
	}
	fmt.Println(err)
	fmt.Print(string(conflict.Content))

	rev, _ := store.Save(ctx, "todo", []byte("oat milk\nsoy milk\neggs\n"), conflict.Latest)
	fmt.Println("resolved as revision", rev)
	// Output:
	// notes: merge conflict: merging the edit of note "todo" (from revision 1) with revision 2 gives 1 conflict, at lines 1-5 of the merged text; nothing was saved
	// <<<<<<< latest (revision 2)
	// oat milk
	// =======
	// soy milk
	// >>>>>>> yours (edited from revision 1)
	// eggs
	// resolved as revision 3
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
