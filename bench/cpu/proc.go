package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
)

// Stat is what the benchmark needs of /proc/PID/stat.
type Stat struct {
	PPID  int
	Ticks uint64 // utime + stime, in clock ticks
}

// ParseStat reads a /proc/PID/stat line. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return Stat{}, errors.New("no command name in stat line")
	}
	// Fields from 3 on: state ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	f := bytes.Fields(b[end+1:])
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("stat line has %d fields after the command name, want at least 13", len(f))
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return Stat{}, fmt.Errorf("ppid: %w", err)
	}
	utime, err := strconv.ParseUint(string(f[11]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(string(f[12]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("stime: %w", err)
	}
	return Stat{PPID: ppid, Ticks: utime + stime}, nil
}

// TreeTicks sums the CPU ticks of the roots and of every process descending
// from them, as /proc (proc) shows them now. A root that does not exist is
// an error; a process that exits while /proc is read is skipped.
func TreeTicks(proc fs.FS, roots []int) (uint64, error) {
	entries, err := fs.ReadDir(proc, ".")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	stats := make(map[int]Stat)
	children := make(map[int][]int)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := fs.ReadFile(proc, e.Name()+"/stat")
		if err != nil {
			continue
		}
		st, err := ParseStat(b)
		if err != nil {
			return 0, fmt.Errorf("process %d: %w", pid, err)
		}
		stats[pid] = st
		children[st.PPID] = append(children[st.PPID], pid)
	}
	var total uint64
	seen := make(map[int]bool)
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		total += stats[pid].Ticks
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, r := range roots {
		if _, ok := stats[r]; !ok {
			return 0, fmt.Errorf("process %d: not running", r)
		}
		walk(r)
	}
	return total, nil
}

// atClkTck is the auxiliary vector entry holding the clock tick rate.
const atClkTck = 17

// ClockTicks returns the kernel's USER_HZ, the unit of utime and stime,
// from the auxiliary vector in proc's self/auxv; 100 when it cannot be read
// (the value on every common Linux build).
func ClockTicks(proc fs.FS) uint64 {
	b, err := fs.ReadFile(proc, "self/auxv")
	if err != nil {
		return 100
	}
	for len(b) >= 16 {
		key, val := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
		if key == atClkTck && val > 0 {
			return val
		}
		if key == 0 {
			break
		}
		b = b[16:]
	}
	return 100
}
