package lab_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	statuspage "blockpeer/status"
)

// chromium returns the path of a Chromium binary, or "".
func chromium() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// netPage is what the test reads off the network view.
type netPage struct {
	LabNodes  int      `json:"labNodes"`
	WithChain int      `json:"withChain"`
	Tips      []string `json:"tips"`    // distinct tips of the running lab nodes, as drawn
	Reached   int      `json:"reached"` // nodes the newest block's spread reached
	Marked    []string `json:"marked"`  // nodes drawn as liars or banned
	Down      []string `json:"down"`
	Legend    int      `json:"legend"`
	Feed      int      `json:"feed"`
	Controls  bool     `json:"controls"`
	Visible   bool     `json:"visible"`
	Overflow  int      `json:"overflow"` // how far the page scrolls sideways
	Strip     int      `json:"strip"`    // blocks drawn in the chain strip
}

const readNet = `(() => {
	const g = Array.from(document.querySelectorAll("#graph g.gnode"));
	const lab = g.filter((n) => n.classList.contains("lab"));
	const tips = new Set(lab.filter((n) => n.dataset.state === "up" && n.dataset.tip).map((n) => n.dataset.tip));
	const spread = document.getElementById("spread");
	const panel = document.getElementById("panel-net");
	return {
		labNodes: lab.length,
		withChain: lab.filter((n) => Number(n.dataset.blocks) > 0).length,
		tips: Array.from(tips),
		reached: spread ? Number(spread.dataset.reached || 0) : 0,
		marked: g.filter((n) => n.dataset.state === "liar" || n.dataset.state === "banned").map((n) => n.dataset.name),
		down: g.filter((n) => n.dataset.state === "down").map((n) => n.dataset.name),
		legend: document.querySelectorAll("#graph-legend .leg").length,
		feed: document.querySelectorAll("#feed li[data-kind]").length,
		controls: !!document.getElementById("ctl-partition") && !document.getElementById("controls-card").hidden,
		visible: !!panel && !panel.hidden,
		overflow: document.documentElement.scrollWidth - window.innerWidth,
		strip: document.querySelectorAll("#strip g.sblock").length,
	};
})()`

