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
