// Command cpu prints the CPU time, in microseconds, that processes and all
// their descendants have used: user plus system time (utime + stime) from
// /proc/PID/stat, summed over every thread of each process. The benchmark
// reads it before and after a run and divides the difference by the
// requests completed.
//
//	cpu PID...
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cpu PID...")
		os.Exit(2)
	}
	var roots []int
	for _, a := range os.Args[1:] {
		pid, err := strconv.Atoi(a)
		if err != nil || pid <= 0 {
			fmt.Fprintf(os.Stderr, "cpu: %q is not a process id\n", a)
			os.Exit(2)
		}
		roots = append(roots, pid)
	}
	proc := os.DirFS("/proc")
	ticks, err := TreeTicks(proc, roots)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu:", err)
		os.Exit(1)
	}
	fmt.Println(ticks * 1_000_000 / ClockTicks(proc))
}
