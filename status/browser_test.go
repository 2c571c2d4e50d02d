package status

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
)

// findChromium returns the path of a Chromium binary, or "".
func findChromium() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// labNet is a small network of real nodes over UDP on 127.0.0.1.
type labNet struct {
	nodes []*peer.Node
	names []string
	stop  func()
}

func startLab(t *testing.T) *labNet {
	t.Helper()
	timings := peer.Timings{
		GossipInterval:    time.Second,
		PeerTimeout:       10 * time.Second,
		ConsensusInterval: 2 * time.Second,
		JoinDelay:         200 * time.Millisecond,
		StatsWindow:       200 * time.Millisecond,
		RequestTimeout:    300 * time.Millisecond,
		SeenIDTTL:         time.Minute,
		Tick:              20 * time.Millisecond,
	}
	const difficulty = 3
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var trs []*peer.UDP
	lab := &labNet{}
	lab.stop = func() {
		cancel()
		wg.Wait()
		for _, tr := range trs {
			tr.Close()
		}
	}
	var seed netip.AddrPort
	for i, name := range []string{"seed", "peer-1", "peer-2"} {
		tr, err := peer.ListenUDP("127.0.0.1:0")
		if err != nil {
			lab.stop()
			t.Fatal(err)
		}
		trs = append(trs, tr)
		ch, err := chain.New(difficulty, nil)
		if err != nil {
			lab.stop()
			t.Fatal(err)
		}
		cfg := peer.Config{
			Name: name, Advertise: tr.LocalAddr(), Difficulty: difficulty,
			Timings: timings, Log: zerolog.Nop(),
		}
		if i == 0 {
			seed = tr.LocalAddr()
			cfg.Mine, cfg.MineGenesis, cfg.MineThreads = true, true, 1
		} else {
			cfg.Seeds = []netip.AddrPort{seed}
		}
		n, err := peer.New(cfg, tr, ch)
		if err != nil {
			lab.stop()
			t.Fatal(err)
		}
		lab.nodes = append(lab.nodes, n)
		lab.names = append(lab.names, name)
		wg.Go(func() { n.Run(ctx) })
	}
	return lab
}

// pageState is what the browser test reads off the page.
type pageState struct {
	Height   int      `json:"height"`
	Peers    []string `json:"peers"`
	Blocks   int      `json:"blocks"`
	Groups   int      `json:"groups"`
	Live     bool     `json:"live"`
	Visible  bool     `json:"visible"`
	HashRate string   `json:"hashRate"`
}

func readPage(node int) string {
	return fmt.Sprintf(`(() => {
		const i = %d;
		const h = document.getElementById("height-" + i);
		const rows = (sel) => Array.from(document.querySelectorAll(sel));
		const panel = document.getElementById("panel-" + i);
		return {
			height: h ? (parseInt(h.textContent, 10) || 0) : 0,
			peers: rows("#peers-" + i + " tbody tr[data-peer]").map((r) => r.dataset.peer),
			blocks: rows("#blocks-" + i + " tbody tr[data-height]").length,
			groups: rows("#groups-" + i + " tbody tr[data-height]").length,
			live: document.getElementById("conn").dataset.state === "live",
			visible: !!panel && !panel.hidden,
			hashRate: (document.getElementById("hashrate-" + i) || {}).textContent || "",
		};
	})()`, node)
}

