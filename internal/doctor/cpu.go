package doctor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Thresholds of the CPU checks, as percentages of all CPU time; see
// docs/doctor.md for the reasoning.
const (
	iowaitWarn = 5  // the field guide's line
	iowaitFail = 20 // a fifth of the machine's time blocked on storage
	stealWarn  = 3
	stealFail  = 10
)

// cpuTimes are the aggregate counters of the "cpu" line of /proc/stat, in
// USER_HZ ticks. guest and guest_nice are already included in user and
// nice, so they are not read.
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal uint64
}

func (t cpuTimes) total() uint64 {
	return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal
}

// parseProcStat reads the aggregate cpu line of /proc/stat. Kernels older
// than 2.6.11 have no steal column; it reads as zero.
func parseProcStat(b []byte) (cpuTimes, int, error) {
	var t cpuTimes
	found := false
	cpus := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cpus++
			continue
		}
		if len(f) < 5 {
			return t, 0, fmt.Errorf("/proc/stat: cpu line has %d fields, want at least 5", len(f)-1)
		}
		dst := []*uint64{&t.user, &t.nice, &t.system, &t.idle, &t.iowait, &t.irq, &t.softirq, &t.steal}
		for i, p := range dst {
			if i+1 >= len(f) {
				break
			}
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return t, 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
			}
			*p = n
		}
		found = true
	}
	if !found {
		return t, 0, errors.New("/proc/stat has no aggregate cpu line")
	}
	return t, cpus, nil
}

// cpuSample is the share of CPU time stolen and spent waiting on I/O over
// one sampling interval.
type cpuSample struct {
	steal, iowait float64 // ratios, 0..1
	span          time.Duration
	cpus          int
}

// sampleCPU reads /proc/stat, waits d with wait, and reads it again.
func sampleCPU(ctx context.Context, h Host, d time.Duration, wait func(context.Context, time.Duration) error) (cpuSample, error) {
	read := func() (cpuTimes, int, error) {
		b, err := h.readFile("/proc/stat")
		if err != nil {
			return cpuTimes{}, 0, err
		}
		return parseProcStat(b)
	}
	before, _, err := read()
	if err != nil {
		return cpuSample{}, err
	}
	if err := wait(ctx, d); err != nil {
		return cpuSample{}, fmt.Errorf("sampling /proc/stat: %w", err)
	}
	after, cpus, err := read()
	if err != nil {
		return cpuSample{}, err
	}
	if after.total() <= before.total() {
		return cpuSample{}, fmt.Errorf("no CPU time passed in /proc/stat over %s", d)
	}
	total := after.total() - before.total()
	return cpuSample{
		steal:  float64(after.steal-before.steal) / float64(total),
		iowait: float64(after.iowait-before.iowait) / float64(total),
		span:   d,
		cpus:   cpus,
	}, nil
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cpuChecks builds the steal and iowait checks, which share one sample.
func cpuChecks(h Host, d time.Duration, wait func(context.Context, time.Duration) error) []Check {
	var (
		once   sync.Once
		sample cpuSample
		err    error
	)
	get := func(ctx context.Context) (cpuSample, error) {
		once.Do(func() { sample, err = sampleCPU(ctx, h, d, wait) })
		return sample, err
	}
	judge := func(name, expected, why string, pick func(cpuSample) float64, warn, fail float64) Check {
		return Check{Name: name, Run: func(ctx context.Context) Result {
			r := Result{Check: name, Expected: expected, Why: why}
			s, err := get(ctx)
			if err != nil {
				r.Status, r.Found = Skip, "unknown: "+err.Error()
				return r
			}
			v := pick(s)
			r.Found = fmt.Sprintf("%s over %s (%d CPUs)", percent(v), s.span, s.cpus)
			switch {
			case v*100 >= fail:
				r.Status = Fail
			case v*100 >= warn:
				r.Status = Warn
			default:
				r.Status = OK
			}
			return r
		}}
	}
	return []Check{
		judge("cpu.steal", fmt.Sprintf("< %d%% (fail at %d%%)", stealWarn, stealFail),
			"time the hypervisor gave this VM's CPUs to others: an oversold host; it lands on every hop as latency",
			func(s cpuSample) float64 { return s.steal }, stealWarn, stealFail),
		judge("cpu.iowait", fmt.Sprintf("< %d%% (fail at %d%%)", iowaitWarn, iowaitFail),
			"CPU time idle while waiting on storage; above 5% the disks, not the code, set the pace",
			func(s cpuSample) float64 { return s.iowait }, iowaitWarn, iowaitFail),
	}
}
