package sim

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/homa"
)

// Config is everything a run needs; with the same Config (seed included) a
// run produces the same result. Every field has a dotted key (its yaml tags
// joined: "host.cores", "cost.gro_ns", …) that --set and YAML files use.
type Config struct {
	Policy   string  `yaml:"policy" json:"policy"`
	Workload string  `yaml:"workload" json:"workload"`
	Load     float64 `yaml:"load" json:"load"` // fraction of the link rate carried by arriving messages, (0,1]
	Seed     uint64  `yaml:"seed" json:"seed"`
	Profile  string  `yaml:"profile" json:"profile"`

	DurationNs int64 `yaml:"duration_ns" json:"duration_ns"` // measured simulated time, after warmup
	WarmupNs   int64 `yaml:"warmup_ns" json:"warmup_ns"`     // simulated time before measuring starts
	DrainNs    int64 `yaml:"drain_ns" json:"drain_ns"`       // at most this long after the measured window for its messages to finish

	Host    HostConfig    `yaml:"host" json:"host"`
	Cost    CostConfig    `yaml:"cost" json:"cost"`
	App     AppConfig     `yaml:"app" json:"app"`
	Traffic TrafficConfig `yaml:"traffic" json:"traffic"`
	Balance BalanceConfig `yaml:"balance" json:"balance"`
}

// HostConfig describes the receiving host.
type HostConfig struct {
	Cores       int     `yaml:"cores" json:"cores"`             // logical cores
	LinkGbps    float64 `yaml:"link_gbps" json:"link_gbps"`     // downlink rate
	MTUPayload  int     `yaml:"mtu_payload" json:"mtu_payload"` // message bytes per packet
	HeaderBytes int     `yaml:"header_bytes" json:"header_bytes"`
	// GROCores are the cores serving NIC channels, one channel each; empty
	// means the policy's deployment: Gen3's GRO cores for gen3 and gen4,
	// every core otherwise.
	GROCores  []int `yaml:"gro_cores,flow" json:"gro_cores"`
	RSSByPort bool  `yaml:"rss_by_port" json:"rss_by_port"` // RSS hashes the sender port too, not just the host
	// IPIBatching: the IPIs that hand batches to other cores wait until the
	// softirq run that made them ends (net_rx_action, Linux before Feb
	// 2024, perf#50); false: each goes out when its batch is handed off.
	IPIBatching bool `yaml:"ipi_batching" json:"ipi_batching"`
	// SameCoreBacklog: a batch steered to its own GRO core waits in that
	// core's backlog queue until the NAPI poll ends, as enqueue_to_backlog
	// does; false: it is processed at once, inside the poll.
	SameCoreBacklog bool `yaml:"same_core_backlog" json:"same_core_backlog"`
}

