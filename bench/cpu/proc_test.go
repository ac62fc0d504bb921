package main

import (
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"testing/fstest"
)

func TestParseStatCountsFieldsAfterTheCommandName(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Stat
	}{
		{"plain name", "42 (nginx) S 1 42 42 0 -1 4194560 10 0 0 0 150 30 0 0 20 0 1 0 100 1000 10", Stat{PPID: 1, Ticks: 180}},
		{"name with spaces and parentheses", "43 (nginx: worker (x) ) S 42 42 42 0 -1 4194560 10 0 0 0 7 5 0 0 20 0 1 0 100 1000 10", Stat{PPID: 42, Ticks: 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.line))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseStat = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatRejectsTruncatedLines(t *testing.T) {
	if _, err := ParseStat([]byte("42 (nginx) S 1 42")); err == nil {
		t.Error("ParseStat accepted a line without utime and stime")
	}
}

func stat(ppid int, ticks int) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("1 (p) S " + strconv.Itoa(ppid) + " 0 0 0 0 0 0 0 0 0 " + strconv.Itoa(ticks) + " 0 0 0")}
}

func TestTreeTicksSumsARootAndItsDescendants(t *testing.T) {
	proc := fstest.MapFS{
		"10/stat":  stat(1, 100),  // nginx master
		"11/stat":  stat(10, 200), // worker
		"12/stat":  stat(10, 300), // worker
		"13/stat":  stat(12, 5),   // a worker's child
		"20/stat":  stat(1, 1000), // unrelated
		"self/foo": &fstest.MapFile{},
	}
	tests := []struct {
		roots []int
		want  uint64
	}{
		{[]int{10}, 605},
		{[]int{12}, 305},
		{[]int{20}, 1000},
		{[]int{10, 11}, 605}, // a descendant named twice counts once
	}
	for _, tt := range tests {
		got, err := TreeTicks(proc, tt.roots)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("TreeTicks(%v) = %d, want %d", tt.roots, got, tt.want)
		}
	}
	if _, err := TreeTicks(proc, []int{99}); err == nil {
		t.Error("TreeTicks of a process that is not running returned no error")
	}
}

func TestClockTicksReadsTheAuxiliaryVector(t *testing.T) {
	var auxv []byte
	for _, kv := range [][2]uint64{{6, 4096}, {atClkTck, 250}, {0, 0}} {
		auxv = binary.NativeEndian.AppendUint64(auxv, kv[0])
		auxv = binary.NativeEndian.AppendUint64(auxv, kv[1])
	}
	if got := ClockTicks(fstest.MapFS{"self/auxv": {Data: auxv}}); got != 250 {
		t.Errorf("ClockTicks = %d, want 250", got)
	}
	if got := ClockTicks(fstest.MapFS{}); got != 100 {
		t.Errorf("ClockTicks without auxv = %d, want the fallback 100", got)
	}
}

func TestTreeTicksOfThisProcessIsReadable(t *testing.T) {
	if _, err := TreeTicks(os.DirFS("/proc"), []int{os.Getpid()}); err != nil {
		t.Fatalf("TreeTicks of the test process: %v", err)
	}
	if hz := ClockTicks(os.DirFS("/proc")); hz == 0 {
		t.Error("ClockTicks = 0")
	}
}
