package workload_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/homalb/homalb/workload"
)

func ExampleResolve() {
	// 90% of messages of 100 B, 10% of 1 MB, truncated at 500 KB.
	d, err := workload.Resolve("bimodal:100,1000000,0.9", workload.Options{MaxBytes: 500_000})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := rand.New(rand.NewPCG(1, 2)) // the caller owns the randomness
	fmt.Printf("%s: max %d B, mean %.1f B\n", d.Name(), d.Max(), d.Mean())
	fmt.Printf("one packet: %.0f%% of messages, %.2f%% of bytes\n", 100*d.CDF(1424), 100*d.BytesCDF(1424))
	fmt.Println(d.Sample(r) <= d.Max())
	// Output:
	// bimodal:100,1000000,0.9: max 500000 B, mean 50090.0 B
	// one packet: 90% of messages, 0.18% of bytes
	// true
}

func ExampleParseCDF() {
	const csv = `# three sizes
bytes,cumulative_fraction
100,0.5
1000,0.9
10000,1
`
	d, err := workload.ParseCDF("example.csv", strings.NewReader(csv), workload.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("mean %.1f B, median %d B, P95 %d B, buckets %v\n", d.Mean(), d.Quantile(0.5), d.Quantile(0.95), d.Buckets(0.25))

	_, err = workload.ParseCDF("bad.csv", strings.NewReader("bytes,cumulative_fraction\n100,0.5\n90,1\n"), workload.Options{})
	fmt.Println(err)
	// Output:
	// mean 1450.0 B, median 100 B, P95 10000 B, buckets [100 10000]
	// bad.csv:3: bytes 90 not above 100 of line 2: sizes must strictly increase
}
