// Generic min/max for Go < 1.21, which lacks the builtins the seed calls.
package lem

type ordered interface {
	~int | ~int32 | ~int64 | ~float32 | ~float64
}

func min[T ordered](a, b T) T {
	if b < a {
		return b
	}
	return a
}

func max[T ordered](a, b T) T {
	if b > a {
		return b
	}
	return a
}
