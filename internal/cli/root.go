// Package cli wires Skjold's subcommands: flags and plumbing only; the work
// happens in the packages each command calls.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// exitError carries a process exit status through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withCode makes a command fail with a specific exit status. A nil err
// means the command has already printed what went wrong.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// streams are the standard streams a command reads and writes.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Run executes the skjold command line and returns the process exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := streams{in: stdin, out: stdout, err: stderr}
	root := newRoot(s)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "skjold:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "skjold:", err)
	return 1
}

func newRoot(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "skjold",
		Short:         "A gateway that keeps serving when a dependency misbehaves, plus deploys, doctor, databases and residency",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, add := range subcommands {
		root.AddCommand(add(s))
	}
	return root
}
