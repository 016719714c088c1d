package balance

import "testing"

// BenchmarkDecision measures one SoftIRQ-core decision per policy on the
// xl170 profile (20 cores) with a warm, varied table: the target is ≤ 25 ns
// and zero allocations.
func BenchmarkDecision(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			tab, _ := NewTable(20)
			o := DefaultOptions()
			o.Oracle = func(g, c int) int64 { return int64(c ^ g) }
			bal, err := New(name, tab, o)
			if err != nil {
				b.Fatal(err)
			}
			for c := 0; c < 20; c++ {
				tab.SetCore(c, CoreState{LastGRO: int64(c) * 7000, LastActive: int64(c) * 5000, LastAppActive: int64(c) * 11000, Backlog: int32(c % 2)})
			}
			b.ReportAllocs()
			b.ResetTimer()
			now := int64(1_000_000)
			for i := 0; i < b.N; i++ {
				g := (i & 3) * 2
				_ = bal.SoftIRQCore(g, uint32(i), 20, now)
				now += 50
			}
		})
	}
}

// BenchmarkGROPacket measures the per-packet GRO bookkeeping and bypass test.
func BenchmarkGROPacket(b *testing.B) {
	tab, _ := NewTable(20)
	bal, _ := New("gen2", tab, DefaultOptions())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bal.GROPacket(i&7, Kind(i&3), int64(i)*300)
	}
}

// BenchmarkChooseThread measures the thread chooser over three waiters.
func BenchmarkChooseThread(b *testing.B) {
	tab, _ := NewTable(20)
	waiters := []int{3, 7, 11}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tab.ChooseThread(waiters, DefaultBusyNs, int64(i)*100)
	}
}

// BenchmarkSteer measures the per-packet RSS steering of the policies that
// program the table, on c6525-100g's 48 cores with a packet every 120 ns (100
// Gbps): gen6's cost includes its rebalance every 200 µs, amortised.
func BenchmarkSteer(b *testing.B) {
	for _, name := range []string{"gen5", "gen6"} {
		b.Run(name, func(b *testing.B) {
			tab, _ := NewTable(48)
			bal, err := New(name, tab, DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			s := bal.RSS()
			b.ReportAllocs()
			now := int64(1_000_000)
			for i := 0; i < b.N; i++ {
				_ = s.Steer(int(Mix64(uint64(i&63))%RSSEntries), now)
				if i&15 == 0 {
					s.NAPIPollEnd(0, 16, 0, 16*850, now)
				}
				now += 120
			}
		})
	}
}

// BenchmarkChooseThreadAvoiding is BenchmarkChooseThread under gen6, whose
// chooser skips waiters on its active GRO cores.
func BenchmarkChooseThreadAvoiding(b *testing.B) {
	tab, _ := NewTable(20)
	bal, _ := New("gen6", tab, DefaultOptions())
	waiters := []int{2, 7, 11}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bal.ChooseThread(waiters, int64(i)*100)
	}
}
