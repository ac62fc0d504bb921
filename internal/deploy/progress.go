package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Step is a stage of a deploy.
type Step string

// The steps of a deploy, in order. Rollback and Cleanup happen when
// needed.
const (
	StepLock     Step = "lock"
	StepCleanup  Step = "cleanup"
	StepStart    Step = "start"
	StepHealth   Step = "health"
	StepSwitch   Step = "switch"
	StepDrain    Step = "drain"
	StepWatch    Step = "watch"
	StepStop     Step = "stop"
	StepRollback Step = "rollback"
	StepDone     Step = "done"
)

// Status of an event.
const (
	StatusBegin    = "begin"
	StatusProgress = "progress"
	StatusDone     = "done"
	StatusFailed   = "failed"
)

// Event is one line of a deploy's progress.
type Event struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"`
	Release int       `json:"release,omitempty"`
	Step    Step      `json:"step"`
	// Status is begin, progress, done or failed.
	Status  string `json:"status"`
	Message string `json:"message"`
	// Elapsed is the time since the step began.
	Elapsed time.Duration `json:"-"`
	Seconds float64       `json:"elapsed_seconds"`
}

// Reporter receives a deploy's progress. Report is called from one
// goroutine at a time.
type Reporter interface {
	Report(Event)
}

// Discard is a Reporter that drops everything.
type Discard struct{}

// Report does nothing.
func (Discard) Report(Event) {}

// JSONReporter writes each event as one JSON line, for machines.
type JSONReporter struct {
	W io.Writer
}

// Report writes ev.
func (j JSONReporter) Report(ev Event) {
	ev.Seconds = ev.Elapsed.Seconds()
	b, _ := json.Marshal(ev)
	_, _ = j.W.Write(append(b, '\n'))
}

// PlainReporter writes a line per step change, for logs and CI: no
// escape codes, and progress at most every five seconds per step.
type PlainReporter struct {
	W io.Writer
	// lastStep and lastAt are the step and time of the last progress line.
	lastStep Step
	lastAt   time.Time
}

// plainEvery is how often a step's progress is printed.
const plainEvery = 5 * time.Second

// Report writes ev, leaving out progress printed less than five seconds
// ago.
func (p *PlainReporter) Report(ev Event) {
	if ev.Status == StatusProgress {
		if ev.Step == p.lastStep && ev.Time.Sub(p.lastAt) < plainEvery {
			return
		}
		p.lastStep, p.lastAt = ev.Step, ev.Time
	} else {
		p.lastStep = ""
	}
	fmt.Fprintf(p.W, "%s %s %-8s %s%s\n", ev.Time.Format("15:04:05"), label(ev),
		ev.Step, mark(ev.Status), withElapsed(ev))
}

func label(ev Event) string {
	if ev.Release > 0 {
		return fmt.Sprintf("[%s r%d]", ev.Service, ev.Release)
	}
	return "[" + ev.Service + "]"
}

func mark(status string) string {
	switch status {
	case StatusDone:
		return "ok: "
	case StatusFailed:
		return "FAILED: "
	}
	return ""
}

func withElapsed(ev Event) string {
	if ev.Status == StatusBegin || ev.Elapsed <= 0 {
		return ev.Message
	}
	return fmt.Sprintf("%s (%s)", ev.Message, roundDur(ev.Elapsed))
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// TerminalReporter draws progress for a person at a terminal: finished
// steps stay as lines with the wall-clock time they began and how long
// they took, the step under way is one line redrawn in place with a
// spinner, its start time and its running elapsed time. Close stops the
// spinner.
type TerminalReporter struct {
	w io.Writer

	mu      sync.Mutex
	current *Event
	began   time.Time
	frame   int
	stop    chan struct{}
	done    chan struct{}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// NewTerminalReporter starts a reporter that redraws w ten times a second.
func NewTerminalReporter(w io.Writer) *TerminalReporter {
	t := &TerminalReporter{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go t.spin()
	return t
}

func (t *TerminalReporter) spin() {
	defer close(t.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.mu.Lock()
			t.frame++
			t.drawLocked()
			t.mu.Unlock()
		}
	}
}

// drawLocked redraws the line of the step under way.
func (t *TerminalReporter) drawLocked() {
	if t.current == nil {
		return
	}
	ev := t.current
	el := roundDur(time.Since(t.began))
	fmt.Fprintf(t.w, "\r\x1b[2K%s %s %-8s %s  %s", spinner[t.frame%len(spinner)], clock(t.began), ev.Step, ev.Message, dim(el.String()))
}

// clock is the wall-clock time a step began, as the lines show it.
func clock(t time.Time) string { return dim(t.Local().Format("15:04:05")) }

func dim(s string) string { return "\x1b[2m" + s + "\x1b[0m" }

// Report shows ev.
func (t *TerminalReporter) Report(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Status {
	case StatusBegin, StatusProgress:
		if t.current == nil || t.current.Step != ev.Step {
			t.began = ev.Time.Add(-ev.Elapsed)
		}
		e := ev
		t.current = &e
		t.drawLocked()
	default:
		sym := "\x1b[32m✓\x1b[0m"
		if ev.Status == StatusFailed {
			sym = "\x1b[31m✗\x1b[0m"
		}
		msg := strings.ReplaceAll(ev.Message, "\n", "\n                    ")
		fmt.Fprintf(t.w, "\r\x1b[2K%s %s %-8s %s  %s\n", sym, clock(ev.Time.Add(-ev.Elapsed)), ev.Step, msg, dim(roundDur(ev.Elapsed).String()))
		t.current = nil
	}
}

// Close stops the spinner and clears its line.
func (t *TerminalReporter) Close() {
	select {
	case <-t.stop:
		return
	default:
	}
	close(t.stop)
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current != nil {
		fmt.Fprint(t.w, "\r\x1b[2K")
		t.current = nil
	}
}

// stepClock reports the events of one step with its elapsed time.
type stepClock struct {
	r       Reporter
	service string
	release int
	step    Step
	start   time.Time
}

func (d *Deployer) begin(release int, step Step, format string, args ...any) *stepClock {
	sc := &stepClock{r: d.progress(), service: d.opts.Service, release: release, step: step, start: time.Now()}
	sc.emit(StatusBegin, fmt.Sprintf(format, args...))
	return sc
}

func (sc *stepClock) emit(status, msg string) {
	now := time.Now()
	sc.r.Report(Event{Time: now, Service: sc.service, Release: sc.release, Step: sc.step,
		Status: status, Message: msg, Elapsed: now.Sub(sc.start)})
}

func (sc *stepClock) progress(format string, args ...any) {
	sc.emit(StatusProgress, fmt.Sprintf(format, args...))
}
func (sc *stepClock) done(format string, args ...any) {
	sc.emit(StatusDone, fmt.Sprintf(format, args...))
}
func (sc *stepClock) fail(format string, args ...any) {
	sc.emit(StatusFailed, fmt.Sprintf(format, args...))
}
