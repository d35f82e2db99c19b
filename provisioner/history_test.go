package provisioner_test

import (
	"context"
	"maps"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/provisioner"
	"github.com/nats-io/nats.go/jetstream"
)

// histories are the History implementations the contract tests run
// against, each fresh per test.
var histories = []struct {
	name string
	new  func(t *testing.T) provisioner.History
}{
	{"memory", func(*testing.T) provisioner.History { return provisioner.NewMemoryHistory() }},
	{"kv", func(t *testing.T) provisioner.History { return newKVHistory(t, jetStream(t)) }},
}

func jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(brokertest.Connect(t, brokertest.Start(t)))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func newKVHistory(t *testing.T, js jetstream.JetStream) *provisioner.KVHistory {
	t.Helper()
	h, err := provisioner.NewKVHistory(context.Background(), js, provisioner.DefaultHistoryBucket)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func peaks(t *testing.T, h provisioner.History, service string, slot int) map[int64]float64 {
	t.Helper()
	p, err := h.Peaks(context.Background(), service, slot)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func record(t *testing.T, h provisioner.History, service string, slot int, day int64, rate float64, keep int) {
	t.Helper()
	if err := h.RecordPeak(context.Background(), service, slot, day, rate, keep); err != nil {
		t.Fatalf("RecordPeak(%s, slot %d, day %d, %v, keep %d): %v", service, slot, day, rate, keep, err)
	}
}

func TestHistory_Contract(t *testing.T) {
	for _, impl := range histories {
		t.Run(impl.name, func(t *testing.T) {
			h := impl.new(t)

			if got := peaks(t, h, "tst", 3); len(got) != 0 || got == nil {
				t.Fatalf("empty history: %v, want an empty map", got)
			}

			// The peak only rises.
			record(t, h, "tst", 3, 100, 40, 7)
			record(t, h, "tst", 3, 100, 25, 7)
			record(t, h, "tst", 3, 100, 55.5, 7)
			record(t, h, "tst", 3, 101, 0, 7) // a quiet day is a day
			want := map[int64]float64{100: 55.5, 101: 0}
			if got := peaks(t, h, "tst", 3); !maps.Equal(got, want) {
				t.Fatalf("peaks %v, want %v", got, want)
			}

			// Services and slots are apart.
			record(t, h, "tst", 4, 100, 9, 7)
			record(t, h, "other", 3, 100, 8, 7)
			if got := peaks(t, h, "tst", 3); !maps.Equal(got, want) {
				t.Fatalf("after other slots and services: %v, want %v", got, want)
			}
			if got := peaks(t, h, "other", 3); !maps.Equal(got, map[int64]float64{100: 8}) {
				t.Fatalf("other: %v", got)
			}

			// The caller owns the map.
			got := peaks(t, h, "tst", 3)
			got[100] = 1e9
			if again := peaks(t, h, "tst", 3); again[100] != 55.5 {
				t.Fatalf("changing a returned map changed the history: %v", again)
			}

			// keep 3 on day 104: days 102, 103, 104 stay.
			record(t, h, "tst", 3, 102, 1, 3)
			record(t, h, "tst", 3, 104, 2, 3)
			if got, want := peaks(t, h, "tst", 3), map[int64]float64{102: 1, 104: 2}; !maps.Equal(got, want) {
				t.Fatalf("after trimming: %v, want %v", got, want)
			}
		})
	}
}

func TestHistory_RejectsBadRecords(t *testing.T) {
	tests := []struct {
		name    string
		service string
		slot    int
		rate    float64
		keep    int
	}{
		{"empty service", "", 0, 1, 7},
		{"negative slot", "tst", -1, 1, 7},
		{"negative rate", "tst", 0, -1, 7},
		{"NaN rate", "tst", 0, math.NaN(), 7},
		{"infinite rate", "tst", 0, math.Inf(1), 7},
		{"keep zero", "tst", 0, 1, 0},
	}
	for _, impl := range histories {
		t.Run(impl.name, func(t *testing.T) {
			h := impl.new(t)
			for _, tt := range tests {
				err := h.RecordPeak(context.Background(), tt.service, tt.slot, 100, tt.rate, tt.keep)
				if err == nil || !strings.HasPrefix(err.Error(), "provisioner: ") {
					t.Errorf("%s: err = %v", tt.name, err)
				}
			}
		})
	}
}

func TestKVHistory_SurvivesReopen(t *testing.T) {
	js := jetStream(t)
	h1 := newKVHistory(t, js)
	record(t, h1, "tst", 7, 200, 12.5, 7)
	record(t, h1, "tst", 7, 201, 30, 7)

	h2 := newKVHistory(t, js) // the bucket exists: opened as it is
	want := map[int64]float64{200: 12.5, 201: 30}
	if got := peaks(t, h2, "tst", 7); !maps.Equal(got, want) {
		t.Fatalf("reopened: %v, want %v", got, want)
	}
	// A restarted writer's lower peak does not lower the record.
	record(t, h2, "tst", 7, 201, 3, 7)
	if got := peaks(t, h1, "tst", 7); got[201] != 30 {
		t.Fatalf("after a lower peak: %v, want 30 kept", got)
	}
}

func TestKVHistory_ValueIsDayToPeakJSON(t *testing.T) {
	js := jetStream(t)
	h := newKVHistory(t, js)
	record(t, h, "tst", 7, 200, 12.5, 7)
	kv, err := js.KeyValue(context.Background(), provisioner.DefaultHistoryBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), "tst.7")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.Value()); got != `{"200":12.5}` {
		t.Errorf("value %s, want {\"200\":12.5}", got)
	}
}

func TestKVHistory_ConcurrentWritersKeepEveryPeak(t *testing.T) {
	js := jetStream(t)
	a, b := newKVHistory(t, js), newKVHistory(t, js)
	// Two writers record different days of one key at once; the
	// compare-and-set makes the loser of each race reread and merge, so no
	// day is lost.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for j, h := range []*provisioner.KVHistory{a, b} {
		wg.Go(func() {
			for i := range 10 {
				errs <- h.RecordPeak(context.Background(), "tst", 1, int64(300+2*i+j), float64(i), 100)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := peaks(t, a, "tst", 1); len(got) != 20 {
		t.Fatalf("%d days kept, want 20: %v", len(got), got)
	}
}

func TestKVHistory_ServiceNameMustBeAKeyToken(t *testing.T) {
	h := newKVHistory(t, jetStream(t))
	for _, name := range []string{"a.b", "a b", "a*", "a>"} {
		if err := h.RecordPeak(context.Background(), name, 0, 1, 1, 7); err == nil || !strings.Contains(err.Error(), "key") {
			t.Errorf("RecordPeak(%q): err = %v, want a key error", name, err)
		}
		if _, err := h.Peaks(context.Background(), name, 0); err == nil {
			t.Errorf("Peaks(%q): no error", name)
		}
	}
}