// CostConfig holds the time of every modelled step, in ns. Every cost may be 0.
type CostConfig struct {
	InterruptNs    int64   `yaml:"interrupt_ns" json:"interrupt_ns"`         // interrupt → first GRO call of a NAPI poll
	GRONs          int64   `yaml:"gro_ns" json:"gro_ns"`                     // driver + GRO per packet
	HandoffNs      int64   `yaml:"handoff_ns" json:"handoff_ns"`             // GRO → SoftIRQ on another core (IPI + wake)
	C1ExitNs       int64   `yaml:"c1_exit_ns" json:"c1_exit_ns"`             // added to a handoff whose target core is idle (C1 exit)
	IPNs           int64   `yaml:"ip_ns" json:"ip_ns"`                       // IP layer, once per batch (GRO hands a batch up as one skb chain)
	SoftIRQNs      int64   `yaml:"softirq_ns" json:"softirq_ns"`             // Homa's SoftIRQ per packet
	SoftIRQFirstNs int64   `yaml:"softirq_first_ns" json:"softirq_first_ns"` // extra for a message's first packet
	GrantNs        int64   `yaml:"grant_ns" json:"grant_ns"`                 // SoftIRQ of an incoming GRANT
	MigrateNs      int64   `yaml:"migrate_ns" json:"migrate_ns"`             // a packet whose message state was last touched on another core
	WakePollNs     int64   `yaml:"wake_poll_ns" json:"wake_poll_ns"`         // handing a message to a polling thread
	WakeSleepNs    int64   `yaml:"wake_sleep_ns" json:"wake_sleep_ns"`       // waking a sleeping thread
	RecvNs         int64   `yaml:"recv_ns" json:"recv_ns"`                   // receive system call, per handoff
	CopyNsPerKB    float64 `yaml:"copy_ns_per_kb" json:"copy_ns_per_kb"`     // copy to user, per 1024 bytes
	AppNs          int64   `yaml:"app_ns" json:"app_ns"`                     // service time per message, after its last byte
	SendNsPerKB    float64 `yaml:"send_ns_per_kb" json:"send_ns_per_kb"`     // copying a response from user space into packets, per 1024 bytes, on the thread
	XmitNs         int64   `yaml:"xmit_ns" json:"xmit_ns"`                   // transmitting one packet (Homa, IP, driver): a response's unscheduled packets, sent by its thread with BH off
}

// AppConfig describes the application threads that take messages.
type AppConfig struct {
	Threads     int     `yaml:"threads" json:"threads"`
	Cores       []int   `yaml:"cores,flow" json:"cores"` // cores the threads may run on; empty = all
	Sched       string  `yaml:"sched" json:"sched"`      // "pinned" or "linux"
	PollNs      int64   `yaml:"poll_ns" json:"poll_ns"`  // poll this long before sleeping
	MigrateFrac float64 `yaml:"migrate_frac" json:"migrate_frac"`
	CopyPackets int     `yaml:"copy_packets" json:"copy_packets"` // packets copied out per handoff (Homa: 20)
	// TimesliceNs is CFS's slice: a thread that runs this long while
	// another waits for its core yields to it; 0: threads run to completion.
	TimesliceNs int64 `yaml:"timeslice_ns" json:"timeslice_ns"`
}

// TrafficConfig describes the open-loop traffic arriving at the host.
type TrafficConfig struct {
	Senders       int   `yaml:"senders" json:"senders"`
	Ports         int   `yaml:"ports" json:"ports"` // ports per sender host
	UnschedBytes  int   `yaml:"unsched_bytes" json:"unsched_bytes"`
	GrantWindow   int   `yaml:"grant_window" json:"grant_window"` // bytes granted ahead of those received
	MaxOvercommit int   `yaml:"max_overcommit" json:"max_overcommit"`
	RTTNs         int64 `yaml:"rtt_ns" json:"rtt_ns"` // a grant's effect reaches the receiver this long after it is sent
	Responses     bool  `yaml:"responses" json:"responses"`
	MaxMessage    int   `yaml:"max_message" json:"max_message"` // longer workload samples are truncated
	// GrantPkts is the scheduled packets of a response per GRANT that comes
	// back for it: the client grants once per RPC per batch, so one GRANT
	// covers about one client batch. 1: a GRANT per packet.
	GrantPkts int `yaml:"grant_pkts" json:"grant_pkts"`
}

