package lab

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Handler serves the lab's part of the status page under /api/lab/:
//
//	GET  /api/lab/state?since=SEQ  {"events":[...], "nodes":[...], "liar":ADDR, "partitioned":BOOL}:
//	                               the story after SEQ, oldest first, and each node's conditions
//	POST /api/lab/do               {"command":"partition"}: runs a command (see Help);
//	                               answers {"text":...} or 400 {"error":...}
//
// The controls answer only requests from a loopback address, with a
// JSON body (which a page of another site cannot send without asking),
// and from the page's own origin.
func (l *Lab) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/lab/state", l.serveState)
	mux.HandleFunc("POST /api/lab/do", l.serveDo)
	return mux
}

// NodeConditions is a lab node's links as the lab sets them.
type NodeConditions struct {
	Name    string  `json:"name"`
	Addr    string  `json:"addr"`
	Up      bool    `json:"up"`
	Loss    float64 `json:"loss"` // 0 to 1
	DelayMs float64 `json:"delay_ms"`
	Group   int     `json:"group"` // partition group, -1: none
	Miner   bool    `json:"miner"` // mines (the seed, a partition's other miner)
}

type labState struct {
	Events      []Event          `json:"events"`
	Nodes       []NodeConditions `json:"nodes"`
	Liar        string           `json:"liar"`      // the liar's address ("" : none)
	LiarName    string           `json:"liar_name"` // and its name
	Partitioned bool             `json:"partitioned"`
	Help        string           `json:"help"`
}

func (l *Lab) serveState(w http.ResponseWriter, r *http.Request) {
	since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	st := labState{Events: l.narr.since(since), Partitioned: l.em.partitioned(), Help: Help}
	l.mu.Lock()
	for _, s := range l.slots {
		loss, delay, g, inGroup := l.em.conditions(s.pc.Advertise)
		if !inGroup {
			g = -1
		}
		st.Nodes = append(st.Nodes, NodeConditions{Name: s.name, Addr: s.pc.Advertise.String(), Up: s.up, Loss: loss,
			DelayMs: float64(delay.Microseconds()) / 1000, Group: g, Miner: s.index == 0 || s == l.partMnr})
	}
	if l.liar != nil {
		st.Liar, st.LiarName = l.liar.tr.LocalAddr().String(), l.liar.name
	}
	l.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (l *Lab) serveDo(w http.ResponseWriter, r *http.Request) {
	if why := refuse(r); why != "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": why})
		return
	}
	var req struct {
		Command string `json:"command"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: want {\"command\": \"...\"}: " + err.Error()})
		return
	}
	if strings.HasPrefix(strings.TrimSpace(req.Command), "sleep") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "sleep is for scripts"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	text, err := l.Do(ctx, req.Command)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"text": text})
}

// refuse says why a control request is refused ("" if it is not).
func refuse(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "controls: unknown client address"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return "controls answer only on this machine (127.0.0.1)"
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "controls: the body must be JSON (Content-Type: application/json)"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return "controls: only from the lab's own page"
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "controls: only from the lab's own page"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
