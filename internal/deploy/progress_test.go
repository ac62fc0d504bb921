package deploy

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a strings.Builder the spinner goroutine and the test may
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var escapes = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// TestTerminalViewShowsWhenEachStepBeganAndHowLongItTook: the finished
// steps keep their lines with the wall-clock time they began and their
// elapsed time; the step under way is redrawn with the spinner, its start
// time and its running time.
func TestTerminalViewShowsWhenEachStepBeganAndHowLongItTook(t *testing.T) {
	var out lockedBuffer
	r := NewTerminalReporter(&out)
	began := time.Now().Add(-2 * time.Second)
	at := began.Add(1500 * time.Millisecond)
	r.Report(Event{Time: began, Service: "app", Release: 2, Step: StepHealth, Status: StatusBegin, Message: "GET /health"})
	r.Report(Event{Time: at, Service: "app", Release: 2, Step: StepHealth, Status: StatusDone, Message: "3 passes in a row", Elapsed: 1500 * time.Millisecond})
	r.Report(Event{Time: at, Service: "app", Release: 2, Step: StepWatch, Status: StatusBegin, Message: "watching"})
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), spinner[1]) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the spinner turns every 100ms
	}
	r.Close()
	plain := escapes.ReplaceAllString(out.String(), "")
	want := "✓ " + began.Format("15:04:05") + " health   3 passes in a row  1.5s\n"
	if !strings.Contains(plain, want) {
		t.Errorf("output %q does not hold the finished step %q", plain, want)
	}
	spin := regexp.MustCompile(`[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] ` + at.Format("15:04:05") + ` watch    watching  \d+ms`)
	if !spin.MatchString(plain) {
		t.Errorf("output %q has no spinner line with the step's start time and running time", plain)
	}
}