// BalanceConfig holds the balancer's options.
type BalanceConfig struct {
	BusyNs      int64  `yaml:"busy_ns" json:"busy_ns"`
	GROBusyNs   int64  `yaml:"gro_busy_ns" json:"gro_busy_ns"` // −1: as deployed (gen2 0, gen3 2 µs, else the module's 5 µs)
	MaxGRO      int    `yaml:"max_gro" json:"max_gro"`
	NAPIBudget  int    `yaml:"napi_budget" json:"napi_budget"`
	ShortBypass bool   `yaml:"short_bypass" json:"short_bypass"`
	FastGrants  bool   `yaml:"fast_grants" json:"fast_grants"`
	SameCore    bool   `yaml:"same_core" json:"same_core"`
	ScanCores   int    `yaml:"scan_cores" json:"scan_cores"`
	Gen3Groups  string `yaml:"gen3_groups" json:"gen3_groups"` // "GRO:C,C,C;…"; empty = deployed layout
	DeferNs     int64  `yaml:"defer_ns" json:"defer_ns"`       // softirq run longer than this is deferred to ksoftirqd
	SliceNs     int64  `yaml:"slice_ns" json:"slice_ns"`       // how long deferred softirq work waits for an app thread
	// Restarts is __do_softirq's MAX_SOFTIRQ_RESTART: after this many
	// restarts of net_rx_action in one run (one each time it spends
	// NetdevBudget packets), the rest of the work goes to ksoftirqd; 0: no
	// limit.
	Restarts     int `yaml:"restarts" json:"restarts"`
	NetdevBudget int `yaml:"netdev_budget" json:"netdev_budget"` // packets per net_rx_action (Linux netdev_budget)
	// DeferOnResched: a softirq run also stops, leaving the rest to
	// ksoftirqd, when a thread woken onto its core needs it (need_resched).
	DeferOnResched bool `yaml:"defer_on_resched" json:"defer_on_resched"`
	// GROBusyAtEntry: the GRO busy test runs when homa_gro_receive starts
	// and last_gro is stored when it ends, after an inline SoftIRQ, as in
	// HomaModule; false: both at the end of the GRO step.
	GROBusyAtEntry bool `yaml:"gro_busy_at_entry" json:"gro_busy_at_entry"`
	// RPCLock: SoftIRQ work on a message holds its RPC lock, so one core at a
	// time works on a message; a core that finds it held spins. The
	// application takes the lock to start each copy (SoftIRQ yields it
	// between packets, APP_NEEDS_LOCK) and copies without it.
	RPCLock bool `yaml:"rpc_lock" json:"rpc_lock"`
}

// Profiles returns the names of the calibrated machines (docs/model.md), a
// fresh slice each time.
func Profiles() []string { return []string{"xl170", "c6525-100g"} }

// MaxRunNs bounds the simulated time of one run (warmup + duration + drain):
// a minute, tens of minutes of wall time on the larger host. Longer runs
// are refused up front instead of exhausting memory or running for days.
const MaxRunNs = 60 * int64(time.Second)

// DefaultConfig returns the default scenario (xl170, W4, 80% load, gen3) as
// calibrated in docs/model.md.
func DefaultConfig() Config {
	c, _ := ProfileConfig("xl170")
	return c
}