// waitPage polls the page until ok holds or the context ends.
func waitPage(ctx context.Context, node int, ok func(pageState) bool) (pageState, error) {
	var last pageState
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage(node)))
		if err == nil {
			last = st
			if ok(st) {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("page state %+v: %w (last evaluate error: %v)", last, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	browser := findChromium()
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not installed, and CI must run the browser test: .ci/run installs it")
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}

	lab := startLab(t)
	defer lab.stop()
	sources := make([]Source, len(lab.nodes))
	for i, n := range lab.nodes {
		sources[i] = n
	}
	srv := httptest.NewServer(Handler(sources)) // listens on 127.0.0.1
	defer srv.Close()

	dir := t.TempDir()
	var browserOut bytes.Buffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(filepath.Join(dir, "chromium-profile")),
		chromedp.WindowSize(1366, 900),
		chromedp.CombinedOutput(&browserOut),
	)
	defer cancelAlloc()
	// Every step below is bounded by this; the browser belongs to ctx (the
	// context of its first action), so sub-steps use contexts derived from it.
	boundCtx, cancelBound := context.WithTimeout(allocCtx, 90*time.Second)
	defer cancelBound()
	ctx, cancelTab := chromedp.NewContext(boundCtx)
	defer cancelTab()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v\nbrowser output:\n%s", err, browserOut.String())
	}
	navCtx, cancelNav := context.WithTimeout(ctx, 20*time.Second)
	err := chromedp.Do(navCtx, chromedp.Navigate(srv.URL+"/#node-0"))
	cancelNav()
	if err != nil {
		t.Fatalf("open the page: %v", err)
	}

	// Node 0 (the seed) mines; the page shows its height, its blocks and
	// the other two nodes in its peers table.
	waitCtx, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	st, err := waitPage(waitCtx, 0, func(s pageState) bool {
		return s.Live && s.Visible && s.Height > 0 && s.Blocks > 0 &&
			slices.Contains(s.Peers, lab.names[1]) && slices.Contains(s.Peers, lab.names[2])
	})
	cancelWait()
	if err != nil {
		t.Fatalf("node 0 never showed a chain and its peers: %v", err)
	}
	t.Logf("node 0 on the page: %+v", st)

	// Switching to another node's tab shows its panel, and it syncs.
	if err := chromedp.Do(ctx, chromedp.Click("#tab-1")); err != nil {
		t.Fatalf("click tab 1: %v", err)
	}
	waitCtx, cancelWait = context.WithTimeout(ctx, 30*time.Second)
	st1, err := waitPage(waitCtx, 1, func(s pageState) bool {
		return s.Visible && s.Height > 0 && s.Blocks > 0 && slices.Contains(s.Peers, lab.names[0])
	})
	cancelWait()
	if err != nil {
		t.Fatalf("node 1's tab: %v", err)
	}
	t.Logf("node 1 on the page: %+v", st1)
	extra := ""
	if p := os.Getenv("BLOCKPEER_SCREENSHOT"); p != "" {
		extra = strings.TrimSuffix(p, filepath.Ext(p)) + "-node1.png"
	}
	shot(t, ctx, dir, "status-node1.png", extra)

	// Back to the seed for the screenshot people look at.
	if err := chromedp.Do(ctx, chromedp.Click("#tab-0")); err != nil {
		t.Fatalf("click tab 0: %v", err)
	}
	waitCtx, cancelWait = context.WithTimeout(ctx, 10*time.Second)
	_, err = waitPage(waitCtx, 0, func(s pageState) bool { return s.Visible && s.Blocks > 0 })
	cancelWait()
	if err != nil {
		t.Fatalf("back to node 0: %v", err)
	}
	shot(t, ctx, dir, "status.png", os.Getenv("BLOCKPEER_SCREENSHOT"))

	// A single node's page shows the network as it knows it: itself and
	// the peers it knows, with their chains.
	one := httptest.NewServer(Handler([]Source{lab.nodes[1]}))
	defer one.Close()
	navCtx, cancelNav = context.WithTimeout(ctx, 20*time.Second)
	err = chromedp.Do(navCtx, chromedp.Navigate(one.URL+"/"))
	cancelNav()
	if err != nil {
		t.Fatalf("open the single node's page: %v", err)
	}
	type graph struct {
		Own, Others, WithChain int
		Visible                bool
	}
	deadline := time.Now().Add(20 * time.Second)
	var g graph
	for {
		g, err = chromedp.Run(ctx, chromedp.Evaluate[graph](`(() => {
			const n = Array.from(document.querySelectorAll("#graph g.gnode"));
			const p = document.getElementById("panel-net");
			return { Own: n.filter((x) => x.classList.contains("lab")).length, Others: n.filter((x) => x.classList.contains("ext")).length,
				WithChain: n.filter((x) => Number(x.dataset.blocks) > 0).length, Visible: !!p && !p.hidden };
		})()`))
		if err == nil && g.Visible && g.Own == 1 && g.Others == 2 && g.WithChain == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("single node's network view: %+v (%v), want itself and its 2 peers, all with a chain", g, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shot saves a full-page PNG screenshot into dir and, if extra is set, there too.
func shot(t *testing.T, ctx context.Context, dir, name, extra string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) == 0 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	if extra != "" {
		if err := os.WriteFile(extra, png, 0o644); err != nil {
			t.Fatalf("BLOCKPEER_SCREENSHOT: %v", err)
		}
		t.Logf("screenshot also at %s", extra)
	}
}
