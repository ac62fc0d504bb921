package config

import (
	"fmt"
	"os"
	"strings"
)

// ResolvedToken returns the admin bearer token from token, token_file or
// token_env, or "" when none is set.
func (a Admin) ResolvedToken() (string, error) {
	switch {
	case a.Token != "":
		return a.Token, nil
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("admin.token_file: %s is empty", a.TokenFile)
		}
		return t, nil
	case a.TokenEnv != "":
		t := os.Getenv(a.TokenEnv)
		if t == "" {
			return "", fmt.Errorf("admin.token_env: environment variable %s is not set or empty", a.TokenEnv)
		}
		return t, nil
	}
	return "", nil
}
