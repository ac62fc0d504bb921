package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/config"
)

// newCheck builds `skjold check`: load and validate a config without
// starting anything, for CI and for a last look before a reload.
func newCheck(s streams) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "check --config FILE",
		Short: "Validate a config file and report every problem with file:line:column",
		Long: "check loads a config file, applies defaults and validates it. Every problem is\n" +
			"printed to stderr as file:line:column: key.path: message, and the exit status is 1.\n" +
			"A valid file prints a one-line summary to stdout and exits 0.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path)
			var ve *config.ValidationError
			if errors.As(err, &ve) {
				fmt.Fprintln(s.err, ve.Error())
				return withCode(1, nil)
			}
			if err != nil {
				return withCode(1, err)
			}
			for _, w := range c.Warnings {
				fmt.Fprintf(s.err, "warning: %s\n", w)
			}
			fmt.Fprintf(s.out, "%s: ok (%s, %s, %s, version %s)\n", path,
				count(len(c.Listeners), "listener"), count(len(c.Upstreams), "upstream"),
				count(len(c.Routes), "route"), c.Version)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file to check (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// count formats n with the noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
