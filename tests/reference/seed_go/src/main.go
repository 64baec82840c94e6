// seed_bo runs the seed's AnalyseAttention on a raw snapshot and prints JSON.
//
//	seed_bo FILE LAYERS HEADS SEQ HEAD_DIM
//
// FILE holds LAYERS*HEADS*SEQ*HEAD_DIM little-endian float32 values, row-major.
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"

	"qkseed/inference"
	"qkseed/lem"
)

type output struct {
	*lem.BOResult
	Composite int       `json:"composite"`
	Features  []float64 `json:"features"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "seed_bo: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	if len(os.Args) != 6 {
		fail("usage: seed_bo FILE LAYERS HEADS SEQ HEAD_DIM")
	}
	var dims [4]int
	for i := range dims {
		v, err := strconv.Atoi(os.Args[2+i])
		if err != nil || v < 0 {
			fail("bad dimension %q", os.Args[2+i])
		}
		dims[i] = v
	}
	layers, heads, seq, dim := dims[0], dims[1], dims[2], dims[3]
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	if len(raw) != layers*heads*seq*dim*4 {
		fail("%s: %d bytes, expected %d", os.Args[1], len(raw), layers*heads*seq*dim*4)
	}
	keys := make([][][]float32, layers)
	off := 0
	for l := range keys {
		keys[l] = make([][]float32, heads)
		for h := range keys[l] {
			flat := make([]float32, seq*dim)
			for i := range flat {
				flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[off:]))
				off += 4
			}
			keys[l][h] = flat
		}
	}
	snap := &inference.AttentionSnapshot{
		NumLayers: layers, NumHeads: heads, SeqLen: seq, HeadDim: dim, Keys: keys,
	}
	r := lem.AnalyseAttention(snap)
	out := output{BOResult: r, Composite: r.Composite(), Features: lem.AttentionFeatures(r)}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail("%v", err)
	}
}
