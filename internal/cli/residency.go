package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/skjold-dev/skjold/internal/atomicfile"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/residency"
)

// newResidency builds `skjold residency check|report`.
func newResidency(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "residency",
		Short: "Check where every store and upstream keeps data against the residency policy; write an auditor's report",
		Long: "residency evaluates the residency section of a config: where every stateful store\n" +
			"(and each replica and backup) and every upstream is, which data classes each\n" +
			"holds, and whether the policy allows it. See docs/residency.md.",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newResidencyCheck(s), newResidencyReport(s))
	return cmd
}

func newResidencyCheck(s streams) *cobra.Command {
	var (
		path    string
		rawJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check --config FILE [--json]",
		Short: "Print where each store is, what it holds and its verdict; exit 1 on any violation",
		Long: "check validates the config as `skjold check` does (a route sending data to an\n" +
			"upstream outside its class's policy is a config problem), then prints, per store,\n" +
			"where each copy is, which data classes it holds, and the verdict with the rule\n" +
			"that decided it; then the same for upstreams. A store holding restricted data\n" +
			"without a declared location is a violation. The exit status is 0 when everything\n" +
			"passes and 1 on any violation or config problem. --json prints the evaluation\n" +
			"as a JSON document instead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path)
			if err != nil {
				return reportConfigError(s, err)
			}
			res := residency.Evaluate(c)
			if rawJSON {
				b, err := json.MarshalIndent(res, "", "  ")
				if err != nil {
					return withCode(1, err)
				}
				if _, err := s.out.Write(append(b, '\n')); err != nil {
					return withCode(1, err)
				}
			} else if err := residency.WriteText(s.out, res); err != nil {
				return withCode(1, err)
			}
			if res.Violations > 0 {
				return withCode(1, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (required)")
	cmd.Flags().BoolVar(&rawJSON, "json", false, "print the evaluation as JSON")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newResidencyReport(s streams) *cobra.Command {
	var path, htmlPath, mdPath string
	cmd := &cobra.Command{
		Use:   "report --config FILE [--html FILE] [--markdown FILE]",
		Short: "Write a self-contained HTML (and Markdown) report for an auditor",
		Long: "report writes the residency evaluation for an auditor: the policy, every copy of\n" +
			"every store on a table grouped by country, the verdicts with the rules that\n" +
			"decided them, the upstreams, and the config's version. The HTML page needs\n" +
			"nothing else to display (no scripts, no external files). Without --html or\n" +
			"--markdown the HTML goes to stdout. Files are replaced atomically. The exit\n" +
			"status is 0 once the report is written, whatever its verdicts; use\n" +
			"`skjold residency check` to fail a pipeline.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path)
			if err != nil {
				return reportConfigError(s, err)
			}
			res := residency.Evaluate(c)
			now := time.Now()
			if htmlPath == "" && mdPath == "" {
				if err := residency.WriteHTML(s.out, res, now); err != nil {
					return withCode(1, err)
				}
				return nil
			}
			for _, out := range []struct {
				path  string
				write func(*bytes.Buffer) error
			}{
				{htmlPath, func(b *bytes.Buffer) error { return residency.WriteHTML(b, res, now) }},
				{mdPath, func(b *bytes.Buffer) error { return residency.WriteMarkdown(b, res, now) }},
			} {
				if out.path == "" {
					continue
				}
				var b bytes.Buffer
				if err := out.write(&b); err != nil {
					return withCode(1, err)
				}
				if err := atomicfile.WriteFile(out.path, b.Bytes(), 0o644); err != nil {
					return withCode(1, fmt.Errorf("residency report: %w", err))
				}
				fmt.Fprintf(s.out, "wrote %s\n", out.path)
			}
			fmt.Fprintln(s.out, res.Summary())
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (required)")
	cmd.Flags().StringVar(&htmlPath, "html", "", "write the HTML report to this file")
	cmd.Flags().StringVar(&mdPath, "markdown", "", "write the Markdown report to this file")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// configChecks are the rules beyond config's own that every command loads
// a config with: the residency policy. check, serve, every reload and the
// other commands thus refuse the same files.
func configChecks() []config.Check { return []config.Check{residency.Check} }

// configSource is the config file at path as serve loads it, on start and
// on every reload: with configChecks.
func configSource(path string) config.FileSource {
	return config.FileSource{Path: path, Checks: configChecks()}
}

// loadConfig reads and validates the config file at path with
// configChecks.
func loadConfig(path string) (*config.Config, error) {
	return config.LoadFile(path, configChecks()...)
}
