package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/config"
)

// adminTokenEnv is the environment variable the admin commands read a
// token from when no --token-file is given.
const adminTokenEnv = "SKJOLD_ADMIN_TOKEN"

// newStatus builds `skjold status`: ask a running gateway for its state.
func newStatus(s streams) *cobra.Command {
	var (
		af      adminFlags
		rawJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status [--admin ADDR | -c FILE] [--token-file F] [--json]",
		Short: "Show a running gateway's config, upstreams, targets, breakers and routes",
		Long: "status calls GET /status on a running gateway's admin API and prints a table:\n" +
			"the config in force, then each upstream with its breaker and targets (passive\n" +
			"and active health, in-flight, requests, failures), then the routes. --json\n" +
			"prints the document as the gateway sent it.\n\n" + adminFlagsHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return withCode(1, err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), af.timeout)
			defer cancel()
			if rawJSON {
				b, err := c.StatusJSON(ctx)
				if err != nil {
					return withCode(1, explainAdminError(err))
				}
				_, err = s.out.Write(b)
				return err
			}
			st, err := c.Status(ctx)
			if err != nil {
				return withCode(1, explainAdminError(err))
			}
			return admin.WriteStatus(s.out, st, time.Now())
		},
	}
	af.register(cmd)
	cmd.Flags().BoolVar(&rawJSON, "json", false, "print the status document as JSON")
	return cmd
}

const adminFlagsHelp = "The admin API is found at --admin, else at admin.listen in the config given\n" +
	"with -c, else at " + config.DefaultAdminListen + ". The token is read from --token-file, else\n" +
	"from $" + adminTokenEnv + ", else from the config's admin section."

// adminFlags say which admin API to call and with which token.
type adminFlags struct {
	addr, tokenFile, configPath string
	timeout                     time.Duration
}

func (f *adminFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "admin", "", "admin API address, host:port or unix:/path (default "+config.DefaultAdminListen+")")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the admin token (default $"+adminTokenEnv+")")
	cmd.Flags().StringVarP(&f.configPath, "config", "c", "", "read the admin address and token from this config file")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on the admin API after this long")
}

// client resolves the address and token and returns a client for them.
func (f *adminFlags) client() (*admin.Client, error) {
	var section config.Admin
	if f.configPath != "" {
		var err error
		if section, err = readAdminSection(f.configPath); err != nil {
			return nil, err
		}
	}
	addr := f.addr
	if addr == "" {
		addr = section.Listen
	}
	if addr == "" {
		addr = config.DefaultAdminListen
	}
	var token string
	switch {
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, fmt.Errorf("--token-file: %s is empty", f.tokenFile)
		}
	case os.Getenv(adminTokenEnv) != "":
		token = os.Getenv(adminTokenEnv)
	default:
		var err error
		if token, err = section.ResolvedToken(); err != nil {
			return nil, fmt.Errorf("%s: %w", f.configPath, err)
		}
	}
	return admin.NewClient(addr, token), nil
}

// readAdminSection reads only the admin section of a config file, so that
// a file with problems elsewhere can still be reloaded (and rejected by the
// gateway, which reports every problem).
func readAdminSection(path string) (config.Admin, error) {
	var doc struct {
		Admin config.Admin `yaml:"admin"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return doc.Admin, fmt.Errorf("config: %w", err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return doc.Admin, fmt.Errorf("%s: reading the admin section: %w", path, err)
	}
	return doc.Admin, nil
}

// explainAdminError adds what to do about a refused token.
func explainAdminError(err error) error {
	if ae, ok := errors.AsType[*admin.APIError](err); ok && ae.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%w (give the token with --token-file or $%s, or the config with -c)", err, adminTokenEnv)
	}
	return err
}
