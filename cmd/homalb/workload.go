package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/homalb/homalb/homa"
	"github.com/homalb/homalb/workload"
	"github.com/spf13/cobra"
)

// defaultMTUPayload is the payload of one packet at MTU 1500: 1500 minus the
// IPv4 (20 B) and Homa (56 B) headers.
const defaultMTUPayload = homa.PayloadMTU1500

func newWorkloadCmd() *cobra.Command {
	var (
		maxBytes   int
		mtuPayload int
		asJSON     bool
		list       bool
	)
	cmd := &cobra.Command{
		Use:   "workload [NAME]",
		Short: "Summarise a message-size distribution: w1..w5, a CDF file or a synthetic family",
		Long: `Summarise a message-size distribution: mean (before and after truncation),
percentiles, largest size, and the share of messages and of bytes that fit in
one packet. Without NAME, or with --list, list the names it accepts:

` + catalogText() + `
w1..w5 are the published tables, built into the program; $` + workload.EnvSearchPath + `
(a list of directories holding w1.csv..w5.csv) replaces them.`,
		Example: `  homalb workload w4
  homalb workload w5 --max-bytes -1 --json
  homalb workload lognormal:1000,1.5 --mtu-payload 2924`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list || len(args) == 0 {
				if len(args) > 0 {
					return badInput(errors.New("workload: --list takes no NAME"))
				}
				_, err := io.WriteString(out, catalogText())
				return err
			}
			if mtuPayload < 1 {
				return badInput(fmt.Errorf("workload: --mtu-payload %d: want a positive number of bytes", mtuPayload))
			}
			s, err := summarize(args[0], maxBytes, mtuPayload)
			if err != nil {
				return badInput(err)
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return s.writeText(out)
		},
	}
	f := cmd.Flags()
	f.IntVar(&maxBytes, "max-bytes", workload.DefaultMaxBytes, "truncate sizes above this many bytes (Homa's largest message); 0 = default, negative = no truncation")
	f.IntVar(&mtuPayload, "mtu-payload", defaultMTUPayload, "payload bytes per packet: a message of at most this many bytes is one packet")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	f.BoolVar(&list, "list", false, "list the built-in workloads and synthetic families")
	return cmd
}

// catalogText is the table of names that Resolve accepts.
func catalogText() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tDESCRIPTION")
	for _, e := range workload.Catalog() {
		fmt.Fprintf(w, "%s\t%s\n", e.Name, e.Help)
	}
	w.Flush()
	return b.String()
}

// workloadSummary is what `homalb workload` prints. Sizes are in bytes;
// fractions in [0, 1]. Every field but the untruncated ones describes the
// distribution after truncation at MaxBytes.
type workloadSummary struct {
	Name            string  `json:"name"`
	Source          string  `json:"source"`
	MaxBytes        int     `json:"max_bytes"`           // truncation as given; negative: none
	Truncated       bool    `json:"truncated"`           // whether truncation changes any size
	TruncatedMsgs   float64 `json:"truncated_msgs_frac"` // share of messages above MaxBytes before truncation
	Mean            float64 `json:"mean_bytes"`
	MeanUntruncated float64 `json:"mean_untruncated_bytes"`
	P50             int     `json:"p50_bytes"`
	P90             int     `json:"p90_bytes"`
	P99             int     `json:"p99_bytes"`
	P999            int     `json:"p999_bytes"`
	Max             int     `json:"max_size_bytes"`
	MaxUntruncated  int     `json:"max_untruncated_bytes"`
	MTUPayload      int     `json:"mtu_payload_bytes"`
	OnePacketMsgs   float64 `json:"one_packet_msgs_frac"`
	OnePacketBytes  float64 `json:"one_packet_bytes_frac"`
}

