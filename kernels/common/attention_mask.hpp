#pragma once
// Which keys a query may attend to (docs/metrics.md, "Attention statistics").
// Plain C++: usable from host code and from nvcc alike.
namespace qk {

// Causal: j <= i. Full: every j (encoders). SlidingWindow: causal and i - j < window,
// the Hugging Face convention of Gemma 3 / Mistral sliding layers.
enum class AttentionMask { Causal, Full, SlidingWindow };

}  // namespace qk
