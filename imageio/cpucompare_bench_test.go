package imageio

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// cpuCompareJPEGs reads the JPEGs that scripts/cpu/ref_bench.py wrote for
// the CPU comparison (manifest.json in $CPUCOMPARE_INPUTS) so that PIL and
// this package decode the same bytes; the benchmark skips when it is unset.
func cpuCompareJPEGs(b *testing.B) []struct {
	Name string
	Data []byte
} {
	dir := os.Getenv("CPUCOMPARE_INPUTS")
	if dir == "" {
		b.Skip("CPUCOMPARE_INPUTS not set (scripts/cpu/bench.sh sets it)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		b.Fatal(err)
	}
	var m struct {
		JPEG []struct{ Name, File string } `json:"jpeg"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatalf("%s/manifest.json: %v", dir, err)
	}
	var out []struct {
		Name string
		Data []byte
	}
	for _, j := range m.JPEG {
		data, err := os.ReadFile(filepath.Join(dir, j.File))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, struct {
			Name string
			Data []byte
		}{j.Name, data})
	}
	return out
}

// BenchmarkCPUCompareDecode decodes each comparison JPEG to RGB (one image
// per op): the work of PIL's Image.open(...).convert("RGB").
func BenchmarkCPUCompareDecode(b *testing.B) {
	for _, j := range cpuCompareJPEGs(b) {
		b.Run(j.Name, func(b *testing.B) {
			runBench(b, func() {
				if _, err := DecodeBytes(j.Data, j.Name); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkCPUCompareSiglip384 runs the SigLIP processor (PIL-exact bicubic
// resize to 384×384, rescale, normalise, CHW float32) on each decoded
// comparison image; decoding is outside the timing.
func BenchmarkCPUCompareSiglip384(b *testing.B) {
	for _, j := range cpuCompareJPEGs(b) {
		b.Run(j.Name, func(b *testing.B) {
			img, err := DecodeBytes(j.Data, j.Name)
			if err != nil {
				b.Fatal(err)
			}
			runBench(b, func() { _ = SiglipPixels(img, 384) })
		})
	}
}
