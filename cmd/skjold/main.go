// Command skjold is the lean microservices platform: gateway, blue/green
// deploys, node doctor, database per service and data residency.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/skjold-dev/skjold/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
