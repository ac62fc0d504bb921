package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/doctor"
)

// reportFlags are the output flags every doctor command shares.
type reportFlags struct {
	json, strict bool
}

func (f *reportFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.json, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "exit 1 when a check warns (failures always exit 2)")
}

// print writes the report and turns it into the exit status.
func (f *reportFlags) print(s streams, rep doctor.Report) error {
	var err error
	if f.json {
		err = rep.WriteJSON(s.out)
	} else {
		err = rep.WriteTable(s.out)
	}
	if err != nil {
		return withCode(2, err)
	}
	if code := doctor.ExitCode(rep.Results, f.strict); code != 0 {
		return withCode(code, nil)
	}
	return nil
}

const doctorExitHelp = "Exit status: 0 when every check passes (or is skipped), 1 when one warns and\n" +
	"--strict is given, 2 when one fails. docs/doctor.md explains every check."

// newDoctor builds `skjold doctor`: check that this node is prepared for
// chatty microservice traffic, and with --fix set the kernel settings.
func newDoctor(s streams) *cobra.Command {
	var (
		rf       reportFlags
		o        doctor.NodeOptions
		root     string
		fix, yes bool
	)
	cmd := &cobra.Command{
		Use:   "doctor [--json] [--strict] [--sample 3s] [--fix [--yes]]",
		Short: "Check kernel settings, CPU steal and iowait, ports, open files and storage of this node",
		Long: "doctor runs independent checks in parallel and prints a table: check, status (ok,\n" +
			"warn, fail, or skip when it cannot tell), what it found, what it should be, and\n" +
			"why it matters. It checks the kernel settings a gateway host needs, flags\n" +
			"net.ipv4.tcp_tw_recycle in any sysctl file, samples CPU steal and iowait from\n" +
			"/proc/stat for --sample, measures ephemeral-port headroom per (source,\n" +
			"destination, port), the open-file limits of the service user and of systemd,\n" +
			"and the storage under the data directories.\n\n" +
			"--fix writes the kernel settings that fall short to " + doctor.DropInPath + "\n" +
			"and sets them in the running kernel; it shows the diff and asks first unless\n" +
			"--yes is given. It never edits another file.\n\n" +
			"`skjold doctor mysql` and `skjold doctor postgres` check a database server.\n\n" +
			doctorExitHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			o.Host = doctor.Host{Root: root}
			if o.Sample <= 0 {
				return withCode(2, fmt.Errorf("--sample must be positive, got %s", o.Sample))
			}
			if yes && !fix {
				return withCode(2, errors.New("--yes only applies to --fix"))
			}
			if fix {
				if err := runFix(s, o.Host, yes); err != nil {
					return err
				}
				fmt.Fprintln(s.out)
			}
			return rf.print(s, doctor.Report{Results: doctor.Run(ctx, doctor.NodeChecks(o))})
		},
	}
	rf.register(cmd)
	f := cmd.Flags()
	f.DurationVar(&o.Sample, "sample", doctor.DefaultSample, "how long to watch /proc/stat for CPU steal and iowait")
	f.StringSliceVar(&o.DataDirs, "data-dir", nil, "a directory whose storage to check; repeatable (default: those of "+strings.Join(doctor.DefaultDataDirs(), ", ")+" that exist)")
	f.StringVar(&o.User, "user", "", "the user the services run as, for its open-file limit (default: the current user)")
	f.StringVar(&o.Unit, "unit", "skjold.service", "the systemd unit the gateway runs as, for its LimitNOFILE")
	f.BoolVar(&fix, "fix", false, "write the kernel settings that fall short to "+doctor.DropInPath+" and apply them")
	f.BoolVar(&yes, "yes", false, "with --fix: do not ask before writing")
	f.StringVar(&root, "root", "/", "read /proc, /sys and /etc under this directory (for testing)")
	_ = f.MarkHidden("root")
	cmd.AddCommand(newDoctorMySQL(s), newDoctorPostgres(s))
	return cmd
}

// runFix shows what --fix would change, asks unless yes, and applies it.
func runFix(s streams, h doctor.Host, yes bool) error {
	plan, err := doctor.PlanFix(h)
	if err != nil {
		return withCode(2, err)
	}
	if plan.Empty() {
		fmt.Fprintf(s.out, "Kernel settings: nothing to change (%s is up to date).\n", plan.Path)
		return nil
	}
	if plan.Old != plan.New {
		fmt.Fprint(s.out, plan.Diff())
	}
	if len(plan.Changes) > 0 {
		fmt.Fprintln(s.out, "\nIn the running kernel:")
		for _, c := range plan.Changes {
			fmt.Fprintf(s.out, "  %s: %s -> %s\n", c.Key, c.From, c.To)
		}
	}
	for _, o := range plan.Overrides {
		fmt.Fprintf(s.out, "Note: %s and is read after %s, so it wins at boot; skjold doctor does not edit it.\n", o, plan.Path)
	}
	if !yes {
		fmt.Fprintf(s.out, "\nWrite %s and apply it now? [y/N] ", plan.Path)
		answer, _ := bufio.NewReader(s.in).ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
		default:
			fmt.Fprintln(s.out)
			return withCode(1, errors.New("nothing changed: answer y, or pass --yes"))
		}
	}
	wrote, applied, err := doctor.ApplyFix(h, plan)
	if wrote {
		fmt.Fprintf(s.out, "Wrote %s.\n", plan.Path)
	}
	if applied > 0 {
		fmt.Fprintf(s.out, "Applied %d of %d setting(s) to the running kernel.\n", applied, len(plan.Changes))
	}
	if err != nil && !wrote && plan.Old != plan.New {
		return withCode(2, err)
	}
	if err != nil {
		// The drop-in is in place; the report that follows shows what the
		// running kernel kept.
		fmt.Fprintf(s.err, "skjold: %v\n", err)
	}
	return nil
}
