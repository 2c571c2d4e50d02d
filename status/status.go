// Package status serves the live status page and its JSON API for one or
// more nodes. It is its own package because it is HTTP and embedded assets,
// nothing the node itself needs.
//
// Routes (GET and HEAD only):
//
//	/                 the page (HTML, CSS and JavaScript, all embedded): the network
//	                  view (the nodes as a graph, the chain strip, blocks over time,
//	                  the events) and one tab per node
//	/api/status       {"nodes":[status, ...]}, one entry per node, in order
//	/api/blocks       ?node=I&from=H&limit=N: a JSON array of blocks, ascending
//	/api/chains       ?limit=N: {"nodes":[{"index":I,"blocks":[...]}]}, each node's
//	                  latest N blocks (default 12, at most 50), ascending
//	/api/lab/...      the lab's events and controls, when the lab serves the page
//	                  (see package lab)
//
// /api/blocks defaults to node 0 and, without from, to the latest limit
// blocks; limit defaults to 20 and is capped at 200. Bad parameters get a
// 400 with a JSON body {"error": "..."}.
package status

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
)

// Source is a node the page shows (*peer.Node satisfies it).
type Source interface {
	Status(ctx context.Context) (peer.Status, error)
	Blocks(ctx context.Context, from, limit int) ([]chain.Block, error)
}

// Optional extras a Source may have (*peer.Node has them): a cheap height
// for /api/blocks, and a name and address to show for a node that does not
// answer.
type (
	heighter interface {
		Height(ctx context.Context) (int, error)
	}
	named interface {
		Name() string
		Addr() string
	}
)

// callTimeout bounds every call into a node (a variable for tests).
var callTimeout = 2 * time.Second

const (
	// DefaultBlocks is how many blocks /api/blocks returns by default.
	DefaultBlocks = 20
	// MaxBlocks caps the limit parameter of /api/blocks.
	MaxBlocks = 200
)

//go:embed assets
var assets embed.FS

// NodeStatus is one entry of /api/status: the node's status, or, when the
// node did not answer, its index, what is known of its name and address,
// and Error.
type NodeStatus struct {
	peer.Status
	Index int    `json:"index"`
	Error string `json:"error,omitempty"`
}

// StatusResponse is the body of /api/status.
type StatusResponse struct {
	Nodes []NodeStatus `json:"nodes"`
}

type handler struct {
	list  func() []Source
	index []byte    // the page
	mod   time.Time // when the handler was made: the page's Last-Modified
}

// Options are the extras of a page beyond a fixed list of nodes.
type Options struct {
	// Nodes, when set, lists the nodes at each request (a lab adds
	// nodes as it runs); it overrides Handler's nodes.
	Nodes func() []Source
	// Lab, when set, serves /api/lab/ (the lab's events and controls):
	// the page then shows the lab's event feed and its control buttons.
	Lab http.Handler
}

// Handler returns the status page and its API for nodes.
func Handler(nodes []Source) http.Handler { return HandlerWith(nodes, Options{}) }

// HandlerWith is Handler with options.
func HandlerWith(nodes []Source, opt Options) http.Handler {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(static, "index.html")
	if err != nil {
		panic(err)
	}
	fixed := append([]Source(nil), nodes...)
	h := &handler{list: func() []Source { return fixed }, index: index, mod: time.Now()}
	if opt.Nodes != nil {
		h.list = opt.Nodes
	}
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	// A "GET" pattern matches HEAD too; other methods get a 405.
	mux.HandleFunc("GET /{$}", h.page)
	mux.Handle("GET /app.js", files)
	mux.Handle("GET /net.js", files)
	mux.Handle("GET /style.css", files)
	mux.HandleFunc("GET /api/status", h.status)
	mux.HandleFunc("GET /api/blocks", h.blocks)
	mux.HandleFunc("GET /api/chains", h.chains)
	if opt.Lab != nil {
		mux.Handle("/api/lab/", opt.Lab)
	}
	return secure(mux)
}

// secure adds headers that keep the page to its own assets: even if some
// peer-supplied string ever reached the DOM as markup, no script of it runs.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache") // revalidate: a new build's page shows at once
		next.ServeHTTP(w, r)
	})
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", h.mod, bytes.NewReader(h.index))
}

