package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/jetstream"
)

// upgradeConsumers brings the durable lane's consumers that an older omq
// made (no MaxDeliver: a crash loop never ended; no InactiveThreshold:
// the consumers of long-gone services stayed forever) to the settings omq
// gives a consumer now, keeping their AckWait (omq.UpgradeConsumer).
// Instances never rewrite a consumer they did not create, and deleting it
// to have it made again would leave every bound instance to notice; the
// hub updates it in place, once: an upgraded consumer has both settings.
func (h *Hub) upgradeConsumers(ctx context.Context) error {
	st, err := h.js.Stream(ctx, omq.DefaultStream)
	if err != nil {
		return fmt.Errorf("durable lane: %w", err)
	}
	lister := st.ListConsumers(ctx)
	var errs []error
	for info := range lister.Info() {
		if !strings.HasPrefix(info.Name, "omq_") {
			continue // not omq's
		}
		cfg, changed := omq.UpgradeConsumer(info.Config)
		if !changed {
			continue
		}
		if _, err := h.js.UpdateConsumer(ctx, omq.DefaultStream, cfg); err != nil {
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				continue // deleted meanwhile: whoever makes it again makes it current
			}
			errs = append(errs, fmt.Errorf("consumer %s: %w", info.Name, err))
			continue
		}
		h.log.Info("upgraded a durable consumer made by an older omq", "consumer", info.Name,
			"max_deliver", cfg.MaxDeliver, "ack_wait", info.Config.AckWait, "inactive_threshold", cfg.InactiveThreshold)
	}
	if err := lister.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
