package render

import (
	"strings"
	"testing"
)

func BenchmarkRepeatedKeySmallObjects(b *testing.B) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(`{"a":1,"b":2,"c":3},`, 1<<20/20), ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, fault := scanBody(body); fault != noFault {
			b.Fatal("repeat")
		}
	}
}
