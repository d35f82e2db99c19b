package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// A hub from before identities kept its JetStream data (notes, the
// durable lane, large bodies) in the NATS server's global account, "$G".
// Now every identity lives in the DPC account, whose data is in a
// directory named by its key: the first start with identities moves the
// old directory there, so that an upgrade loses no note.
func (h *Hub) migrateGlobalAccount() error {
	js := filepath.Join(h.cfg.DataDir, "jetstream")
	old := filepath.Join(js, "$G")
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	to := filepath.Join(js, h.auth.AccountKey())
	if _, err := os.Stat(to); err == nil {
		h.log.Warn("JetStream data of the hub from before identities left where it is: the DPC account has data already", "dir", old)
		return nil
	}
	if err := os.Rename(old, to); err != nil {
		return fmt.Errorf("moving the hub's JetStream data into its DPC account: %w", err)
	}
	h.log.Info("moved the notes, durable calls and large bodies of the hub from before identities into its DPC account", "from", old, "to", to)
	return nil
}
