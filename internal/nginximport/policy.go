package nginximport

import (
	"fmt"
	"strings"
)

// check is a test or answer nginx makes before proxying that Skjold cannot
// make yet: an access list, basic or sub-request authentication, a method
// restriction, a direct or conditional answer, a rewrite. Each kind has one
// translate function below; when Skjold gains the feature (traffic policy,
// issue 16), that function translates it instead of returning a check.
type check struct {
	d *directive
	// what completes "nginx ...": "asks for a password (auth_basic "Admin")".
	what string
	// answersAll is set when nginx answers every request itself, so the
	// location cannot become a route.
	answersAll bool
}

// blockChecks collects one block's checks while it is read.
type blockChecks struct {
	// rules are the block's allow/deny lines, in order.
	rules []*directive
	// local are checks that apply to this block only (rewrite-module
	// directives and limit_except are not inherited).
	local []*check
	// answer is an unconditional answer (return, deny all).
	answer *check
}

// check handles the directives that decide whether a request is proxied at
// all. It reports whether d was one of them.
func (c *converter) check(d *directive, set *settings, b *blockChecks, lvl level) (bool, error) {
	var chk *check
	switch d.name {
	case "allow", "deny":
		if err := c.args(d, 1, 1); err != nil {
			return true, err
		}
		b.rules = append(b.rules, d)
		return true, nil
	case "auth_basic":
		if err := c.args(d, 1, 1); err != nil {
			return true, err
		}
		set.basicAuth = c.translateBasicAuth(d)
		return true, nil
	case "auth_request":
		if err := c.args(d, 1, 1); err != nil {
			return true, err
		}
		set.authRequest = c.translateAuthRequest(d)
		return true, nil
	case "ssl":
		if err := c.args(d, 1, 1); err != nil {
			return true, err
		}
		switch d.args[0] {
		case "on":
			set.ssl = d
			c.note(d, "deprecated in nginx (removed in 1.25.1): it makes every listen of this server TLS, and is imported exactly as listen ... ssl")
		case "off":
			set.ssl = nil
		default:
			return true, c.errorf(d, "invalid value %q: expected on or off", d.args[0])
		}
		return true, nil
	case "return":
		if err := c.args(d, 1, 2); err != nil {
			return true, err
		}
		chk = c.translateReturn(d)
	case "limit_except":
		if lvl != levelLocation {
			return true, c.notAllowed(d)
		}
		if !d.isBlock || len(d.args) == 0 {
			return true, c.errorf(d, "expected methods and a block")
		}
		chk = c.translateLimitExcept(d)
	case "if":
		if !d.isBlock || len(d.args) == 0 {
			return true, c.errorf(d, "expected a condition and a block")
		}
		chk = c.translateIf(d)
	case "rewrite":
		if err := c.args(d, 2, 3); err != nil {
			return true, err
		}
		chk = c.translateRewrite(d)
	default:
		return false, nil
	}
	switch {
	case chk == nil:
	case chk.answersAll && b.answer == nil:
		b.answer = chk
	case !chk.answersAll:
		b.local = append(b.local, chk)
	}
	return true, nil
}

// finishChecks applies a block's allow/deny lines: as in nginx, a level
// with any replaces the rules it inherited.
func (c *converter) finishChecks(b *blockChecks, set *settings) {
	if len(b.rules) == 0 {
		return
	}
	set.access = c.translateAccess(b.rules)
	if set.access != nil && set.access.answersAll && b.answer == nil {
		b.answer = set.access
	}
}

// inheritedChecks are the checks a location inherits from the levels
// above it, in effect on its route.
func (s settings) inheritedChecks() []*check {
	var out []*check
	for _, chk := range []*check{s.access, s.basicAuth, s.authRequest} {
		if chk != nil && !chk.answersAll {
			out = append(out, chk)
		}
	}
	return out
}

// translateReturn: nginx answers every request itself. Skjold has no
// direct responses yet.
func (c *converter) translateReturn(d *directive) *check {
	return &check{d: d, what: "answers every request with return " + strings.Join(d.args, " "), answersAll: true}
}

// translateAccess evaluates allow/deny rules as nginx does, first match
// wins. Skjold has no access lists yet.
func (c *converter) translateAccess(rules []*directive) *check {
	first := rules[0]
	if first.args[0] == "all" {
		if first.name == "allow" {
			return nil // everyone passes; later rules never match
		}
		return &check{d: first, what: "refuses every request with 403 (deny all)", answersAll: true}
	}
	var list []string
	for _, r := range rules {
		list = append(list, r.name+" "+r.args[0])
	}
	return &check{d: first, what: "lets through only the clients its rules allow (" + strings.Join(list, "; ") + ")"}
}

// translateBasicAuth: nginx asks for a password. Skjold has no basic auth
// yet. "off" clears what the level inherited.
func (c *converter) translateBasicAuth(d *directive) *check {
	if d.args[0] == "off" {
		return nil
	}
	return &check{d: d, what: fmt.Sprintf("asks for a password (auth_basic %q)", d.args[0])}
}

// translateAuthRequest: nginx asks a sub-request whether each request may
// pass. Skjold has no forward auth yet.
func (c *converter) translateAuthRequest(d *directive) *check {
	if d.args[0] == "off" {
		return nil
	}
	return &check{d: d, what: "asks " + d.args[0] + " whether each request may pass (auth_request)"}
}

// translateLimitExcept: limit_except restricts methods, it does not rate
// limit: requests with other methods than those listed (GET implies HEAD)
// must pass the block's access rules. Skjold's route methods let other
// methods fall through to other routes instead, which is not the same, so
// nothing Skjold has expresses it yet.
func (c *converter) translateLimitExcept(d *directive) *check {
	var rules []string
	for _, x := range d.block {
		rules = append(rules, strings.TrimSpace(x.name+" "+strings.Join(x.args, " ")))
	}
	return &check{d: d, what: fmt.Sprintf("restricts methods other than %s to the rules of limit_except (%s)",
		strings.Join(d.args, " "), strings.Join(rules, "; "))}
}

// translateIf: an if block that answers, redirects, rewrites or checks
// access changes where the requests it matches go; one that only sets
// headers or variables changes behaviour.
func (c *converter) translateIf(d *directive) *check {
	cond := strings.NewReplacer("( ", "(", " )", ")").Replace(strings.Join(d.args, " "))
	var acts []string
	for _, x := range d.block {
		switch x.name {
		case "return", "rewrite", "proxy_pass", "deny", "allow", "auth_basic", "auth_request", "try_files":
			acts = append(acts, strings.TrimSpace(x.name+" "+strings.Join(x.args, " ")))
		}
	}
	if len(acts) == 0 {
		c.warn(d, "if %s: block not translated (Skjold has no conditions); its directives are ignored", cond)
		return nil
	}
	return &check{d: d, what: fmt.Sprintf("handles requests where if %s holds itself (%s)", cond, strings.Join(acts, "; "))}
}

// translateRewrite: a rewrite changes the path the upstream sees, sends a
// redirect, or (with last) picks another location. Skjold has no rewrites
// yet.
func (c *converter) translateRewrite(d *directive) *check {
	flag := "and looks for a location again"
	if len(d.args) == 3 {
		switch d.args[2] {
		case "break":
			flag = "before proxying"
		case "redirect", "permanent":
			flag = "as a redirect to the client"
		}
	}
	return &check{d: d, what: fmt.Sprintf("rewrites paths matching %s to %s %s", d.args[0], d.args[1], flag)}
}
