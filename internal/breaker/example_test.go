package breaker_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
)

// A proxy asks the breaker before each upstream call and reports the
// outcome after it. Client cancellations are reported as Ignored so they
// never count against the upstream.
func Example() {
	b := breaker.New(breaker.Settings{
		ConsecutiveFailures: 3,
		OpenFor:             5 * time.Second,
		MaxOpenFor:          time.Minute,
		HalfOpenProbes:      1,
	})
	for range 4 {
		tok, err := b.Allow()
		if errors.Is(err, breaker.ErrOpen) {
			s := b.Snapshot()
			fmt.Printf("rejected: %v (%s)\n", err, s.Reason)
			continue
		}
		start := time.Now()
		// ... forward the request; here the upstream refuses every connection.
		b.Done(tok, breaker.Failure, time.Since(start))
	}
	fmt.Println(b.Snapshot().State)
	// Output:
	// rejected: circuit breaker is open (3 consecutive failures)
	// open
}
