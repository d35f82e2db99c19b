package work

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
)

func TestConfig_Check(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" for valid
	}{
		{Config{}, ""},
		{Config{ServiceTime: time.Millisecond, Dist: Fixed}, ""},
		{Config{ServiceTime: time.Second, Dist: Exp}, ""},
		{Config{ServiceTime: -1}, "must not be negative"},
		{Config{Dist: "normal"}, `"normal"`},
	} {
		err := tc.cfg.Check()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// Fixed takes the mean every time; exp draws around it with the spread of
// an exponential (standard deviation equal to the mean).
func TestConfig_Sample(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	if got := (Config{}).Sample(r.ExpFloat64); got != DefaultServiceTime {
		t.Errorf("default: %s, want %s", got, DefaultServiceTime)
	}
	if got := (Config{ServiceTime: 7 * time.Millisecond, Dist: Fixed}).Sample(r.ExpFloat64); got != 7*time.Millisecond {
		t.Errorf("fixed: %s, want 7ms", got)
	}
	cfg := Config{ServiceTime: 20 * time.Millisecond, Dist: Exp}
	const n = 20000
	var sum, sumSq float64
	for range n {
		d := cfg.Sample(r.ExpFloat64).Seconds()
		sum += d
		sumSq += d * d
	}
	mean := sum / n
	sd := math.Sqrt(sumSq/n - mean*mean)
	if math.Abs(mean-0.020)/0.020 > 0.05 || math.Abs(sd-0.020)/0.020 > 0.05 {
		t.Errorf("exp: mean %.4fs, sd %.4fs over %d draws; want both near 0.020s", mean, sd, n)
	}
}

// A call whose caller has gone stops waiting at once, freeing its slot.
func TestHandlers_StopWhenTheContextEnds(t *testing.T) {
	h := Handlers(Config{ServiceTime: time.Hour})["work"]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Handle(ctx, &omq.Request{Service: "work", Function: "work", Instance: "i1"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestHandlers_ReturnTheInstanceID(t *testing.T) {
	h := Handlers(Config{ServiceTime: time.Microsecond})["work"]
	got, err := h.Handle(context.Background(), &omq.Request{Service: "work", Function: "work", Instance: "i1"})
	if err != nil || got != "i1" {
		t.Fatalf("got %v, %v; want i1", got, err)
	}
}
