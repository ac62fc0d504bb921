package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/skjold-dev/skjold/internal/gateway"
)

// MaintenanceSwitch is what PUT /routes/{name}/maintenance changes;
// *gateway.Gateway satisfies it. It is apart from Gateway so that a
// gateway without it still serves the rest of the API.
type MaintenanceSwitch interface {
	SetMaintenance(route string, on bool) (was bool, err error)
}

var _ MaintenanceSwitch = (*gateway.Gateway)(nil)

// MaintenanceRequest is the body of PUT /routes/{name}/maintenance.
type MaintenanceRequest struct {
	Enabled bool `json:"enabled"`
}

// MaintenanceResult is its answer.
type MaintenanceResult struct {
	Route   string `json:"route"`
	Enabled bool   `json:"enabled"`
	// Was is the switch before the call.
	Was bool `json:"was"`
}

func (h *handler) putMaintenance(w http.ResponseWriter, r *http.Request) {
	ms, ok := h.gw.(MaintenanceSwitch)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this gateway has no maintenance switch")
		return
	}
	var req MaintenanceRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `expected {"enabled": true} or {"enabled": false}: `+err.Error())
		return
	}
	route := r.PathValue("name")
	was, err := ms.SetMaintenance(route, req.Enabled)
	switch {
	case errors.Is(err, gateway.ErrUnknownRoute):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.log.Info("route maintenance switched through the admin API", "route", route, "enabled", req.Enabled)
	writeJSON(w, http.StatusOK, MaintenanceResult{Route: route, Enabled: req.Enabled, Was: was})
}

// SetMaintenance switches a route's maintenance on or off.
func (c *Client) SetMaintenance(ctx context.Context, route string, on bool) (MaintenanceResult, error) {
	var res MaintenanceResult
	b, _ := json.Marshal(MaintenanceRequest{Enabled: on})
	path := "/routes/" + url.PathEscape(route) + "/maintenance"
	_, body, err := c.do(ctx, http.MethodPut, path, b, http.StatusOK)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("admin API %s: PUT %s: decoding the answer: %w", c.addr, path, err)
	}
	return res, nil
}
