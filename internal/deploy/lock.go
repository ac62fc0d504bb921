package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrLocked: another deploy of the service holds its lock.
var ErrLocked = errors.New("another deploy of this service is running")

// Holder describes the process holding a deploy lock.
type Holder struct {
	PID     int       `json:"pid"`
	By      string    `json:"by"`
	Started time.Time `json:"started"`
	// Doing is what it is doing: "deploy v2", "rollback".
	Doing string `json:"doing"`
}

// LockedError is returned when the lock is held; it names the holder.
type LockedError struct {
	Service string
	Holder  Holder
	// Now is when the lock was found held, for "3m ago".
	Now time.Time
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("%s: %v (it is just starting); wait for it with --wait", e.Service, ErrLocked)
	}
	return fmt.Sprintf("%s: %v: pid %d (%s, by %s) since %s (%s ago); wait for it with --wait, or see `skjold deploy status %s`",
		e.Service, ErrLocked, h.PID, h.Doing, h.By, h.Started.Local().Format("15:04:05"),
		e.Now.Sub(h.Started).Round(time.Second), e.Service)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is a held deploy lock: an exclusive flock on a file in the state
// directory. The kernel releases it when the holder exits, however it
// exits (kill -9 included), so a dead deploy never blocks the next one.
type Lock struct {
	f *os.File
}

// lockPoll is how often a waiting deploy tries the lock again. flock
// cannot be interrupted by a context, so waiting polls instead of
// blocking in the kernel.
const lockPoll = 100 * time.Millisecond

// AcquireLock takes the deploy lock in dir for service. If another process
// holds it, it returns a *LockedError at once, or with wait, tries again
// until it gets the lock or ctx ends; waiting is called once, with the
// holder, when it starts to wait.
func AcquireLock(ctx context.Context, dir, service string, me Holder, wait bool, waiting func(Holder)) (*Lock, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("%s: deploy lock: %w", service, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("%s: deploy lock %s: %w", service, path, err)
		}
		h := readHolder(path)
		if !wait {
			f.Close()
			return nil, &LockedError{Service: service, Holder: h, Now: time.Now()}
		}
		if !told && waiting != nil {
			waiting(h)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%s: gave up waiting for the deploy lock: %w", service, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
	// Say who holds it, for the error a second deploy prints.
	b, _ := json.Marshal(me)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
		_ = f.Sync()
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// readHolder reads who holds the lock; a zero Holder when the holder has
// not written itself yet.
func readHolder(path string) Holder {
	var h Holder
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return h
}
