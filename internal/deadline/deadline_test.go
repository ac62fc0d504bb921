package deadline

import (
	"testing"
	"time"
)

func TestLazyDue(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		armed time.Time // armed before; zero with known: no deadline armed
		known bool
		want  time.Time
		due   bool
	}{
		{"nothing known yet", time.Time{}, false, now.Add(time.Minute), true},
		{"nothing known, no deadline wanted", time.Time{}, false, time.Time{}, true},
		{"no deadline, none wanted", time.Time{}, true, time.Time{}, false},
		{"no deadline armed, one wanted", time.Time{}, true, now.Add(time.Minute), true},
		{"deadline armed, none wanted", now.Add(time.Minute), true, time.Time{}, true},
		{"same deadline", now.Add(time.Minute), true, now.Add(time.Minute), false},
		{"a minute timeout moved by 200ms", now.Add(time.Minute), true, now.Add(time.Minute + 200*time.Millisecond), false},
		{"a minute timeout moved back by 200ms", now.Add(time.Minute), true, now.Add(time.Minute - 200*time.Millisecond), false},
		{"a minute timeout moved by 301ms", now.Add(time.Minute), true, now.Add(time.Minute + 301*time.Millisecond), true},
		{"100ms timeout, armed 10ms earlier", now.Add(90 * time.Millisecond), true, now.Add(100 * time.Millisecond), false},
		{"100ms timeout, armed 20ms earlier", now.Add(80 * time.Millisecond), true, now.Add(100 * time.Millisecond), true},
		{"armed deadline already passed", now.Add(-time.Millisecond), true, now.Add(time.Millisecond / 2), true},
		{"wanted deadline passed", now.Add(-time.Millisecond), true, now.Add(-time.Millisecond), true},
		{"wanted deadline is now", now, true, now, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Lazy{at: tt.armed, known: tt.known}
			if got := l.Due(tt.want, now); got != tt.due {
				t.Fatalf("Due(%v) with %v armed = %v, want %v", tt.want.Sub(now), tt.armed.Sub(now), got, tt.due)
			}
			if tt.due && (l.at != tt.want || !l.known) {
				t.Fatalf("after Due, armed %v, want %v recorded", l.at, tt.want)
			}
			if !tt.due && l.at != tt.armed {
				t.Fatalf("a deadline kept changed what is armed: %v, want %v", l.at, tt.armed)
			}
		})
	}
}

func TestLazyForget(t *testing.T) {
	now := time.Now()
	var l Lazy
	if !l.Due(now.Add(time.Minute), now) {
		t.Fatal("first Due = false")
	}
	if l.Due(now.Add(time.Minute), now) {
		t.Fatal("Due of the armed deadline = true")
	}
	l.Forget()
	if !l.Due(now.Add(time.Minute), now) {
		t.Fatal("Due after Forget = false: a deadline set behind Lazy's back would stay")
	}
}

func BenchmarkLazyDue(b *testing.B) {
	var l Lazy
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		t := now.Add(time.Duration(i) * time.Microsecond)
		l.Due(t.Add(time.Minute), t)
	}
}