// summarize resolves spec with and without truncation and collects the
// summary.
func summarize(spec string, maxBytes, mtuPayload int) (*workloadSummary, error) {
	d, err := workload.Resolve(spec, workload.Options{MaxBytes: maxBytes})
	if err != nil {
		return nil, err
	}
	u, err := workload.Resolve(spec, workload.Options{MaxBytes: -1})
	if err != nil {
		return nil, err
	}
	if maxBytes == 0 {
		maxBytes = workload.DefaultMaxBytes
	}
	s := &workloadSummary{
		Name:            d.Name(),
		MaxBytes:        maxBytes,
		Truncated:       u.Max() > d.Max(),
		TruncatedMsgs:   1 - u.CDF(d.Max()),
		Mean:            d.Mean(),
		MeanUntruncated: u.Mean(),
		P50:             d.Quantile(0.5),
		P90:             d.Quantile(0.9),
		P99:             d.Quantile(0.99),
		P999:            d.Quantile(0.999),
		Max:             d.Max(),
		MaxUntruncated:  u.Max(),
		MTUPayload:      mtuPayload,
		OnePacketMsgs:   d.CDF(mtuPayload),
		OnePacketBytes:  d.BytesCDF(mtuPayload),
	}
	if desc, ok := d.(workload.Describer); ok {
		s.Source = desc.Describe()
	}
	return s, nil
}

func (s *workloadSummary) writeText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "workload\t%s\n", s.Name)
	fmt.Fprintf(w, "source\t%s\n", s.Source)
	switch {
	case s.MaxBytes < 0:
		fmt.Fprintf(w, "truncation\tnone\n")
	case s.Truncated:
		fmt.Fprintf(w, "truncation\tsizes above %s become %s: %s of messages\n", sizeText(s.MaxBytes), plainSize(s.MaxBytes), pct(s.TruncatedMsgs))
	default:
		fmt.Fprintf(w, "truncation\tat %s: no size is that large\n", sizeText(s.MaxBytes))
	}
	if um, m := meanText(s.MeanUntruncated), meanText(s.Mean); um != m {
		fmt.Fprintf(w, "mean\t%s untruncated; %s truncated at %s\n", um, m, plainSize(s.MaxBytes))
	} else {
		fmt.Fprintf(w, "mean\t%s\n", meanText(s.Mean))
	}
	for _, q := range []struct {
		name string
		v    int
	}{{"P50", s.P50}, {"P90", s.P90}, {"P99", s.P99}, {"P99.9", s.P999}} {
		fmt.Fprintf(w, "%s\t%s\n", q.name, sizeText(q.v))
	}
	if s.Truncated {
		fmt.Fprintf(w, "max\t%s; %s untruncated\n", sizeText(s.Max), sizeText(s.MaxUntruncated))
	} else {
		fmt.Fprintf(w, "max\t%s\n", sizeText(s.Max))
	}
	fmt.Fprintf(w, "one packet\t%s of messages, %s of bytes (size <= %s)\n", pct(s.OnePacketMsgs), pct(s.OnePacketBytes), plainSize(s.MTUPayload))
	return w.Flush()
}

// plainSize formats a size in bytes with thousands separators.
func plainSize(n int) string { return group(strconv.Itoa(n)) + " B" }

// sizeText formats a size in bytes with thousands separators, and in
// KB/MB/GB (powers of 1000, as the Homa papers use) from 10,000 B on.
func sizeText(n int) string {
	s := plainSize(n)
	if n >= 10_000 {
		s += " (" + si(float64(n)) + ")"
	}
	return s
}

// meanText formats a mean in bytes: whole bytes from 100 B on, else with
// two decimals.
func meanText(m float64) string {
	if m < 100 {
		return strconv.FormatFloat(m, 'f', 2, 64) + " B"
	}
	s := group(strconv.FormatFloat(math.Round(m), 'f', 0, 64)) + " B"
	if m >= 1000 {
		s += " (" + si(m) + ")"
	}
	return s
}

// si formats bytes with three significant digits in KB, MB, GB or TB.
func si(v float64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	i := 0
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	prec := 0
	switch {
	case v < 9.995:
		prec = 2
	case v < 99.95:
		prec = 1
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + units[i]
}

// group inserts thousands separators into a decimal integer.
func group(digits string) string {
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + "%" }
