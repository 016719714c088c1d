package rx

import (
	"strconv"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus metrics of a server. They are read from the pipeline's own
// counters and histograms when scraped, so the hot paths pay nothing for
// them.
var (
	descInfo = prometheus.NewDesc("homalb_rx_info",
		"The pipeline: its policy and address (value 1).", []string{"policy", "addr"}, nil)
	descBusy = prometheus.NewDesc("homalb_rx_core_busy_seconds_total",
		"Wall time a logical core's threads spent working, by role (gro, softirq, app).", []string{"core", "role"}, nil)
	descPackets = prometheus.NewDesc("homalb_rx_core_packets_total",
		"Packets a logical core handled, by stage (gro: read by its GRO thread; softirq: protocol processing).", []string{"core", "stage"}, nil)
	descHandoff = prometheus.NewDesc("homalb_rx_handoff_latency_seconds",
		"Handoff latency: gro_to_softirq from a GRO batch's end to its SoftIRQ start on another core (by SoftIRQ core), softirq_to_app from a message's completion to its taking by a thread (by application core).",
		[]string{"handoff", "core"}, nil)
	descDrops = prometheus.NewDesc("homalb_rx_drops_total",
		"Packets (or messages: ready_full, timeout, response_timeout) dropped, by reason.", []string{"reason"}, nil)
	descKernelDrops = prometheus.NewDesc("homalb_rx_kernel_drops_total",
		"Datagrams the kernel dropped before the pipeline read them (socket buffers full), as SO_RXQ_OVFL reports them; absent where the platform does not.", nil, nil)
	descWithheld = prometheus.NewDesc("homalb_rx_replies_withheld_total",
		"RESENDs and BUSYs not sent because the RPC's client had neither proven its address nor paid for them in bytes.", nil, nil)
	descRPCs = prometheus.NewDesc("homalb_rx_rpcs_in_flight",
		"RPCs held: from a request's first packet until the client acknowledges the response.", nil, nil)
	descInflight = prometheus.NewDesc("homalb_rx_inflight_bytes",
		"Bytes held in the in-flight budget (requests, responses, a charge per RPC).", nil, nil)
	descGrantWait = prometheus.NewDesc("homalb_rx_grant_waiting",
		"Requests waiting for grants.", nil, nil)
	descMessages = prometheus.NewDesc("homalb_rx_messages_total",
		"Requests handed to application threads.", nil, nil)
	descMsgBytes = prometheus.NewDesc("homalb_rx_message_bytes_total",
		"Bytes of the requests handed to application threads.", nil, nil)
	descReplies = prometheus.NewDesc("homalb_rx_replies_total",
		"Responses sent, by outcome (ok, failed).", []string{"outcome"}, nil)
	descTransport = prometheus.NewDesc("homalb_rx_transport_packets_total",
		"Transport protocol packets, by kind and direction.", []string{"kind", "dir"}, nil)
)

// handoffBuckets are the upper bounds, in seconds, of the handoff latency
// histograms: 1 µs to 131 ms, doubling.
var handoffBuckets = func() []float64 {
	b := make([]float64, 18)
	for i := range b {
		b[i] = 1e-6 * float64(uint64(1)<<i)
	}
	return b
}()

// collector is a server's prometheus.Collector.
type collector struct{ s *Server }

// Collector returns a Prometheus collector of the server's telemetry:
// per-core busy time by role and packets by stage, handoff latency
// histograms, drops by reason, RPCs and bytes in flight, and the
// transport's packet counts. Register it with a prometheus.Registry.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descBusy, descPackets, descHandoff, descDrops, descKernelDrops, descWithheld, descRPCs,
		descInflight, descGrantWait, descMessages, descMsgBytes, descReplies, descTransport} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.Stats()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descInfo, 1, st.Policy, st.Addr)
	for _, k := range st.Cores {
		core := strconv.Itoa(k.Core)
		counter(descBusy, float64(k.GRONs)/1e9, core, "gro")
		counter(descBusy, float64(k.SoftIRQNs)/1e9, core, "softirq")
		counter(descBusy, float64(k.AppNs)/1e9, core, "app")
		counter(descPackets, float64(k.GROPackets), core, "gro")
		counter(descPackets, float64(k.SoftIRQPackets), core, "softirq")
	}
	for core := range s.l.cores {
		for _, h := range []struct {
			name string
			lat  *latencyHist
		}{{"gro_to_softirq", s.groHist[core]}, {"softirq_to_app", s.appHist[core]}} {
			n, sum, buckets := h.lat.buckets(handoffBuckets)
			ch <- prometheus.MustNewConstHistogram(descHandoff, n, sum, buckets, h.name, strconv.Itoa(core))
		}
	}
	for r, n := range st.Drops {
		counter(descDrops, float64(n), DropReason(r).String())
	}
	if st.KernelDropsKnown {
		counter(descKernelDrops, float64(st.KernelDrops))
	}
	t := &st.Transport
	counter(descWithheld, float64(t.Withheld))
	gauge(descRPCs, float64(t.RPCs))
	gauge(descInflight, float64(st.InflightBytes))
	gauge(descGrantWait, float64(t.GrantWaiting))
	counter(descMessages, float64(st.Messages))
	counter(descMsgBytes, float64(st.MessageBytes))
	counter(descReplies, float64(st.Replies), "ok")
	counter(descReplies, float64(st.ReplyErrors), "failed")
	for _, p := range []struct {
		kind, dir string
		n         uint64
	}{
		{"data", "out", t.DataSent}, {"retransmit", "out", t.Retransmitted}, {"retransmit", "in", t.RetransmitsReceived},
		{"grant", "out", t.GrantsSent}, {"grant", "in", t.GrantsReceived},
		{"resend", "out", t.ResendsSent}, {"resend", "in", t.ResendsReceived},
		{"busy", "out", t.BusySent}, {"unknown", "out", t.UnknownSent},
		{"ack", "out", t.AcksSent}, {"ack", "in", t.AcksReceived},
	} {
		counter(descTransport, float64(p.n), p.kind, p.dir)
	}
}

// buckets returns the histogram's count, sum (seconds, from bucket
// midpoints) and cumulative counts at the given upper bounds (seconds).
func (l *latencyHist) buckets(bounds []float64) (uint64, float64, map[float64]uint64) {
	l.mu.Lock()
	bars := l.h.Distribution()
	l.mu.Unlock()
	return cumulate(bars, bounds)
}

func cumulate(bars []hdr.Bar, bounds []float64) (uint64, float64, map[float64]uint64) {
	out := make(map[float64]uint64, len(bounds))
	var n uint64
	var sum float64
	i := 0
	for _, b := range bars {
		if b.Count == 0 {
			continue
		}
		v := float64(b.To) / 1e9
		for i < len(bounds) && v > bounds[i] {
			out[bounds[i]] = n
			i++
		}
		n += uint64(b.Count)
		sum += float64(b.Count) * float64(b.From+b.To) / 2 / 1e9
	}
	for ; i < len(bounds); i++ {
		out[bounds[i]] = n
	}
	return n, sum, out
}