// status answers /api/status: every node is asked at once, each bounded by
// callTimeout; a node that fails is listed with its error.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	nodes := h.list()
	resp := StatusResponse{Nodes: make([]NodeStatus, len(nodes))}
	var wg sync.WaitGroup
	for i, src := range nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
			defer cancel()
			st, err := src.Status(ctx)
			ns := NodeStatus{Status: st, Index: i}
			if err != nil {
				ns = NodeStatus{Index: i, Error: errText(err)}
				if n, ok := src.(named); ok {
					ns.Name, ns.Addr = n.Name(), n.Addr()
				}
			}
			if ns.Consensus == nil {
				ns.Consensus = []peer.GroupStatus{}
			}
			if ns.Peers == nil {
				ns.Peers = []peer.PeerStatus{}
			}
			if ns.Events == nil {
				ns.Events = []peer.Event{}
			}
			resp.Nodes[i] = ns
		})
	}
	wg.Wait()
	writeJSON(w, r, http.StatusOK, resp)
}

// blocks answers /api/blocks?node=I&from=H&limit=N.
func (h *handler) blocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	nodes := h.list()
	node, err := intParam(q.Get("node"), "node", 0)
	if err == nil && (node < 0 || node >= len(nodes)) {
		err = fmt.Errorf("node %d out of range: there are %d nodes (0..%d)", node, len(nodes), len(nodes)-1)
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", DefaultBlocks)
	if err == nil && limit < 1 {
		err = fmt.Errorf("limit %d: must be at least 1", limit)
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	limit = min(limit, MaxBlocks)
	from := -1 // absent or empty: the latest blocks
	if s := q.Get("from"); s != "" {
		from, err = intParam(s, "from", 0)
		if err == nil && from < 0 {
			err = fmt.Errorf("from %d: heights start at 0", from)
		}
		if err != nil {
			writeError(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	src := nodes[node]
	if from < 0 { // the latest blocks
		height, err := heightOf(ctx, src)
		if err != nil {
			writeError(w, r, http.StatusServiceUnavailable, fmt.Sprintf("node %d: %s", node, errText(err)))
			return
		}
		from = max(0, height-limit)
	}
	blocks, err := src.Blocks(ctx, from, limit)
	if err != nil {
		writeError(w, r, http.StatusServiceUnavailable, fmt.Sprintf("node %d: %s", node, errText(err)))
		return
	}
	if blocks == nil {
		blocks = []chain.Block{}
	}
	for i := range blocks {
		if blocks[i].Messages == nil {
			blocks[i].Messages = []string{}
		}
	}
	writeJSON(w, r, http.StatusOK, blocks)
}

// ChainBlock is a block of /api/chains: enough to draw the chain strip.
type ChainBlock struct {
	Height   int      `json:"height"`
	Hash     string   `json:"hash"`
	MinedBy  string   `json:"minedBy"`
	Messages []string `json:"messages"`
}

// NodeChain is one node's entry of /api/chains.
type NodeChain struct {
	Index  int          `json:"index"`
	Blocks []ChainBlock `json:"blocks"`
	Error  string       `json:"error,omitempty"`
}

// chains answers /api/chains?limit=N: every node's latest blocks.
func (h *handler) chains(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r.URL.Query().Get("limit"), "limit", 12)
	if err == nil && limit < 1 {
		err = fmt.Errorf("limit %d: must be at least 1", limit)
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	limit = min(limit, 50)
	nodes := h.list()
	resp := struct {
		Nodes []NodeChain `json:"nodes"`
	}{Nodes: make([]NodeChain, len(nodes))}
	var wg sync.WaitGroup
	for i, src := range nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
			defer cancel()
			nc := NodeChain{Index: i, Blocks: []ChainBlock{}}
			height, err := heightOf(ctx, src)
			var blocks []chain.Block
			if err == nil {
				blocks, err = src.Blocks(ctx, max(0, height-limit), limit)
			}
			if err != nil {
				nc.Error = errText(err)
			}
			for _, b := range blocks {
				msgs := b.Messages
				if msgs == nil {
					msgs = []string{}
				}
				nc.Blocks = append(nc.Blocks, ChainBlock{Height: b.Height, Hash: b.Hash, MinedBy: b.MinedBy, Messages: msgs})
			}
			resp.Nodes[i] = nc
		})
	}
	wg.Wait()
	writeJSON(w, r, http.StatusOK, resp)
}

func heightOf(ctx context.Context, src Source) (int, error) {
	if hs, ok := src.(heighter); ok {
		return hs.Height(ctx)
	}
	st, err := src.Status(ctx)
	return st.Height, err
}

// intParam parses a query parameter; an absent (empty) one is def.
func intParam(s, name string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", name, s)
	}
	return v, nil
}

func errText(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", callTimeout)
	}
	return err.Error()
}

func writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	writeJSON(w, r, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		data, _ = json.Marshal(map[string]string{"error": "encode: " + err.Error()})
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(append(data, '\n'))
	}
}
