package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Row is one line of the table: a figure of blockpeer's beside its limit
// measured in the same run, in the same unit.
type Row struct {
	Name      string  // what is measured
	Value     float64 // blockpeer's figure
	Unit      string  // "s", "blocks/s", "MB", ...
	Limit     float64 // the limit's figure; 0 when the row has none
	LimitName string  // what the limit is
	// LowerIsBetter marks figures that are times or costs: the ratio is
	// then how many times the limit blockpeer takes (1x is the floor).
	LowerIsBetter bool
	Target        string // the target, for people
	// Met is "ok" or "MISS" against Target, "" when the row has no target.
	Met  string
	Note string // more figures: spread, totals
}

// Ratio is Value/Limit, or 0 when the row has no limit.
func (r Row) Ratio() float64 {
	if r.Limit == 0 {
		return 0
	}
	return r.Value / r.Limit
}

// ratioText shows the ratio as "2.4x" (times the limit's time) or "85%"
// (share of the limit's rate).
func (r Row) ratioText() string {
	switch {
	case r.Limit == 0:
		return "-"
	case r.LowerIsBetter:
		return fmt.Sprintf("%.2fx", r.Ratio())
	default:
		return fmt.Sprintf("%.0f%%", 100*r.Ratio())
	}
}

func met(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

// Format writes rows as an aligned table.
func Format(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "row\tblockpeer\tlimit\tratio\ttarget\tmet\tlimit is\tnotes")
	for _, r := range rows {
		limit := "-"
		if r.Limit != 0 {
			limit = FormatValue(r.Limit, r.Unit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, FormatValue(r.Value, r.Unit), limit,
			r.ratioText(), dash(r.Target), dash(r.Met), dash(r.LimitName), r.Note)
	}
	return tw.Flush()
}

// FormatMarkdown writes rows as a Markdown table (for the README).
func FormatMarkdown(w io.Writer, rows []Row) error {
	fmt.Fprintln(w, "| row | blockpeer | limit | ratio | target | met | limit is |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		limit := "-"
		if r.Limit != 0 {
			limit = FormatValue(r.Limit, r.Unit)
		}
		if _, err := fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Name, FormatValue(r.Value, r.Unit), limit,
			r.ratioText(), dash(r.Target), dash(r.Met), dash(r.LimitName)); err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// FormatValue prints v with unit: times in s or ms, large rates with
// thousands separators or M.
func FormatValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case unit == "s" && v < 0.01:
		return fmt.Sprintf("%.2f ms", v*1000)
	case unit == "s" && v < 1:
		return fmt.Sprintf("%.0f ms", v*1000)
	case unit == "s":
		return fmt.Sprintf("%.2f s", v)
	case math.Abs(v) >= 10e6:
		return fmt.Sprintf("%.1f M%s", v/1e6, unit)
	case math.Abs(v) >= 1000:
		return thousands(int64(math.Round(v))) + " " + unit
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.0f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Machine describes this machine: cores, CPU model and Go version.
func Machine() string {
	return fmt.Sprintf("%d cores (GOMAXPROCS %d), %s, %s %s/%s", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// cpuModel reads the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// LoadAverage returns the first field of /proc/loadavg, or "?".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
