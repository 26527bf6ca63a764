package engine

import (
	"fmt"
	"testing"

	"diffuapriel/models"
)

// BenchmarkCPUStep times one sampling step (forward + head at the masked
// positions, a third of the sequence) of the tiny preset per backbone at
// L = 1024.
func BenchmarkCPUStep(b *testing.B) {
	for _, backbone := range []string{models.BackboneMamba, models.BackboneHybrid, models.BackboneTransformer} {
		b.Run(backbone, func(b *testing.B) {
			cfg, err := models.Preset("tiny", backbone)
			if err != nil {
				b.Fatal(err)
			}
			cpu := NewCPU(0)
			if err := cpu.Load(models.RandomInit(cfg, 1), nil); err != nil {
				b.Fatal(err)
			}
			tokens := testTokens(cfg, 1024, 1)
			q := &HeadQuery{Temperature: 1, TopK: 50, TopP: 0.9, TopN: 5}
			for i, tok := range tokens {
				if int(tok) == cfg.MaskTokenID {
					q.Positions = append(q.Positions, int32(i))
					q.Uniform = append(q.Uniform, float32(i%13)/13)
				}
			}
			b.ReportMetric(float64(len(q.Positions)), "queried")
			for b.Loop() {
				if _, err := cpu.Sample(tokens, 1, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCPUForward240m times the forward pass of a 240m-sized mamba
// model (random weights) without the head, at L = 256 and 1024.
func BenchmarkCPUForward240m(b *testing.B) {
	cfg, err := models.Preset("240m", models.BackboneMamba)
	if err != nil {
		b.Fatal(err)
	}
	cpu := NewCPU(0)
	if err := cpu.Load(models.RandomInit(cfg, 1), nil); err != nil {
		b.Fatal(err)
	}
	for _, L := range []int{256, 1024} {
		b.Run(fmt.Sprint("L=", L), func(b *testing.B) {
			tokens := testTokens(cfg, L, 1)
			for b.Loop() {
				if _, err := cpu.forward(tokens, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
