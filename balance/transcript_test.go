package balance

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestTranscripts replays the scenario transcripts in testdata/. Each file
// pins down one rule of HomaModule's GRO code (homa_offload.c, balance.txt); run
// `go test ./balance -run TestTranscripts -rewrite` to regenerate the
// expected output after an intended change, and read the diff.
//
// Commands:
//
//	init cores=N policy=P [busy=NS] [gro_busy=NS] [short_bypass=B] [grant_bypass=B] [same_core=B] [scan=K] [groups=G] [seed=S]
//	set core=C [last_gro=T] [last_active=T] [last_app=T] [backlog=K] [rotation=K]
//	gro core=C kind=data|whole|grant|control now=T
//	batch core=C n=N now=T [flow=H]
//	softirq-start core=C now=T
//	softirq-end core=C now=T
//	app core=C now=T
//	choose waiters=C,C,… now=T
//	state
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var b *Balancer
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			args := map[string]string{}
			for _, a := range d.CmdArgs {
				args[a.Key] = strings.Join(a.Vals, ",")
			}
			num := func(key string) int64 {
				v, ok := args[key]
				if !ok {
					d.Fatalf(t, "%s: missing %s=", d.Cmd, key)
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					d.Fatalf(t, "%s: %s=%q: %v", d.Cmd, key, v, err)
				}
				return n
			}
			if d.Cmd != "init" && b == nil {
				d.Fatalf(t, "%s before init", d.Cmd)
			}
			switch d.Cmd {
			case "init":
				o := DefaultOptions()
				for k, v := range args {
					var err error
					switch k {
					case "cores", "policy":
					case "busy":
						o.BusyNs, err = strconv.ParseInt(v, 10, 64)
					case "gro_busy":
						o.GROBusyNs, err = strconv.ParseInt(v, 10, 64)
					case "short_bypass":
						o.ShortBypass, err = strconv.ParseBool(v)
					case "grant_bypass":
						o.GrantBypass, err = strconv.ParseBool(v)
					case "same_core":
						o.SameCoreSingle, err = strconv.ParseBool(v)
					case "scan":
						o.ScanCores, err = strconv.Atoi(v)
					case "seed":
						o.HashSeed, err = strconv.ParseUint(v, 10, 64)
					case "groups":
						o.Gen3Groups, err = ParseGroups(strings.ReplaceAll(v, "/", ","))
					default:
						err = fmt.Errorf("unknown key")
					}
					if err != nil {
						return fmt.Sprintf("error: %s=%s: %v", k, v, err)
					}
				}
				tab, err := NewTable(int(num("cores")))
				if err != nil {
					return "error: " + err.Error()
				}
				nb, err := New(args["policy"], tab, o)
				if err != nil {
					return "error: " + err.Error()
				}
				b = nb
				return "ok"
			case "set":
				c := int(num("core"))
				s := b.Table().Core(c)
				for k, v := range args {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil && k != "core" {
						d.Fatalf(t, "set %s=%q: %v", k, v, err)
					}
					switch k {
					case "core":
					case "last_gro":
						s.LastGRO = n
					case "last_active":
						s.LastActive = n
					case "last_app":
						s.LastAppActive = n
					case "backlog":
						s.Backlog = int32(n)
					case "rotation":
						s.Rotation = int32(n)
					default:
						d.Fatalf(t, "set: unknown key %s", k)
					}
				}
				b.Table().SetCore(c, s)
				return ""
			case "gro":
				kinds := map[string]Kind{"data": Data, "whole": WholeData, "grant": Grant, "control": Control}
				k, ok := kinds[args["kind"]]
				if !ok {
					d.Fatalf(t, "gro: kind=%q", args["kind"])
				}
				if b.GROPacket(int(num("core")), k, num("now")) {
					return "inline"
				}
				return "batched"
			case "batch":
				var flow uint32
				if _, ok := args["flow"]; ok {
					flow = uint32(num("flow"))
				}
				return fmt.Sprintf("softirq core %d", b.SoftIRQCore(int(num("core")), flow, int(num("n")), num("now")))
			case "softirq-start":
				b.Table().SoftIRQStart(int(num("core")), num("now"))
				return ""
			case "softirq-end":
				b.Table().SoftIRQEnd(int(num("core")), num("now"))
				return ""
			case "app":
				b.Table().AppActive(int(num("core")), num("now"))
				return ""
			case "choose":
				var cores []int
				if args["waiters"] != "" {
					for _, s := range strings.Split(args["waiters"], ",") {
						c, err := strconv.Atoi(s)
						if err != nil {
							d.Fatalf(t, "choose: %v", err)
						}
						cores = append(cores, c)
					}
				}
				i := b.ChooseThread(cores, num("now"))
				if i < 0 {
					return "no waiter"
				}
				return fmt.Sprintf("waiter %d (core %d)", i, cores[i])
			case "state":
				var sb strings.Builder
				for c := 0; c < b.Table().NumCores(); c++ {
					s := b.Table().Core(c)
					if s == (CoreState{LastGRO: Never, LastActive: Never, LastAppActive: Never}) {
						continue
					}
					fmt.Fprintf(&sb, "core %d: last_gro=%s last_active=%s last_app=%s backlog=%d rotation=%d\n",
						c, ts(s.LastGRO), ts(s.LastActive), ts(s.LastAppActive), s.Backlog, s.Rotation)
				}
				return sb.String()
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

func ts(v int64) string {
	if v == Never {
		return "never"
	}
	return strconv.FormatInt(v, 10)
}
