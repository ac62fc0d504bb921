// Package doctor checks that a node and its databases are prepared for
// chatty microservice traffic: kernel network settings, CPU steal and
// iowait, ephemeral ports, open-file limits, storage, and MariaDB/MySQL and
// PostgreSQL settings. Each check is small, reads the machine through an
// injected root directory, and runs in parallel with the others.
package doctor

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// Status is the verdict of one check.
type Status int

// Statuses, from best to worst. Skip means the check could not tell or does
// not apply here; it never changes the exit status.
const (
	OK Status = iota
	Skip
	Warn
	Fail
)

// statuses lists every status, best first.
func statuses() []Status { return []Status{OK, Skip, Warn, Fail} }

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Skip:
		return "skip"
	case Warn:
		return "warn"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// MarshalText writes the status as its name, for JSON.
func (s Status) MarshalText() ([]byte, error) {
	if s < OK || s > Fail {
		return nil, fmt.Errorf("doctor: unknown status %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a status name.
func (s *Status) UnmarshalText(b []byte) error {
	for _, st := range statuses() {
		if st.String() == string(b) {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("doctor: unknown status %q (want ok, skip, warn or fail)", b)
}

// Result is one row of the report.
type Result struct {
	// Check names what was checked, such as "net.core.somaxconn".
	Check string `json:"check"`
	// Status is the verdict.
	Status Status `json:"status"`
	// Found is what the check saw.
	Found string `json:"found"`
	// Expected is what it should be.
	Expected string `json:"expected"`
	// Why says what goes wrong when it is not.
	Why string `json:"why"`
}

// Check is one small, independent check.
type Check struct {
	// Name is the check's name in the report.
	Name string
	// Run does the check. It should make as much progress as it can and
	// report what it could not read as Skip rather than give up silently.
	Run func(ctx context.Context) Result
}

// Run runs the checks in parallel and returns their results in the order
// of checks. A check that panics is reported as failed.
func Run(ctx context.Context, checks []Check) []Result {
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			results[i] = runOne(ctx, c)
		})
	}
	wg.Wait()
	return results
}

func runOne(ctx context.Context, c Check) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Result{Check: c.Name, Status: Fail, Found: fmt.Sprintf("the check panicked: %v", p),
				Why: "a bug in skjold doctor; please report it with this stack:\n" + string(debug.Stack())}
		}
	}()
	r = c.Run(ctx)
	if r.Check == "" {
		r.Check = c.Name
	}
	return r
}

// Worst returns the worst status among results, OK for none.
func Worst(results []Result) Status {
	w := OK
	for _, r := range results {
		if r.Status > w {
			w = r.Status
		}
	}
	return w
}

// ExitCode is the process exit status for results: 2 when a check failed,
// 1 when one warned and strict is set, else 0.
func ExitCode(results []Result, strict bool) int {
	switch Worst(results) {
	case Fail:
		return 2
	case Warn:
		if strict {
			return 1
		}
	}
	return 0
}
