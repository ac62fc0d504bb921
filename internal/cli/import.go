package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/skjold-dev/skjold/internal/atomicfile"

	"github.com/spf13/cobra"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/nginximport"
)

// maxImportBytes bounds the nginx file read; real ones are kilobytes.
const maxImportBytes = 16 << 20

// newImport builds `skjold import`, the parent of one subcommand per
// configuration format Skjold can translate.
func newImport(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Translate another proxy's configuration into a Skjold config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCode(2, fmt.Errorf("import needs a format, such as: skjold import nginx nginx.conf"))
		},
	}
	cmd.AddCommand(newImportNginx(s))
	return cmd
}

// newImportNginx builds `skjold import nginx FILE`.
func newImportNginx(s streams) *cobra.Command {
	var output string
	var opts nginximport.Options
	cmd := &cobra.Command{
		Use:   "nginx FILE",
		Short: "Translate an nginx reverse-proxy configuration into Skjold YAML",
		Long: "import nginx reads an nginx configuration (a whole nginx.conf, or a snippet of\n" +
			"upstream and server blocks; \"-\" reads stdin) and writes the equivalent Skjold\n" +
			"config as YAML to stdout, or to the file given with -o. nginx defaults that\n" +
			"differ from Skjold's are written out, so the routes behave as they did.\n\n" +
			"Every directive that cannot be translated faithfully is reported on stderr as\n" +
			"file:line: directive: severity: message. A translation that changes who gets\n" +
			"what (a location whose requests would now reach another route, a lost access,\n" +
			"method or password check, a TLS listener) is refused with exit status 1 unless\n" +
			"--allow-rerouting is given; other warnings leave the exit status 0. An invalid\n" +
			"nginx configuration exits 1 with the line of the problem. include directives\n" +
			"are followed, relative paths from the directory of FILE, as nginx does.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			src, err := readImport(s, name)
			if err != nil {
				return withCode(1, err)
			}
			if name == "-" {
				name = "stdin"
				// nginx resolves relative includes against its
				// configuration directory; for stdin that is here.
				if opts.IncludeDir == "" {
					opts.IncludeDir = "."
				}
			} else {
				opts.File = name
			}
			cfg, warnings, err := nginximport.Convert(name, src, opts)
			for _, line := range nginximport.Report(warnings) {
				fmt.Fprintln(s.err, line)
			}
			nwarn := 0
			for _, w := range warnings {
				if w.Severity > nginximport.NoEffect {
					nwarn++
				}
			}
			if err != nil {
				return withCode(1, err)
			}
			out, err := nginximport.Marshal(cfg)
			if err != nil {
				return withCode(1, err)
			}
			// The importer promises configs that load; check the bytes
			// exactly as serve would read them.
			if _, err := config.Parse("translation of "+name, out, configChecks()...); err != nil {
				return withCode(1, fmt.Errorf("import nginx: the translated config does not validate, which is a bug in the importer; please report it with the nginx file:\n%w", err))
			}
			if output == "" {
				if _, err := s.out.Write(out); err != nil {
					return withCode(1, fmt.Errorf("import nginx: write stdout: %w", err))
				}
			} else if err := atomicfile.WriteFile(output, out, 0o644); err != nil {
				return withCode(1, fmt.Errorf("import nginx: write %s: %w", output, err))
			}
			if nwarn > 0 {
				fmt.Fprintf(s.err, "%s: review the warnings above before serving this config\n", count(nwarn, "warning"))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the YAML to this file instead of stdout")
	cmd.Flags().StringVar(&opts.IncludeDir, "include-dir", "", "resolve relative include paths from this directory (nginx's configuration directory; default: the directory of FILE)")
	cmd.Flags().BoolVar(&opts.AllowRerouting, "allow-rerouting", false, "import even where requests would reach another route than in nginx or pass a check nginx made (each place is still reported)")
	return cmd
}

// readImport reads the nginx file, or stdin for "-".
func readImport(s streams, name string) ([]byte, error) {
	r := s.in
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("import nginx: %w", err)
		}
		defer f.Close()
		r = f
	}
	src, err := io.ReadAll(io.LimitReader(r, maxImportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("import nginx: read %s: %w", name, err)
	}
	if len(src) > maxImportBytes {
		return nil, fmt.Errorf("import nginx: %s is larger than %d MiB; is it the right file?", name, maxImportBytes>>20)
	}
	return src, nil
}