// ProfileConfig returns the default scenario on a named machine profile.
func ProfileConfig(profile string) (Config, error) {
	c := Config{
		Policy: "gen3", Workload: "w4", Load: 0.8, Seed: 1, Profile: profile, // gen3: Homa's current balancer, as serve

		DurationNs: 500 * int64(time.Millisecond), WarmupNs: 10 * int64(time.Millisecond), DrainNs: 20 * int64(time.Millisecond),
		Host: HostConfig{Cores: 20, LinkGbps: 25, MTUPayload: homa.PayloadMTU1500, HeaderBytes: homa.HeaderBytes, SameCoreBacklog: true},
		Cost: CostConfig{
			InterruptNs: 850, GRONs: 300, HandoffNs: 2000, IPNs: 350, SoftIRQNs: 300, SoftIRQFirstNs: 400, GrantNs: 500,
			MigrateNs: 400, WakePollNs: 200, WakeSleepNs: 2000, RecvNs: 430, CopyNsPerKB: 200, AppNs: 1000, SendNsPerKB: 200, XmitNs: 1000, C1ExitNs: 2000,
		},
		App: AppConfig{Threads: 21, Sched: "linux", PollNs: int64(homa.Poll), MigrateFrac: 0.5,
			CopyPackets: homa.CopyPackets, TimesliceNs: 3_000_000},
		Traffic: TrafficConfig{Senders: 39, Ports: 3, UnschedBytes: homa.UnschedBytes, GrantWindow: homa.UnschedBytes,
			MaxOvercommit: homa.MaxOvercommit, RTTNs: 8000, Responses: true, MaxMessage: homa.MaxMessageLength, GrantPkts: 4},
		Balance: BalanceConfig{BusyNs: balance.DefaultBusyNs, GROBusyNs: -1, MaxGRO: homa.MaxGROSkbs,
			NAPIBudget: homa.NAPIBudget, ShortBypass: true, FastGrants: true, SameCore: true, ScanCores: balance.DefaultScanCores,
			DeferNs: int64(homa.MaxSoftirqTime), SliceNs: 6_000_000, Restarts: homa.MaxSoftirqRestarts,
			NetdevBudget: homa.NetdevBudget, DeferOnResched: true, GROBusyAtEntry: true, RPCLock: true},
	}
	switch profile {
	case "xl170":
	case "c6525-100g":
		// Homa ran this machine with 9000-byte jumbo frames (perf#36,
		// perf#40), and its per-packet GRO cost (0.85 µs, perf#40) is for
		// those; a 100 B round trip is slower than xl170's by 0.9 µs of IP
		// stack and driver and 0.6 µs of thread wake-up per direction
		// (perf#47).
		c.Host.Cores, c.Host.LinkGbps = 48, 100
		c.Host.MTUPayload = homa.PayloadMTU9000
		c.Cost.GRONs = 850
		c.Cost.InterruptNs += 200
		c.Cost.IPNs += 150
		c.Cost.WakePollNs += 600
		c.Cost.WakeSleepNs += 600
		c.Cost.HandoffNs += 600
		c.App.Threads = 49
	default:
		return Config{}, fmt.Errorf("unknown profile %q (known: %s)", profile, strings.Join(Profiles(), ", "))
	}
	return c, nil
}