// waitNet polls the page until ok holds, for at most d.
func waitNet(t *testing.T, ctx context.Context, d time.Duration, what string, ok func(netPage) bool) netPage {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last netPage
	var lastErr error
	for {
		p, err := chromedp.Run(wctx, chromedp.Evaluate[netPage](readNet))
		if err == nil {
			last = p
			if ok(p) {
				return p
			}
		} else {
			lastErr = err
		}
		select {
		case <-wctx.Done():
			t.Fatalf("page: timed out after %v waiting for %s: last %+v (error %v)", d, what, last, lastErr)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// waitPage polls the page every 50 ms until the script cond is true, for
// at most d.
func waitPage(t *testing.T, ctx context.Context, d time.Duration, what, cond string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		ok, err := chromedp.Run(wctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		select {
		case <-wctx.Done():
			t.Fatalf("page: timed out after %v waiting for %s (error %v)", d, what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestLabPage drives the lab's page in Chromium: the network picture
// shows every node and a block's spread; a partition forks the tips as
// drawn and the heal joins them; a liar is marked; at 1024x768 nothing
// scrolls sideways. It saves screenshots at 1024x768 and 1400x1000 (into
// BLOCKPEER_SCREENSHOT_DIR too, when set, relative to the repository:
// docs keeps the README's).
func TestLabPage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	t.Parallel() // its lab mostly rests between blocks: the other labs run beside it
	browser := chromium()
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not installed, and CI must run the browser test")
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}
	cfg := testConfig(3, testDifficulty, newTestLog(t))
	cfg.BlockInterval = 600 * time.Millisecond
	cfg.Prefix = "lab-"
	r := startLab(t, cfg)
	srv := httptest.NewServer(statuspage.HandlerWith(nil, statuspage.Options{Nodes: func() []statuspage.Source {
		var out []statuspage.Source
		for _, s := range r.Sources() {
			out = append(out, s)
		}
		return out
	}, Lab: r.Handler()}))
	defer srv.Close()

	dir := t.TempDir()
	var browserOut bytes.Buffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("force-color-profile", "srgb"), chromedp.Flag("hide-scrollbars", false),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1024, 768), chromedp.CombinedOutput(&browserOut))
	defer cancelAlloc()
	bound, cancelBound := context.WithTimeout(allocCtx, 150*time.Second)
	defer cancelBound()
	ctx, cancelTab := chromedp.NewContext(bound)
	defer cancelTab()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768), chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("open the page: %v\nbrowser output:\n%s", err, browserOut.String())
	}

	p := waitNet(t, ctx, 40*time.Second, "every lab node drawn with a chain, and a block's spread to all", func(p netPage) bool {
		return p.Visible && p.LabNodes == 4 && p.WithChain == 4 && p.Reached == 4 && len(p.Tips) == 1 && p.Strip > 0 && p.Controls
	})
	t.Logf("network view: %+v", p)
	if p.Overflow > 0 {
		t.Errorf("the network view scrolls sideways by %d px at 1024x768", p.Overflow)
	}
	shot(t, ctx, dir, "lab-1024x768.png", 1024, 768, false)

	// Each node's detail is one click away, and fits too.
	if err := chromedp.Do(ctx, chromedp.Click("#tab-0")); err != nil {
		t.Fatal(err)
	}
	// A poll fills the tables: the overflow is measured with them full.
	waitPage(t, ctx, 10*time.Second, "the seed's peers and blocks tables filled", `!document.getElementById("panel-0").hidden &&
		document.querySelectorAll("#peers-0 tbody tr:not(.empty-row)").length > 0 &&
		document.querySelectorAll("#blocks-0 tbody tr[data-height]").length > 0`)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Errorf("the seed's detail scrolls sideways by %d px at 1024x768", overflow)
	}
	shot(t, ctx, dir, "lab-node-1024x768.png", 1024, 768, false)
	if err := chromedp.Do(ctx, chromedp.Click("#tab-net")); err != nil {
		t.Fatal(err)
	}

	// Partition: the drawn tips part; heal: they meet again.
	if err := chromedp.Do(ctx, chromedp.Click("#ctl-partition")); err != nil {
		t.Fatal(err)
	}
	p = waitNet(t, ctx, 30*time.Second, "two tips drawn after the partition", func(p netPage) bool { return len(p.Tips) == 2 && p.Legend >= 2 })
	t.Logf("partitioned: %+v", p)
	if err := chromedp.Do(ctx, chromedp.Click("#ctl-heal")); err != nil {
		t.Fatal(err)
	}
	p = waitNet(t, ctx, 40*time.Second, "one tip drawn after the heal", func(p netPage) bool { return len(p.Tips) == 1 && p.WithChain == 4 })
	t.Logf("healed: %+v", p)

	// A liar is marked.
	if err := chromedp.Do(ctx, chromedp.Click("#ctl-liar")); err != nil {
		t.Fatal(err)
	}
	p = waitNet(t, ctx, 40*time.Second, "the liar marked", func(p netPage) bool { return len(p.Marked) > 0 })
	t.Logf("liar: %+v", p)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 1000)); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, dir, "lab-1400x1000.png", 1400, 1000, true)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768)); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, dir, "lab.png", 1024, 768, true)

	// A stopped node shows down.
	if err := chromedp.Do(ctx, chromedp.SetValue("#ctl-stop-node", "lab-2"), chromedp.Click("#ctl-stop")); err != nil {
		t.Fatal(err)
	}
	p = waitNet(t, ctx, 20*time.Second, "lab-2 drawn down", func(p netPage) bool { return len(p.Down) == 1 && p.Down[0] == "lab-2" })
	if p.Overflow > 0 {
		t.Errorf("the network view scrolls sideways by %d px at 1024x768", p.Overflow)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#ctl-start")); err != nil {
		t.Fatal(err)
	}
	waitNet(t, ctx, 20*time.Second, "lab-2 back", func(p netPage) bool { return len(p.Down) == 0 })
}

// shot saves a screenshot of the viewport (w x h) into dir and, when
// publish is set, into BLOCKPEER_SCREENSHOT_DIR if it is set.
func shot(t *testing.T, ctx context.Context, dir, name string, w, h int, publish bool) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatal(err)
	}
	// The page is laid out at its size (CSS alone: no script measures it)
	// once two frames have been drawn since.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`,
		chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("wait for the page to be drawn: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	paths := []string{filepath.Join(dir, name)}
	if d := os.Getenv("BLOCKPEER_SCREENSHOT_DIR"); d != "" && publish {
		if !filepath.IsAbs(d) {
			d = filepath.Join("..", d) // relative to the repository, not to lab/ where the test runs
		}
		paths = append(paths, filepath.Join(d, name))
	}
	for _, p := range paths {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot %dx%d: %v (%d bytes)", w, h, paths, len(png))
}
