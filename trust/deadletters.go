package trust

import "time"

// What the hub's deadletters service takes and answers (docs/PROTOCOL.md
// §6). Owner only: the server lets no other role send to
// dpc.*.deadletters.>. The dead letters are durable calls that could not
// succeed, kept in the DPC_DEAD stream.

// The dead-letter service and its functions (list is FnList).
const (
	DeadLettersService = "deadletters"
	FnReplay           = "replay"
	FnPurge            = "purge"
)

// Bounds of one call to the dead-letter service.
const (
	// MaxDeadList is the most dead letters list returns at once.
	MaxDeadList = 1000
	// MaxDeadIDs is the most ids one replay or purge takes.
	MaxDeadIDs = 1000
)

// DeadListRequest asks for the dead letters, oldest first.
type DeadListRequest struct {
	// Service keeps only its dead letters ("": all).
	Service string `json:"service,omitempty"`
	// Limit is the most to return: 1 to MaxDeadList (0: MaxDeadList).
	Limit int `json:"limit,omitempty"`
}

// DeadLetter is one dead letter, as list shows it.
type DeadLetter struct {
	// ID is its sequence in the dead-letter stream: what replay and purge
	// take.
	ID       uint64 `json:"id"`
	Service  string `json:"service"`
	Function string `json:"function"`
	// Code is the error code of the last answer (0: there was none).
	Code int `json:"code,omitempty"`
	// Reason is the Dpc-Dead-Reason header: the code and description of
	// the last answer, or why there was none.
	Reason     string    `json:"reason"`
	Deliveries int       `json:"deliveries"`
	Time       time.Time `json:"time"`
	// Size is the stored message's size in bytes.
	Size int `json:"size"`
	// LargeBody: the arguments are in the large-body store, which keeps
	// them 7 days from the call's send; a replay after that fails.
	LargeBody bool `json:"large_body,omitempty"`
}

// DeadListReply is the first Limit dead letters and how many there are.
type DeadListReply struct {
	Letters []DeadLetter `json:"letters"`
	// Total is how many dead letters match the request.
	Total int `json:"total"`
	// More: there are more than Letters.
	More bool `json:"more"`
}

// DeadRequest selects dead letters to replay or purge: by id, or all of
// them (of one service, if Service is set).
type DeadRequest struct {
	IDs []uint64 `json:"ids,omitempty"`
	All bool     `json:"all,omitempty"`
	// Service narrows All.
	Service string `json:"service,omitempty"`
	// From and To carry on an All that the hub did in batches: send them
	// back as the last reply's Next and To. Dead letters that arrive
	// after the first call (such as a replayed call failing again) are
	// left out.
	From uint64 `json:"from,omitempty"`
	To   uint64 `json:"to,omitempty"`
}

// DeadReply says what one replay or purge call did.
type DeadReply struct {
	// Done is how many dead letters were replayed or purged.
	Done int `json:"done"`
	// Skipped are the ones left as they were, and why.
	Skipped []DeadSkip `json:"skipped,omitempty"`
	// Next, if not 0, asks for another call with From = Next and To = To:
	// an All goes in bounded batches.
	Next uint64 `json:"next,omitempty"`
	To   uint64 `json:"to,omitempty"`
}

// DeadSkip is a dead letter left alone, and why.
type DeadSkip struct {
	ID  uint64 `json:"id"`
	Why string `json:"why"`
}
