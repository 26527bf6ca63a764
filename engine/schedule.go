package engine

import (
	"fmt"
	"math"

	"diffuapriel/models"
)

// Schedule is a noise schedule: Alpha(t) is the probability that a token is
// still unmasked at time t in [0, 1] (MODEL.md §4); sigma(t) = -ln Alpha(t)
// is what the denoiser is conditioned on.
type Schedule struct {
	Name  string
	alpha func(t float64) float64
}

// ScheduleNames lists the schedules in the order the UI cycles through them.
var ScheduleNames = []string{"loglinear", "linear", "cosine", "cosine2", "geometric"}

// Defaults for the schedules whose parameters MODEL.md leaves open
// (docs/model.md §4 fixes them).
const (
	defaultSigmaMin = 1e-4
	defaultSigmaMax = 20
)

// NewSchedule builds a named schedule using the model's noise settings for
// eps and, for linear and geometric, sigma_min and sigma_max.
func NewSchedule(name string, noise models.NoiseConfig) (Schedule, error) {
	eps := noise.Eps
	lo, hi := noise.SigmaMin, noise.SigmaMax
	if lo <= 0 {
		lo = defaultSigmaMin
	}
	if hi <= 0 {
		hi = defaultSigmaMax
	}
	var f func(t float64) float64
	switch name {
	case "loglinear":
		f = func(t float64) float64 { return 1 - (1-eps)*t }
	case "linear":
		f = func(t float64) float64 { return math.Exp(-(lo + t*(hi-lo))) }
	case "cosine":
		f = func(t float64) float64 { return eps + (1-eps)*math.Cos(math.Pi*t/2) }
	case "cosine2":
		f = func(t float64) float64 { c := math.Cos(math.Pi * t / 2); return eps + (1-eps)*c*c }
	case "geometric":
		f = func(t float64) float64 { return math.Exp(-(math.Pow(lo, 1-t) * math.Pow(hi, t))) }
	default:
		return Schedule{}, fmt.Errorf("unknown schedule %q (want loglinear, linear, cosine, cosine2 or geometric)", name)
	}
	return Schedule{Name: name, alpha: f}, nil
}

// Alpha is the keep probability at time t.
func (s Schedule) Alpha(t float64) float64 { return s.alpha(t) }

// Sigma is -ln Alpha(t), clamped at 0 so rounding never yields a negative level.
func (s Schedule) Sigma(t float64) float64 { return math.Max(0, -math.Log(s.alpha(t))) }

// RevealFraction is the probability that a position masked at time t is
// unmasked by time s < t: (alpha(s) - alpha(t)) / (1 - alpha(t)).
func (s Schedule) RevealFraction(t, sNext float64) float64 {
	at, as := s.alpha(t), s.alpha(sNext)
	if at >= 1 {
		return 1
	}
	return math.Min(1, math.Max(0, (as-at)/(1-at)))
}

// SamplingEps is where the sampling walk ends (MODEL.md §4).
const SamplingEps = 1e-5

// TimeGrid returns t_k = 1 - k (1 - eps) / n for k = 0..n.
func TimeGrid(n int) []float64 {
	ts := make([]float64, n+1)
	for k := range ts {
		ts[k] = 1 - float64(k)*(1-SamplingEps)/float64(n)
	}
	return ts
}