// Validate reports the first setting that cannot be simulated.
func (c *Config) Validate() error {
	if _, err := balance.Lookup(c.Policy); err != nil {
		return err
	}
	h := c.Host
	switch {
	case !(c.Load > 0 && c.Load <= 1):
		return fmt.Errorf("load %v outside (0,1]", c.Load)
	case c.DurationNs <= 0:
		return fmt.Errorf("duration %v must be positive", time.Duration(c.DurationNs))
	case c.WarmupNs < 0 || c.DrainNs < 0:
		return fmt.Errorf("warmup and drain must not be negative")
	case c.DurationNs > MaxRunNs || c.WarmupNs > MaxRunNs || c.DrainNs > MaxRunNs || c.WarmupNs+c.DurationNs+c.DrainNs > MaxRunNs:
		return fmt.Errorf("warmup %v + duration %v + drain %v: at most %v of simulated time per run; shorten it, or run more seeds",
			time.Duration(c.WarmupNs), time.Duration(c.DurationNs), time.Duration(c.DrainNs), time.Duration(MaxRunNs))
	case h.Cores <= 0 || h.Cores > maxCores:
		return fmt.Errorf("host.cores %d outside 1..%d", h.Cores, maxCores)
	case !(h.LinkGbps > 0):
		return fmt.Errorf("host.link_gbps %v must be positive", h.LinkGbps)
	case h.MTUPayload <= 0 || h.HeaderBytes < 0:
		return fmt.Errorf("host.mtu_payload must be positive and host.header_bytes not negative")
	case c.App.Threads <= 0:
		return fmt.Errorf("app.threads %d must be positive", c.App.Threads)
	case c.App.Sched != "pinned" && c.App.Sched != "linux":
		return fmt.Errorf("app.sched %q: want pinned or linux", c.App.Sched)
	case c.App.PollNs < 0 || c.App.MigrateFrac < 0 || c.App.MigrateFrac > 1:
		return fmt.Errorf("app.poll_ns must not be negative and app.migrate_frac must be in [0,1]")
	case c.App.CopyPackets <= 0:
		return fmt.Errorf("app.copy_packets must be positive")
	case c.Traffic.Senders <= 0 || c.Traffic.Ports <= 0:
		return fmt.Errorf("traffic.senders and traffic.ports must be positive")
	case c.Traffic.UnschedBytes <= 0 || c.Traffic.GrantWindow <= 0 || c.Traffic.MaxOvercommit <= 0:
		return fmt.Errorf("traffic.unsched_bytes, traffic.grant_window and traffic.max_overcommit must be positive")
	case c.Traffic.RTTNs < 0:
		return fmt.Errorf("traffic.rtt_ns must not be negative")
	case c.Traffic.MaxMessage <= 0 || c.Traffic.MaxMessage > maxMessage:
		return fmt.Errorf("traffic.max_message %d outside 1..%d", c.Traffic.MaxMessage, maxMessage)
	case c.Balance.MaxGRO <= 0 || c.Balance.NAPIBudget <= 0:
		return fmt.Errorf("balance.max_gro and balance.napi_budget must be positive")
	case c.Balance.BusyNs < 0 || c.Balance.GROBusyNs < 0 && c.Balance.GROBusyNs != -1 || c.Balance.DeferNs <= 0 || c.Balance.SliceNs < 0:
		return fmt.Errorf("balance windows must not be negative (gro_busy_ns may be -1: as deployed; defer_ns must be positive)")
	case c.Balance.Restarts < 0:
		return fmt.Errorf("balance.restarts %d must not be negative (0: no limit)", c.Balance.Restarts)
	case c.Balance.NetdevBudget <= 0:
		return fmt.Errorf("balance.netdev_budget %d must be positive (Linux: 300)", c.Balance.NetdevBudget)
	case c.App.TimesliceNs < 0:
		return fmt.Errorf("app.timeslice_ns %v must not be negative (0: no time slicing)", time.Duration(c.App.TimesliceNs))
	case c.Traffic.GrantPkts <= 0:
		return fmt.Errorf("traffic.grant_pkts %d must be positive (1: a GRANT per response packet)", c.Traffic.GrantPkts)
	}
	if err := balance.CheckCores("host.gro_cores", h.GROCores, h.Cores); err != nil {
		return err
	}
	if err := balance.CheckCores("app.cores", c.App.Cores, h.Cores); err != nil {
		return err
	}
	v := reflect.ValueOf(c.Cost)
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.CanInt() && f.Int() < 0 || f.CanFloat() && f.Float() < 0 {
			return fmt.Errorf("cost.%s must not be negative", yamlName(v.Type().Field(i)))
		}
	}
	o, err := c.balanceOptions()
	if err != nil {
		return err
	}
	tab, err := balance.NewTable(h.Cores)
	if err != nil {
		return err
	}
	_, err = balance.New(c.Policy, tab, o) // the policy's own checks (gen3's layout)
	return err
}

// balanceOptions converts the balance section into the policy's options.
func (c *Config) balanceOptions() (balance.Options, error) {
	o := balance.DefaultOptions()
	o.BusyNs = c.Balance.BusyNs
	o.GROBusyNs = c.Balance.GROBusyNs // −1 is balance.GROBusyAsDeployed: the policy resolves it
	o.ShortBypass = c.Balance.ShortBypass
	o.GrantBypass = c.Balance.FastGrants
	o.SameCoreSingle = c.Balance.SameCore
	o.ScanCores = c.Balance.ScanCores
	o.HashSeed = c.Seed
	if len(c.Host.GROCores) > 0 {
		o.GROCores = c.Host.GROCores
	}
	// The oracle's knowledge comes from the running host (newHost sets it);
	// for validation any function will do.
	o.Oracle = func(int, int) int64 { return 0 }
	if c.Balance.Gen3Groups != "" {
		g, err := balance.ParseGroups(c.Balance.Gen3Groups)
		if err != nil {
			return o, fmt.Errorf("balance.gen3_groups: %w", err)
		}
		o.Gen3Groups = g
	}
	if err := o.Validate(c.Host.Cores); err != nil {
		return o, fmt.Errorf("balance: %w", err)
	}
	return o, nil
}

