package config

import "errors"

// ValidTargetAddress checks a target address given at run time (the admin
// API's target switch) with the same rules as the config's targets.
func ValidTargetAddress(addr string) error {
	if msg := checkHostPort(addr, 1); msg != "" {
		return errors.New(msg)
	}
	return nil
}
