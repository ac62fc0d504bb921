package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
)

// dbConfig is what a config's databases: section says about one cluster.
type dbConfig struct {
	cluster     string
	dsn         func() (string, error)
	connections int
	from        string
}

// readDBConfig loads a config and picks the cluster of the engine ("mysql"
// or "postgres"): the named one, or the only one. The services' connection
// limits on it are summed.
func readDBConfig(path, cluster, engine string) (dbConfig, error) {
	c, err := loadConfig(path)
	if err != nil {
		return dbConfig{}, err
	}
	matches := func(e config.DBEngine) bool {
		if engine == "mysql" {
			return e.IsMySQL()
		}
		return e == config.EnginePostgres
	}
	var names []string
	for name, cl := range c.Databases.Clusters {
		if matches(cl.Engine) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	switch {
	case cluster != "":
		cl, ok := c.Databases.Clusters[cluster]
		if !ok || !matches(cl.Engine) {
			return dbConfig{}, fmt.Errorf("%s: no %s cluster %q in databases.clusters", path, engine, cluster)
		}
	case len(names) == 1:
		cluster = names[0]
	case len(names) == 0:
		return dbConfig{}, fmt.Errorf("%s: databases.clusters has no %s cluster", path, engine)
	default:
		return dbConfig{}, fmt.Errorf("%s: several %s clusters (%s); name one with --cluster", path, engine, strings.Join(names, ", "))
	}
	out := dbConfig{cluster: cluster, dsn: c.Databases.Clusters[cluster].ResolvedAdminDSN}
	n := 0
	for _, svc := range c.Databases.Services {
		if svc.Cluster == cluster {
			out.connections += svc.ConnectionLimit
			n++
		}
	}
	noun := "services"
	if n == 1 {
		noun = "service"
	}
	out.from = fmt.Sprintf("%d %s on cluster %s in %s", n, noun, cluster, path)
	return out, nil
}