// Deployment returns the policy's deployment on this host, with the
// configuration's overrides applied: host.gro_cores, balance.gro_busy_ns
// (−1: as the policy was deployed). It is balance.Deploy, the one rule both
// drivers use.
func (c *Config) Deployment() (balance.Deployment, error) {
	o := balance.DefaultOptions()
	if c.Balance.Gen3Groups != "" {
		g, err := balance.ParseGroups(c.Balance.Gen3Groups)
		if err != nil {
			return balance.Deployment{}, fmt.Errorf("balance.gen3_groups: %w", err)
		}
		o.Gen3Groups = g
	}
	o.GROCores = c.Host.GROCores
	o.GROBusyNs = balance.GROBusyAsDeployed
	if c.Balance.GROBusyNs >= 0 {
		o.GROBusyNs = c.Balance.GROBusyNs
	}
	return balance.Deploy(c.Policy, c.Host.Cores, o)
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// Keys lists every configuration key in dotted form, sorted.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := prefix + yamlName(f)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, name+".")
				continue
			}
			keys = append(keys, name)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(keys)
	return keys
}

// Set overrides one configuration key, written "section.name", with a value
// in the syntax of the command line: numbers, true/false, durations for
// *_ns keys ("50ms" or plain ns), and comma-separated lists of cores.
func (c *Config) Set(key, value string) error {
	f, ok := field(reflect.ValueOf(c).Elem(), strings.Split(key, "."))
	if !ok {
		return fmt.Errorf("unknown configuration key %q (see --print-config for the keys)", key)
	}
	value = strings.TrimSpace(value)
	bad := func(err error) error { return fmt.Errorf("%s=%q: %v", key, value, err) }
	switch f.Kind() {
	case reflect.String:
		f.SetString(value)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return bad(fmt.Errorf("want true or false"))
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		if strings.HasSuffix(key, "_ns") {
			if d, err := time.ParseDuration(value); err == nil {
				f.SetInt(int64(d))
				return nil
			}
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return bad(fmt.Errorf("want an integer"))
		}
		f.SetInt(n)
	case reflect.Uint64:
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return bad(fmt.Errorf("want a non-negative integer"))
		}
		f.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return bad(fmt.Errorf("want a number"))
		}
		f.SetFloat(x)
	case reflect.Slice:
		var list []int
		// "[0,2]" as --print-config shows a list, or "0,2".
		if strings.HasPrefix(value, "[") != strings.HasSuffix(value, "]") {
			return bad(fmt.Errorf("unbalanced brackets: want a comma-separated list of core ids, optionally in brackets"))
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(value, "["), "]")
		for _, s := range strings.Split(inner, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return bad(fmt.Errorf("want a comma-separated list of core ids"))
			}
			list = append(list, n)
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("key %q cannot be set", key)
	}
	return nil
}

func field(v reflect.Value, path []string) (reflect.Value, bool) {
	for _, p := range path {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		found := false
		for i := 0; i < v.NumField(); i++ {
			if yamlName(v.Type().Field(i)) == p {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
	return v, v.Kind() != reflect.Struct
}

// LoadYAML overlays a YAML document on c. Unknown keys are errors, so a typo
// never silently runs the default.
func (c *Config) LoadYAML(data []byte) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if err.Error() == "EOF" {
			return nil
		}
		return err
	}
	return nil
}

// YAML renders c as a YAML document that LoadYAML reads back.
func (c *Config) YAML() []byte {
	out, err := yaml.Marshal(c)
	if err != nil {
		panic(err) // a Config always marshals
	}
	return out
}

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }
