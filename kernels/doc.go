// Package kernels holds the CPU reference operations of the DiffuApriel
// forward pass (MODEL.md §2) and of its sampling head: plain Go, float32,
// row-major. Each function documents its exact math; the CUDA kernels
// (kernels/*.cu) implement the same definitions and are tested against these.
//
// Conventions: a matrix argument is a []float32 whose row t starts at
// t*stride (stride = row width when the argument says "contiguous"), so a
// kernel can read a column slice of a wider buffer (e.g. z, xBC and dt inside
// the in_proj output) without a copy. Sizes are trusted: a slice too short
// for its declared shape panics, as indexing does; callers validate user
// input before it reaches a kernel. "reverse" always means: process the
// sequence from its end, i.e. compute flip(op(flip(input))) without building
// flipped copies.
package kernels
