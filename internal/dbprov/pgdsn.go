package dbprov

import (
	"fmt"
	"net/url"
	"strings"
)

// pgServiceDSN is the admin DSN with the user, password and database
// replaced, in the form the admin DSN has (a URL or keyword/value pairs),
// so options such as sslmode carry over to the service.
func pgServiceDSN(admin, user, password, database string) (string, error) {
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			// url's errors quote the input, which holds the admin password.
			return "", fmt.Errorf("admin DSN is not a valid URL")
		}
		u.User = url.UserPassword(user, password)
		u.Path, u.RawPath = "/"+database, ""
		q := u.Query()
		for _, k := range []string{"user", "password", "dbname"} {
			q.Del(k)
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	pairs, err := parseKeywordValues(admin)
	if err != nil {
		return "", err
	}
	var out []string
	for _, kv := range pairs {
		switch kv[0] {
		case "user", "password", "dbname":
			continue
		}
		out = append(out, kv[0]+"="+quoteKeywordValue(kv[1]))
	}
	out = append(out, "user="+quoteKeywordValue(user), "password="+quoteKeywordValue(password), "dbname="+quoteKeywordValue(database))
	return strings.Join(out, " "), nil
}

// parseKeywordValues splits a libpq keyword/value string ("host=db
// port=5432 password='a b'") into its pairs, in order.
func parseKeywordValues(s string) ([][2]string, error) {
	var out [][2]string
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, fmt.Errorf("admin DSN is neither a postgres:// URL nor keyword=value pairs")
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("admin DSN has an unterminated quoted value for %q", key)
			}
		} else {
			for len(s) > 0 && !strings.ContainsRune(" \t\n\r", rune(s[0])) {
				if s[0] == '\\' && len(s) > 1 {
					s = s[1:]
				}
				val.WriteByte(s[0])
				s = s[1:]
			}
		}
		out = append(out, [2]string{key, val.String()})
	}
}

func quoteKeywordValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
