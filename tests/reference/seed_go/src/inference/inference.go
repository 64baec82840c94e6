// Package inference is a local stand-in for forge.lthn.ai/core/go-inference,
// holding only what the seed's attention.go reads.
package inference

// AttentionSnapshot holds the post-RoPE K vectors of one prefill.
// Keys[layer][head] is a flat [SeqLen*HeadDim] slice.
type AttentionSnapshot struct {
	NumLayers int
	NumHeads  int
	SeqLen    int
	HeadDim   int
	Keys      [][][]float32
}
