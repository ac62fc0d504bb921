package admin

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skjold-dev/skjold/internal/gateway"
)

// WriteStatus prints st as the table `skjold status` shows: a header, then
// each upstream with its breaker and targets, then the routes. now is used
// for "5m ago" and "in 25s".
func WriteStatus(w io.Writer, st gateway.Status, now time.Time) error {
	var buf bytes.Buffer
	writeStatus(&buf, st, now)
	// tabwriter pads the last column too; drop that padding.
	lines := strings.SplitAfter(buf.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

func writeStatus(w *bytes.Buffer, st gateway.Status, now time.Time) {
	p := &printer{w: w, now: now}
	ready := "ready"
	if !st.Ready {
		ready = "NOT READY"
	}
	if st.ConfigVersion == "" {
		p.printf("no config loaded, %s\n", ready)
	} else {
		p.printf("config %s from %s, loaded %s (%s ago), %s, %s, %s\n",
			st.ConfigVersion, st.ConfigSource, st.LoadedAt.Format(time.RFC3339),
			shortDuration(now.Sub(st.LoadedAt)), plural(st.Reloads, "reload"),
			plural(st.Connections, "client connection"), ready)
	}
	if len(st.Listeners) > 0 {
		ls := make([]string, len(st.Listeners))
		for i, l := range st.Listeners {
			ls[i] = l.Name + " " + l.Address
		}
		p.printf("listeners: %s\n", strings.Join(ls, ", "))
	}

	for _, u := range st.Upstreams {
		p.printf("\nupstream %s (%s): breaker %s\n", u.Name, u.Balance, p.breaker(u.Breaker))
		p.printf("  targets from %s\n", p.origin(u))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TARGET\tWEIGHT\tPASSIVE\tACTIVE\tIN-FLIGHT\tREQUESTS\tFAILURES\t")
		for _, t := range u.Targets {
			addr := t.Address
			if t.Backup {
				addr += " (backup)"
			}
			passive := t.Passive
			if !t.DownUntil.IsZero() {
				passive += " until " + p.clock(t.DownUntil)
			}
			active, note := "-", ""
			if t.HealthCheck != nil {
				active = t.Active
				if t.HealthCheck.LastError != "" {
					note = "health check: " + t.HealthCheck.LastError
				}
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\n", addr, t.Weight, passive, active,
				t.InFlight, t.Requests, t.Failures, note)
		}
		tw.Flush()
	}

	if len(st.Routes) > 0 {
		p.printf("\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ROUTE\tUPSTREAM\tMATCH\tREQUESTS\tERRORS\tBREAKER")
		for _, r := range st.Routes {
			brk := "-"
			if r.Breaker != nil {
				brk = p.breaker(r.Breaker)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", r.Name, r.Upstream, match(r), r.Requests, r.Errors, brk)
		}
		tw.Flush()
	}
}

// printer writes to a buffer, which cannot fail.
type printer struct {
	w   *bytes.Buffer
	now time.Time
}

func (p *printer) printf(format string, args ...any) {
	fmt.Fprintf(p.w, format, args...)
}

// breaker describes a breaker; when it is not closed, until when and why.
// origin says where an upstream's targets come from, and which file
// targets an override replaces.
func (p *printer) origin(u gateway.UpstreamStatus) string {
	from := u.TargetsFrom
	if from.Origin == "" || from.Origin == gateway.OriginFile {
		return "the config file"
	}
	file := make([]string, len(u.FileTargets))
	for i, t := range u.FileTargets {
		file[i] = t.Address
	}
	article := "a"
	if from.Origin == gateway.OriginAdmin {
		article = "an"
	}
	return fmt.Sprintf("%s %s override since %s (the file's %s not in force; `skjold targets reset %s` drops it)",
		article, from.Origin, p.clock(from.Since), strings.Join(file, ", "), u.Name)
}

func (p *printer) breaker(b *gateway.BreakerStatus) string {
	if b == nil {
		return "off"
	}
	s := strings.ReplaceAll(b.State, "_", "-")
	if b.State == "closed" {
		return s
	}
	if !b.Until.IsZero() {
		s += " until " + p.clock(b.Until)
	} else if !b.Since.IsZero() {
		s += " since " + p.clock(b.Since)
	}
	if b.Reason != "" {
		s += ": " + b.Reason
	}
	return s
}

// clock is t's time of day with how far it is from now.
func (p *printer) clock(t time.Time) string {
	d := t.Sub(p.now)
	if d >= 0 {
		return t.Format("15:04:05") + " (in " + shortDuration(d) + ")"
	}
	return t.Format("15:04:05") + " (" + shortDuration(-d) + " ago)"
}

// match describes what a route matches: hosts, path prefix, methods.
func match(r gateway.RouteStatus) string {
	var parts []string
	if len(r.Hosts) > 0 {
		parts = append(parts, strings.Join(r.Hosts, ","))
	}
	prefix := r.PathPrefix
	if prefix == "" {
		prefix = "/"
	}
	parts = append(parts, prefix)
	if len(r.Methods) > 0 {
		parts = append(parts, strings.Join(r.Methods, ","))
	}
	return strings.Join(parts, " ")
}

// shortDuration rounds d to what a person reads at a glance.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return strconv.Itoa(h) + "h" + strconv.Itoa(m) + "m"
	default:
		return strconv.Itoa(int(d.Hours()/24)) + "d"
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
