package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// humanCount renders 1234567 as "1.2M".
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprintf("%d", n)
}

// humanBytes renders a byte count with binary units.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// millis renders a duration as milliseconds with sensible precision.
func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fms", ms)
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values as block heights scaled to their maximum.
func sparkline(values []time.Duration) string {
	var hi time.Duration
	for _, v := range values {
		hi = max(hi, v)
	}
	var sb strings.Builder
	for _, v := range values {
		i := 0
		if hi > 0 {
			i = int(float64(v) / float64(hi) * float64(len(sparkRunes)-1))
		}
		sb.WriteRune(sparkRunes[i])
	}
	return sb.String()
}

// truncate shortens s to width cells with an ellipsis.
func truncate(s string, width int) string {
	return ansi.Truncate(s, max(width, 1), "…")
}

// formatScore shows a probability or score with three decimals, switching
// to scientific notation for tiny magnitudes so they do not read as zero.
func formatScore(v float32) string {
	if v != 0 && v > -0.001 && v < 0.001 {
		return fmt.Sprintf("%.1e", v)
	}
	return fmt.Sprintf("%.3f", v)
}
