package demo

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// WriteIntro writes what runs where and a list of commands to try. cfg is
// the config in force (from Config); listen and admin are the addresses
// the gateway and the admin API really listen on.
func WriteIntro(w io.Writer, cfg *config.Config, listen, admin string) error {
	pay, fx := cfg.Upstreams[PaymentsName], cfg.Upstreams[FXName]
	if pay == nil || fx == nil || len(pay.Targets) == 0 || len(fx.Targets) == 0 {
		return fmt.Errorf("demo: the config has no %s or %s upstream", PaymentsName, FXName)
	}
	var payRoute, fxRoute *config.Route
	for _, r := range cfg.Routes {
		switch {
		case r.Upstream == PaymentsName && payRoute == nil:
			payRoute = r
		case r.Upstream == FXName && fxRoute == nil:
			fxRoute = r
		}
	}
	if payRoute == nil || fxRoute == nil {
		return fmt.Errorf("demo: the config has no route to %s or %s", PaymentsName, FXName)
	}
	var payAddrs []string
	for _, t := range pay.Targets {
		payAddrs = append(payAddrs, t.Address)
	}
	fxAddr := fx.Targets[0].Address
	gw := listen + strings.TrimSuffix(payRoute.Match.PathPrefix, "/") + "/charge"
	fxURL := listen + strings.TrimSuffix(fxRoute.Match.PathPrefix, "/") + "/rates"
	status := "skjold status"
	if admin != config.DefaultAdminListen {
		status += " --admin " + admin
	}
	probe := "curl -s -o /dev/null -w '%{http_code} %{time_total}s\\n' " + fxURL
	recovery := max(fx.Breaker.OpenFor.D(), fx.PassiveHealth.FailTimeout.D())

	var b strings.Builder
	b.WriteString("Skjold demo: the gateway in front of three small services, all on this machine.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  gateway\thttp://%s\t%s → %s, %s → %s\n", listen,
		payRoute.Match.PathPrefix, PaymentsName, fxRoute.Match.PathPrefix, FXName)
	fmt.Fprintf(tw, "  admin API\thttp://%s\tGET /status, GET /metrics\n", admin)
	fmt.Fprintf(tw, "  payments\t%s\t%s%s\n", strings.Join(payAddrs, " "), pay.Balance, healthNote(pay))
	fmt.Fprintf(tw, "  fx\t%s\tgives up after %s; breaker opens after %d failures in a row, for %s%s\n",
		fxAddr, fxRoute.Timeouts.Response.D(), deref(fx.Breaker.ConsecutiveFailures),
		fx.Breaker.OpenFor.D(), healthNote(fx))
	fmt.Fprintf(tw, "  config\t%s\tthe same as examples/demo.yaml, addresses aside\n", ConfigName)
	tw.Flush()

	fmt.Fprintf(&b, `
Try, in another terminal:

  # payments: two instances share the load ("instance" in each answer)
  for i in 1 2 3 4; do curl -s %[1]s; done

  # fx answers too
  curl -s %[2]s

  # make fx stall: it holds every request, /health too, until healed
  curl -X POST %[3]s%[4]sstall

  # 504 after %[6]s (the response timeout), %[5]d times; then the breaker
  # opens and fx fails fast with 503, without being called
  for i in $(seq 8); do %[7]s; done

  # payments does not notice
  curl -s %[1]s

  # what the gateway sees: breakers, targets, health
  %[8]s        (or: curl -s %[9]s/status)

  # heal fx and watch it come back within about %[10]s
  curl -X POST %[3]s%[4]sheal
  for i in $(seq %[11]d); do %[7]s; sleep 1; done

  # or make fx answer 500 instead of stalling
  curl -X POST %[3]s%[4]sfail

The access log follows on stdout, one JSON line per request; the gateway's
own log goes to stderr. Ctrl-C stops the demo.

`, gw, fxURL, fxAddr, ControlPrefix, deref(fx.Breaker.ConsecutiveFailures),
		fxRoute.Timeouts.Response.D(), probe, status, admin, recovery,
		int(recovery/time.Second)+5)
	_, err := io.WriteString(w, b.String())
	return err
}

// healthNote describes an upstream's active health check, if any.
func healthNote(u *config.Upstream) string {
	if u.HealthCheck == nil {
		return ""
	}
	return fmt.Sprintf("; GET %s every %s", u.HealthCheck.Path, u.HealthCheck.Interval.D())
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
